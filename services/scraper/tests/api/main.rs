//! Scraper integration tests against the demo site, a fresh PostgreSQL
//! database and a private Redis per test.

mod helpers;

mod api;
mod changes;
mod egress;
mod exports;
mod faults;
mod outages;
mod people_registry;
mod pipeline;
mod reconcile;
mod relations;
mod robots;
mod second_source;
mod shards;

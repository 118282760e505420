//! Gleaner app service: scrape jobs and runs (docs/app.md) with a scheduler outside a
//! cluster, run progress as Server-Sent Events, watchlists and change notifications fed by
//! the scraper's events, and webhooks that push those notifications to users' endpoints.

pub mod config;
pub mod events;
pub mod jobs;
pub mod routes;
pub mod runs;
pub mod scraper;
pub mod service_auth;
pub mod startup;
pub mod state;
pub mod watchlist;
pub mod webhooks;

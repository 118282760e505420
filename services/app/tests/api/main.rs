//! The app service's API against real PostgreSQL and Redis, with the scraper faked over HTTP.

mod events;
mod faults;
mod helpers;
mod jobs;
mod ops;
mod runs;
mod watchlist;
mod webhooks;

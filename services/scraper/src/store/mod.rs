//! Everything the scraper keeps in PostgreSQL.

pub mod changes;
pub mod companies;
pub mod raw;
pub mod reconcile;
pub mod relations;
pub mod runs;

/// Outbox table of this service.
pub const OUTBOX_TABLE: &str = "scraper_outbox";

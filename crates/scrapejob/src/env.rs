//! Names of the environment variables a run (`scraper run`) reads; the operator sets them
//! on every run's pod.

/// The ScrapeJob spec as JSON (camelCase).
pub const SCRAPEJOB_SPEC: &str = "SCRAPEJOB_SPEC";
/// The ScrapeJob's name.
pub const SCRAPEJOB_NAME: &str = "SCRAPEJOB_NAME";
/// The ScrapeJob's namespace.
pub const SCRAPEJOB_NAMESPACE: &str = "SCRAPEJOB_NAMESPACE";
/// The run id; every shard of one run gets the same one, and a known id resumes its run.
pub const SCRAPE_RUN_ID: &str = "SCRAPE_RUN_ID";
/// How many shards the run has (`spec.shards`).
pub const SCRAPE_SHARDS: &str = "SCRAPE_SHARDS";
/// This pod's shard, set by Kubernetes in an Indexed Job (0 to shards - 1).
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";
/// W3C trace context of the reconcile that started the run.
pub const TRACEPARENT: &str = "TRACEPARENT";
/// Where the run writes its summary for Kubernetes (default `/dev/termination-log`).
pub const TERMINATION_LOG: &str = "TERMINATION_LOG";
/// The scraper's database.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// Redis, for the rate limit all shards of a run share.
pub const REDIS_URL: &str = "REDIS_URL";
/// Where a run may connect (defined with the egress policy that reads them).
pub use crate::egress::{
    ALLOWED_HOSTS_ENV as SCRAPER_ALLOWED_HOSTS, ALLOWED_NETWORKS_ENV as SCRAPER_ALLOWED_NETWORKS,
};
/// Log filter.
pub const RUST_LOG: &str = "RUST_LOG";
/// Where Kubernetes reads a container's termination message by default.
pub const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

//! Every limit and default of a ScrapeJob spec, defined once. The schema ranges, the CEL
//! rules and [`crate::ScrapeJobSpec::validate`] are all written in terms of these.

/// Longest ScrapeJob name: it becomes a label value on every Job (63 characters at most).
pub const NAME_MAX_LEN: usize = 63;

/// Longest `baseUrl` / `apiUrl` (the egress crate's source URL parser reads them).
pub use gleaner_egress::source_url::MAX_LEN as URL_MAX_LEN;

/// Fewest requests in flight during a run.
pub const CONCURRENCY_MIN: u32 = 1;
/// Most requests in flight during a run.
pub const CONCURRENCY_MAX: u32 = 64;
/// Requests in flight when the spec does not say.
pub const CONCURRENCY_DEFAULT: u32 = 4;

/// Highest `requestsPerSecond` (the lower bound, 0, is exclusive): a ceiling per host.
pub const REQUESTS_PER_SECOND_MAX: f64 = 100.0;
/// `requestsPerSecond` when the spec does not say.
pub const REQUESTS_PER_SECOND_DEFAULT: f64 = 2.0;

/// Most retries per document.
pub const MAX_RETRIES_MAX: u32 = 10;
/// Retries per document when the spec does not say.
pub const MAX_RETRIES_DEFAULT: u32 = 3;

/// Shortest time limit of a whole run, in seconds.
pub const TIMEOUT_SECONDS_MIN: u32 = 60;
/// Longest time limit of a whole run, in seconds (one day).
pub const TIMEOUT_SECONDS_MAX: u32 = 86_400;
/// Time limit of a run when the spec does not say.
pub const TIMEOUT_SECONDS_DEFAULT: u32 = 3_600;

/// Most finished runs of one kind (successful or failed) kept.
pub const HISTORY_LIMIT_MAX: u32 = 100;
/// Successful runs kept when the spec does not say.
pub const SUCCESSFUL_RUNS_HISTORY_DEFAULT: u32 = 3;
/// Failed runs kept when the spec does not say.
pub const FAILED_RUNS_HISTORY_DEFAULT: u32 = 1;

/// Fewest pods per run.
pub const SHARDS_MIN: u32 = 1;
/// Most pods per run.
pub const SHARDS_MAX: u32 = 64;
/// Pods per run when the spec does not say.
pub const SHARDS_DEFAULT: u32 = 1;

/// First registry list page.
pub const PAGE_MIN: u32 = 1;
/// Last registry list page a spec may name.
pub const PAGE_MAX: u32 = 1_000_000;
/// Most list pages one spec may walk (`to - from + 1`).
pub const LIST_PAGES_SPAN_MAX: u32 = 10_000;

/// Most IDNOs one spec may name.
pub const IDNOS_MAX: usize = 10_000;

/// Shortest cron schedule ("* * * * *").
pub const SCHEDULE_MIN_LEN: usize = 9;
/// Longest cron schedule.
pub const SCHEDULE_MAX_LEN: usize = 128;
/// Fields of a cron schedule (minute hour day-of-month month day-of-week).
pub const SCHEDULE_FIELDS: usize = 5;

/// The schema pattern of a cron schedule: five fields separated by whitespace.
pub const SCHEDULE_PATTERN: &str = r"^\s*\S+(\s+\S+){4}\s*$";
/// The schema pattern of an IDNO.
pub const IDNO_PATTERN: &str = "^[0-9]{13}$";
/// The schema pattern of a source URL: http(s), a host, an optional port, a path; no user
/// info, no query, no fragment. [`crate::SourceUrl::parse`] accepts only these strings,
/// and of them refuses those whose host the URL standard reads as another host.
pub use gleaner_egress::source_url::PATTERN as SOURCE_URL_PATTERN;

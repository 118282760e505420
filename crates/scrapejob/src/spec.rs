//! The ScrapeJob spec (docs/operator.md): what a run fetches, when, and how politely; and the one
//! validation every reader of a spec uses.

use std::collections::HashSet;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::SourceUrl;
use crate::idno::Idno;
use crate::limits::*;

/// A recurring or one-off scrape of the company registry, run as Kubernetes Jobs.
// Several printer columns share a type, which the lint mistakes for repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "gleaner.dev",
        version = "v1alpha1",
        kind = "ScrapeJob",
        plural = "scrapejobs",
        singular = "scrapejob",
        shortname = "sj",
        category = "gleaner",
        namespaced,
        status = "crate::crd::ScrapeJobStatus",
        derive = "PartialEq",
        doc = "ScrapeJob describes which registry documents to fetch, when, and how politely; the gleaner operator runs it as batch/v1 Jobs and reports the outcome in its status.",
        printcolumn(
            name = "Phase",
            type_ = "string",
            json_path = ".status.phase",
            description = "Phase of the ScrapeJob"
        ),
        printcolumn(
            name = "Last-Run",
            type_ = "date",
            json_path = ".status.lastRun.startedAt",
            description = "When the last run started"
        ),
        printcolumn(
            name = "Pages",
            type_ = "integer",
            json_path = ".status.lastRun.pagesFetched",
            description = "Pages fetched by the last run"
        ),
        printcolumn(
            name = "Companies",
            type_ = "integer",
            json_path = ".status.lastRun.companiesWritten",
            description = "Companies created or updated by the last run"
        ),
        printcolumn(
            name = "Age",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeJobSpec {
    /// Data source to scrape; `openmoney` (openmoney.md) is the only source today.
    #[serde(default)]
    pub source: Source,

    /// Root URL of the source web site (the demo site in tests), e.g. https://openmoney.md; http(s), no user info, query or fragment.
    #[serde(default = "default_base_url")]
    #[schemars(length(min = 1, max = URL_MAX_LEN), regex(pattern = SOURCE_URL_PATTERN))]
    pub base_url: String,

    /// Root URL of the source's JSON API, e.g. https://api.openmoney.md; http(s), no user info, query or fragment.
    #[serde(default = "default_api_url")]
    #[schemars(length(min = 1, max = URL_MAX_LEN), regex(pattern = SOURCE_URL_PATTERN))]
    pub api_url: String,

    /// What to fetch: specific companies, registry list pages, or both (at least one).
    pub targets: Targets,

    /// Cron schedule in UTC with five fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *". Absent: one run starts when the ScrapeJob is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = SCHEDULE_MIN_LEN, max = SCHEDULE_MAX_LEN), regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: Option<String>,

    /// Stops scheduled runs (and the run on creation) while true; runs in progress go on, and a run-now annotation still starts a run.
    #[serde(default)]
    pub suspend: bool,

    /// Requests in flight at once during a run (1 to 64).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = CONCURRENCY_MIN, max = CONCURRENCY_MAX))]
    pub concurrency: u32,

    /// Ceiling on requests per second to each host, across all shards of a run (greater than 0, at most 100); no one-second window holds more.
    #[serde(default = "default_requests_per_second")]
    #[schemars(range(min = 0, max = REQUESTS_PER_SECOND_MAX), extend("exclusiveMinimum" = true))]
    pub requests_per_second: f64,

    /// Retries per document on 408, 425, 429, 5xx and timeouts (0 to 10).
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = MAX_RETRIES_MAX))]
    pub max_retries: u32,

    /// Time limit of a whole run in seconds (60 to 86400); the Job's activeDeadlineSeconds.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = TIMEOUT_SECONDS_MIN, max = TIMEOUT_SECONDS_MAX))]
    pub timeout_seconds: u32,

    /// Obey robots.txt (the group for Gleaner's User-Agent, else `*`).
    #[serde(default = "default_true")]
    pub respect_robots_txt: bool,

    /// What to do when a scheduled run is due while another run is still running: Forbid skips the new run, Replace stops the running one and starts the new one.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// Finished successful runs (Jobs) to keep (0 to 100); older ones are deleted.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = HISTORY_LIMIT_MAX))]
    pub successful_runs_history_limit: u32,

    /// Finished failed runs (Jobs) to keep (0 to 100); older ones are deleted.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = HISTORY_LIMIT_MAX))]
    pub failed_runs_history_limit: u32,

    /// Pods per run (1 to 64); each takes its share of the targets, and requestsPerSecond holds across all of them.
    #[serde(default = "default_shards")]
    #[schemars(range(min = SHARDS_MIN, max = SHARDS_MAX))]
    pub shards: u32,
}

/// Registry documents a run fetches; at least one of `idnos` and `listPages`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.idnos) && size(self.idnos) > 0) || has(self.listPages)",
    "message": "targets needs at least one of idnos or listPages",
    "reason": "FieldValueRequired"
}]))]
pub struct Targets {
    /// Companies to fetch, by 13-digit IDNO (fiscal code), each at most once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = IDNOS_MAX), inner(regex(pattern = IDNO_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub idnos: Option<Vec<String>>,

    /// Registry list pages to fetch; every company listed on them is fetched too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_pages: Option<PageRange>,
}

/// An inclusive range of registry list pages, counted from 1.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.from <= self.to",
        "message": "listPages.from must not be greater than listPages.to",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": format!("self.to - self.from < {LIST_PAGES_SPAN_MAX}"),
        "message": format!("listPages covers at most {LIST_PAGES_SPAN_MAX} pages"),
        "reason": "FieldValueInvalid"
    }
]))]
pub struct PageRange {
    /// First page to fetch (1 to 1000000).
    #[schemars(range(min = PAGE_MIN, max = PAGE_MAX))]
    pub from: u32,
    /// Last page to fetch (inclusive, not less than `from`, at most 10000 pages in all).
    #[schemars(range(min = PAGE_MIN, max = PAGE_MAX))]
    pub to: u32,
}

impl PageRange {
    /// Pages in the range (0 when `from > to`).
    pub fn len(&self) -> u32 {
        if self.from > self.to {
            0
        } else {
            self.to - self.from + 1
        }
    }

    /// Whether the range holds no page.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The data source a ScrapeJob reads.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Source {
    /// openmoney.md, the Moldovan company registry site.
    #[default]
    #[serde(rename = "openmoney")]
    Openmoney,
}

impl Source {
    /// Every known source.
    pub const ALL: [Source; 1] = [Source::Openmoney];

    /// The source as written in a spec and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Openmoney => "openmoney",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a due scheduled run while another run is still running.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Skip the new run; the running one goes on.
    #[default]
    Forbid,
    /// Stop the running run and start the new one.
    Replace,
}

fn default_base_url() -> String {
    "https://openmoney.md".to_owned()
}
fn default_api_url() -> String {
    "https://api.openmoney.md".to_owned()
}
fn default_concurrency() -> u32 {
    CONCURRENCY_DEFAULT
}
fn default_requests_per_second() -> f64 {
    REQUESTS_PER_SECOND_DEFAULT
}
fn default_max_retries() -> u32 {
    MAX_RETRIES_DEFAULT
}
fn default_timeout_seconds() -> u32 {
    TIMEOUT_SECONDS_DEFAULT
}
fn default_true() -> bool {
    true
}
fn default_successful_history() -> u32 {
    SUCCESSFUL_RUNS_HISTORY_DEFAULT
}
fn default_failed_history() -> u32 {
    FAILED_RUNS_HISTORY_DEFAULT
}
fn default_shards() -> u32 {
    SHARDS_DEFAULT
}

/// One invalid field: its JSON path (`spec.targets.idnos`, `metadata.name`, `email`) and
/// what is wrong with it. Spec validation reports these, and every service's problem+json
/// body lists them under `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field (`email`, `spec.targets`, `metadata.name`).
    pub field: String,
    /// What is wrong with it, in words.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every reason a spec cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSpec {
    /// One entry per problem, in field order.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid spec: ")?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidSpec {}

/// Checks a ScrapeJob name (it becomes a label value on every Job of the run).
pub fn validate_name(name: &str) -> Option<FieldError> {
    (name.is_empty() || name.len() > NAME_MAX_LEN).then(|| {
        FieldError::new(
            "metadata.name",
            format!("must be 1 to {NAME_MAX_LEN} characters"),
        )
    })
}

/// Checks the shape of a cron schedule as the schema does; with the `cron` feature, also
/// that it parses and fires.
fn schedule_problem(pattern: &str) -> Option<String> {
    // The API server counts characters, not bytes, and its `\s` is ASCII.
    if !(SCHEDULE_MIN_LEN..=SCHEDULE_MAX_LEN).contains(&pattern.chars().count()) {
        return Some(format!(
            "must be {SCHEDULE_MIN_LEN} to {SCHEDULE_MAX_LEN} characters"
        ));
    }
    let fields = pattern
        .split(['\t', '\n', '\x0c', '\r', ' '])
        .filter(|field| !field.is_empty())
        .count();
    if fields != SCHEDULE_FIELDS {
        return Some("expected five fields: minute hour day-of-month month day-of-week".to_owned());
    }
    #[cfg(feature = "cron")]
    if let Err(e) = crate::schedule::parse_cron(pattern) {
        return Some(e.reason);
    }
    None
}

impl ScrapeJobSpec {
    /// A spec with every default and the given targets.
    pub fn with_targets(targets: Targets) -> Self {
        ScrapeJobSpec {
            source: Source::default(),
            base_url: default_base_url(),
            api_url: default_api_url(),
            targets,
            schedule: None,
            suspend: false,
            concurrency: CONCURRENCY_DEFAULT,
            requests_per_second: REQUESTS_PER_SECOND_DEFAULT,
            max_retries: MAX_RETRIES_DEFAULT,
            timeout_seconds: TIMEOUT_SECONDS_DEFAULT,
            respect_robots_txt: true,
            concurrency_policy: ConcurrencyPolicy::default(),
            successful_runs_history_limit: SUCCESSFUL_RUNS_HISTORY_DEFAULT,
            failed_runs_history_limit: FAILED_RUNS_HISTORY_DEFAULT,
            shards: SHARDS_DEFAULT,
        }
    }

    /// Every problem with the spec, in field order; the one check of a spec, whoever reads it.
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut errors = Vec::new();
        let mut err = |field: &str, message: String| {
            errors.push(FieldError::new(format!("spec.{field}"), message));
        };

        for (field, url) in [("baseUrl", &self.base_url), ("apiUrl", &self.api_url)] {
            if let Err(e) = SourceUrl::parse(url) {
                err(field, format!("{url:?} {e}"));
            }
        }

        let idnos = self.targets.idnos.as_deref().unwrap_or_default();
        if idnos.is_empty() && self.targets.list_pages.is_none() {
            err(
                "targets",
                "needs at least one of idnos or listPages".to_owned(),
            );
        }
        if self.targets.idnos.as_ref().is_some_and(Vec::is_empty) {
            err("targets.idnos", "must not be empty when given".to_owned());
        }
        if idnos.len() > IDNOS_MAX {
            err("targets.idnos", format!("at most {IDNOS_MAX} entries"));
        }
        if let Some(bad) = idnos.iter().find_map(|i| Idno::parse(i).err()) {
            err("targets.idnos", bad.to_string());
        }
        let mut seen = HashSet::new();
        if let Some(dup) = idnos.iter().find(|i| !seen.insert(i.as_str())) {
            err("targets.idnos", format!("{dup:?} is listed twice"));
        }
        if let Some(pages) = self.targets.list_pages {
            if !(PAGE_MIN..=PAGE_MAX).contains(&pages.from)
                || !(PAGE_MIN..=PAGE_MAX).contains(&pages.to)
            {
                err(
                    "targets.listPages",
                    format!("pages are counted from {PAGE_MIN} to {PAGE_MAX}"),
                );
            }
            if pages.from > pages.to {
                err(
                    "targets.listPages",
                    format!("from ({}) is greater than to ({})", pages.from, pages.to),
                );
            } else if pages.len() > LIST_PAGES_SPAN_MAX {
                err(
                    "targets.listPages",
                    format!("covers at most {LIST_PAGES_SPAN_MAX} pages"),
                );
            }
        }

        if let Some(problem) = self.schedule.as_deref().and_then(schedule_problem) {
            err("schedule", problem);
        }
        if !(CONCURRENCY_MIN..=CONCURRENCY_MAX).contains(&self.concurrency) {
            err(
                "concurrency",
                format!("must be {CONCURRENCY_MIN} to {CONCURRENCY_MAX}"),
            );
        }
        let rps = self.requests_per_second;
        if !(rps.is_finite() && rps > 0.0 && rps <= REQUESTS_PER_SECOND_MAX) {
            err(
                "requestsPerSecond",
                format!("must be greater than 0 and at most {REQUESTS_PER_SECOND_MAX}"),
            );
        }
        if self.max_retries > MAX_RETRIES_MAX {
            err("maxRetries", format!("must be 0 to {MAX_RETRIES_MAX}"));
        }
        if !(TIMEOUT_SECONDS_MIN..=TIMEOUT_SECONDS_MAX).contains(&self.timeout_seconds) {
            err(
                "timeoutSeconds",
                format!("must be {TIMEOUT_SECONDS_MIN} to {TIMEOUT_SECONDS_MAX}"),
            );
        }
        if self.successful_runs_history_limit > HISTORY_LIMIT_MAX {
            err(
                "successfulRunsHistoryLimit",
                format!("must be 0 to {HISTORY_LIMIT_MAX}"),
            );
        }
        if self.failed_runs_history_limit > HISTORY_LIMIT_MAX {
            err(
                "failedRunsHistoryLimit",
                format!("must be 0 to {HISTORY_LIMIT_MAX}"),
            );
        }
        if !(SHARDS_MIN..=SHARDS_MAX).contains(&self.shards) {
            err("shards", format!("must be {SHARDS_MIN} to {SHARDS_MAX}"));
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidSpec { errors })
        }
    }

    /// Parses a spec from JSON (what `SCRAPEJOB_SPEC` and the run API carry) and validates it.
    pub fn from_json(json: &str) -> Result<Self, SpecJsonError> {
        let spec: ScrapeJobSpec = serde_json::from_str(json).map_err(SpecJsonError::Malformed)?;
        spec.validate().map_err(SpecJsonError::Invalid)?;
        Ok(spec)
    }

    /// The site root, parsed (None when invalid: validate first).
    pub fn base_source_url(&self) -> Option<SourceUrl> {
        SourceUrl::parse(&self.base_url).ok()
    }

    /// The JSON API root, parsed (None when invalid: validate first).
    pub fn api_source_url(&self) -> Option<SourceUrl> {
        SourceUrl::parse(&self.api_url).ok()
    }

    /// The site root without trailing slashes.
    pub fn base_root(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The JSON API root without trailing slashes.
    pub fn api_root(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }

    /// The IDNOs to fetch, parsed; invalid ones are left out (validate first).
    pub fn idnos(&self) -> Vec<Idno> {
        self.targets
            .idnos
            .iter()
            .flatten()
            .filter_map(|i| Idno::parse(i).ok())
            .collect()
    }

    /// The run's time limit.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.timeout_seconds))
    }
}

/// Why a JSON spec was refused.
#[derive(Debug)]
pub enum SpecJsonError {
    /// Not JSON, or not the shape of a spec.
    Malformed(serde_json::Error),
    /// A spec, with problems.
    Invalid(InvalidSpec),
}

impl fmt::Display for SpecJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecJsonError::Malformed(e) => write!(f, "not a ScrapeJob spec: {e}"),
            SpecJsonError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SpecJsonError {}

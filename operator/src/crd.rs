//! The `ScrapeJob` custom resource (`gleaner.dev/v1alpha1`), shared with the app service.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the resource.
pub const GROUP: &str = "gleaner.dev";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// Annotation whose every new value starts one run ("run now").
pub const RUN_NOW_ANNOTATION: &str = "gleaner.dev/run-now";
/// Label on every Job (and its pods) naming the owning ScrapeJob.
pub const SCRAPEJOB_LABEL: &str = "gleaner.dev/scrapejob";
/// Label on every Job (and its pods) carrying the run id.
pub const RUN_ID_LABEL: &str = "gleaner.dev/run-id";
/// Annotation on a Job telling what started the run (`initial`, `schedule`, `run-now`).
pub const TRIGGER_ANNOTATION: &str = "gleaner.dev/trigger";
/// Annotation on a Job with the schedule time it stands for (scheduled runs only).
pub const SCHEDULED_AT_ANNOTATION: &str = "gleaner.dev/scheduled-at";
/// Annotation on a Job with the run-now token it answers (manual runs only).
pub const RUN_NOW_TOKEN_ANNOTATION: &str = "gleaner.dev/run-now-token";
/// Longest ScrapeJob name: it is used as a label value (63 characters at most).
pub const MAX_NAME_LEN: usize = 63;

/// A recurring or one-off scrape of the company registry, run as Kubernetes Jobs.
// Several printer columns share a type, which the lint mistakes for repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "gleaner.dev",
    version = "v1alpha1",
    kind = "ScrapeJob",
    plural = "scrapejobs",
    singular = "scrapejob",
    shortname = "sj",
    category = "gleaner",
    namespaced,
    status = "ScrapeJobStatus",
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
)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeJobSpec {
    /// Data source to scrape; `openmoney` (openmoney.md) is the only source today.
    #[serde(default)]
    pub source: Source,

    /// Root URL of the source web site (the demo site in tests), e.g. https://openmoney.md.
    #[serde(default = "default_base_url")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+(/[^\s]*)?$")
    )]
    pub base_url: String,

    /// Root URL of the source's JSON API, e.g. https://api.openmoney.md.
    #[serde(default = "default_api_url")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+(/[^\s]*)?$")
    )]
    pub api_url: String,

    /// What to fetch: specific companies, registry list pages, or both (at least one).
    pub targets: Targets,

    /// Cron schedule in UTC with five fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *". Absent: one run starts when the ScrapeJob is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128), regex(pattern = r"^\s*\S+(\s+\S+){4}\s*$"))]
    pub schedule: Option<String>,

    /// Stops scheduled runs (and the run on creation) while true; runs in progress go on, and a run-now annotation still starts a run.
    #[serde(default)]
    pub suspend: bool,

    /// Requests in flight at once during a run (1 to 64).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,

    /// Ceiling on requests per second to each host (greater than 0, at most 1000); no one-second window holds more.
    #[serde(default = "default_requests_per_second")]
    #[schemars(range(min = 0, max = 1000), extend("exclusiveMinimum" = true))]
    pub requests_per_second: f64,

    /// Retries per document on 408, 425, 429, 5xx and timeouts (0 to 10).
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: u32,

    /// Time limit of a whole run in seconds (60 to 86400); the Job's activeDeadlineSeconds.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 60, max = 86400))]
    pub timeout_seconds: i64,

    /// Obey robots.txt (the group for Gleaner's User-Agent, else `*`).
    #[serde(default = "default_true")]
    pub respect_robots_txt: bool,

    /// What to do when a scheduled run is due while another run is still running: Forbid skips the new run, Replace stops the running one and starts the new one.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// Finished successful runs (Jobs) to keep (0 to 100); older ones are deleted.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_runs_history_limit: u32,

    /// Finished failed runs (Jobs) to keep (0 to 100); older ones are deleted.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_runs_history_limit: u32,
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
    /// Companies to fetch, by 13-digit IDNO (fiscal code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000), inner(regex(pattern = r"^[0-9]{13}$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub idnos: Option<Vec<String>>,

    /// Registry list pages to fetch; every company listed on them is fetched too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_pages: Option<PageRange>,
}

/// An inclusive range of registry list pages, counted from 1.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.from <= self.to",
    "message": "listPages.from must not be greater than listPages.to",
    "reason": "FieldValueInvalid"
}]))]
pub struct PageRange {
    /// First page to fetch (1 or more).
    #[schemars(range(min = 1, max = 1000000))]
    pub from: u32,
    /// Last page to fetch (inclusive, not less than `from`).
    #[schemars(range(min = 1, max = 1000000))]
    pub to: u32,
}

/// The data source a ScrapeJob reads.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub enum Source {
    /// openmoney.md, the Moldovan company registry site.
    #[default]
    #[serde(rename = "openmoney")]
    Openmoney,
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

/// Observed state of a ScrapeJob, written by the operator.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeJobStatus {
    /// Pending (no run yet), Running, Succeeded or Failed (the last run's result, or an invalid spec), Suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The most recent run (the running one, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,

    /// When the next scheduled run is due (absent without a schedule or while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<Time>,

    /// The schedule time that was last handled (run, skipped or passed over while suspended); missed times before it never run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_at: Option<Time>,

    /// The last gleaner.dev/run-now annotation value that started a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_now_token: Option<String>,

    /// Standard conditions: Ready, Running, Succeeded, Failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Phase of a ScrapeJob.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Waiting for its first run.
    Pending,
    /// A run is in progress.
    Running,
    /// The last run succeeded.
    Succeeded,
    /// The last run failed, or the spec is invalid.
    Failed,
    /// Suspended, with no run in progress.
    Suspended,
}

impl Phase {
    /// Every phase, in display order.
    pub const ALL: [Phase; 5] = [
        Phase::Pending,
        Phase::Running,
        Phase::Succeeded,
        Phase::Failed,
        Phase::Suspended,
    ];

    /// The phase as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Suspended => "Suspended",
        }
    }
}

/// Outcome of one run.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum RunResult {
    /// Still running.
    Running,
    /// Went through its targets (some documents may have failed).
    Succeeded,
    /// Could not finish (timeout, crash, database gone, or most documents failed).
    Failed,
}

/// Summary of one run (one Job).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// Name of the run's Job.
    pub name: String,
    /// Run id (SCRAPE_RUN_ID of the scraper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the run finished (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    /// Documents fetched.
    #[serde(default)]
    pub pages_fetched: u64,
    /// Documents fetched that had not changed since they were last stored.
    #[serde(default)]
    pub pages_unchanged: u64,
    /// Documents that could not be fetched or parsed.
    #[serde(default)]
    pub pages_failed: u64,
    /// Companies seen for the first time.
    #[serde(default)]
    pub companies_created: u64,
    /// Known companies with changed fields.
    #[serde(default)]
    pub companies_updated: u64,
    /// companiesCreated + companiesUpdated (the COMPANIES column).
    #[serde(default)]
    pub companies_written: u64,
    /// Why the run failed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_base_url() -> String {
    "https://openmoney.md".to_owned()
}
fn default_api_url() -> String {
    "https://api.openmoney.md".to_owned()
}
fn default_concurrency() -> u32 {
    4
}
fn default_requests_per_second() -> f64 {
    2.0
}
fn default_max_retries() -> u32 {
    3
}
fn default_timeout_seconds() -> i64 {
    3600
}
fn default_true() -> bool {
    true
}
fn default_successful_history() -> u32 {
    3
}
fn default_failed_history() -> u32 {
    1
}

impl ScrapeJobSpec {
    /// A spec with every default and the given targets (handy for the app service and tests).
    pub fn with_targets(targets: Targets) -> Self {
        ScrapeJobSpec {
            source: Source::default(),
            base_url: default_base_url(),
            api_url: default_api_url(),
            targets,
            schedule: None,
            suspend: false,
            concurrency: default_concurrency(),
            requests_per_second: default_requests_per_second(),
            max_retries: default_max_retries(),
            timeout_seconds: default_timeout_seconds(),
            respect_robots_txt: true,
            concurrency_policy: ConcurrencyPolicy::default(),
            successful_runs_history_limit: default_successful_history(),
            failed_runs_history_limit: default_failed_history(),
        }
    }
}

impl ScrapeJob {
    /// A JSON merge patch that asks for one run now: sets `gleaner.dev/run-now` to `token`.
    /// Each distinct token starts exactly one run.
    pub fn run_now_patch(token: &str) -> serde_json::Value {
        serde_json::json!({"metadata": {"annotations": {RUN_NOW_ANNOTATION: token}}})
    }

    /// The run id the operator gives the run started by `token` (known before it starts),
    /// or None for an object not read from the API server (no uid yet).
    pub fn run_id_for_token(&self, token: &str) -> Option<String> {
        let uid = self.metadata.uid.as_deref()?;
        Some(crate::run::run_id(
            uid,
            &crate::run::Trigger::RunNow(token.trim().to_owned()),
        ))
    }
}

/// The CustomResourceDefinition, with the rules that only fit at the schema root.
pub fn scrapejob_crd() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = ScrapeJob::crd();
    for version in &mut crd.spec.versions {
        let root = version
            .schema
            .as_mut()
            .and_then(|v| v.open_api_v3_schema.as_mut());
        if let Some(root) = root {
            // The name becomes a label value on every Job, so it must fit in 63 characters.
            root.x_kubernetes_validations = Some(vec![ValidationRule {
                rule: "size(self.metadata.name) <= 63".to_owned(),
                message: Some(
                    "metadata.name must be at most 63 characters (it is used as a label value)"
                        .to_owned(),
                ),
                reason: Some("FieldValueInvalid".to_owned()),
                ..ValidationRule::default()
            }]);
        }
    }
    crd
}

/// The CustomResourceDefinition as YAML, exactly what `operator crdgen` prints.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&scrapejob_crd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunRequest, Trigger};

    #[test]
    fn run_now_helpers_match_what_the_operator_does() {
        let patch = ScrapeJob::run_now_patch("t-42");
        assert_eq!(
            patch["metadata"]["annotations"]["gleaner.dev/run-now"],
            "t-42"
        );
        let mut sj = ScrapeJob::new("nightly", ScrapeJobSpec::with_targets(Targets::default()));
        assert_eq!(sj.run_id_for_token("t-42"), None);
        sj.metadata.uid = Some("uid-1".into());
        let expected = RunRequest::new("nightly", "uid-1", Trigger::RunNow("t-42".into()));
        assert_eq!(sj.run_id_for_token("t-42"), Some(expected.run_id));
    }

    #[test]
    fn spec_json_is_camel_case_with_defaults() {
        let spec: ScrapeJobSpec =
            serde_json::from_value(serde_json::json!({"targets": {"idnos": ["1003600012345"]}}))
                .unwrap();
        assert_eq!(spec, ScrapeJobSpec::with_targets(spec.targets.clone()));
        let v = serde_json::to_value(&spec).unwrap();
        for key in [
            "source",
            "baseUrl",
            "apiUrl",
            "targets",
            "suspend",
            "concurrency",
            "requestsPerSecond",
            "maxRetries",
            "timeoutSeconds",
            "respectRobotsTxt",
            "concurrencyPolicy",
            "successfulRunsHistoryLimit",
            "failedRunsHistoryLimit",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v.get("schedule").is_none());
        assert_eq!(v["source"], "openmoney");
        assert_eq!(v["concurrencyPolicy"], "Forbid");
    }
}

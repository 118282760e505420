//! The `ScrapeJob` custom resource (`gleaner.dev/v1alpha1`): its status, the names the
//! operator puts on a run's Job, and the CustomResourceDefinition with its root rules.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::NAME_MAX_LEN;
pub use crate::spec::ScrapeJob;
use crate::summary::RunStatus;

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Phase {
    /// Waiting for its first run.
    Pending,
    /// A run is in progress.
    Running,
    /// The last run succeeded.
    Succeeded,
    /// The last run failed or was cancelled, or the spec is invalid.
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

    /// The phase a job shows, decided once for the operator's status and the app's
    /// database backend: Failed for a spec that cannot run, Running while a run goes
    /// (suspending a job does not stop the run in progress), Suspended, else the last
    /// run's outcome (Pending before the first).
    pub fn of(
        spec_valid: bool,
        run_active: bool,
        suspended: bool,
        last_run: Option<RunResult>,
    ) -> Phase {
        if !spec_valid {
            Phase::Failed
        } else if run_active {
            Phase::Running
        } else if suspended {
            Phase::Suspended
        } else {
            match last_run {
                Some(RunResult::Succeeded) => Phase::Succeeded,
                Some(RunResult::Failed | RunResult::Cancelled) => Phase::Failed,
                Some(RunResult::Running) | None => Phase::Pending,
            }
        }
    }
}

/// Outcome of one run, as the status shows it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum RunResult {
    /// Still running.
    Running,
    /// Went through its targets (some documents may have failed).
    Succeeded,
    /// Could not finish (timeout, crash, database gone, or most documents failed).
    Failed,
    /// Stopped before the end on request (a signal, or replaced by a newer run).
    Cancelled,
}

impl RunResult {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        self != RunResult::Running
    }
}

impl From<RunStatus> for RunResult {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued | RunStatus::Running => RunResult::Running,
            RunStatus::Succeeded => RunResult::Succeeded,
            RunStatus::Failed => RunResult::Failed,
            RunStatus::Cancelled => RunResult::Cancelled,
        }
    }
}

impl From<RunResult> for RunStatus {
    fn from(result: RunResult) -> Self {
        match result {
            RunResult::Running => RunStatus::Running,
            RunResult::Succeeded => RunStatus::Succeeded,
            RunResult::Failed => RunStatus::Failed,
            RunResult::Cancelled => RunStatus::Cancelled,
        }
    }
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
    /// Running, Succeeded, Failed or Cancelled.
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

impl ScrapeJob {
    /// A JSON merge patch that asks for one run now: sets `gleaner.dev/run-now` to `token`.
    /// Each distinct token starts exactly one run.
    pub fn run_now_patch(token: &str) -> serde_json::Value {
        serde_json::json!({"metadata": {"annotations": {RUN_NOW_ANNOTATION: token}}})
    }
}

/// The CEL rule at the schema root that keeps names usable as label values.
pub fn name_rule() -> String {
    format!("size(self.metadata.name) <= {NAME_MAX_LEN}")
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
                rule: name_rule(),
                message: Some(format!(
                    "metadata.name must be at most {NAME_MAX_LEN} characters (it is used as a label value)"
                )),
                reason: Some("FieldValueInvalid".to_owned()),
                ..ValidationRule::default()
            }]);
        }
    }
    crd
}

/// The CustomResourceDefinition as YAML, exactly what the operator's `crdgen` prints.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&scrapejob_crd())
}

//! One scrape run as a `batch/v1` Job (an Indexed Job, one pod per shard, for a sharded run):
//! what an existing Job says about its run, and the scraper's termination summary.

use std::collections::BTreeMap;

use gleaner_scrapejob::RunStatus;
use gleaner_scrapejob::env;
pub use gleaner_scrapejob::summary::RunSummary;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Pod, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use crate::crd::{
    RUN_ID_LABEL, RUN_NOW_TOKEN_ANNOTATION, SCHEDULED_AT_ANNOTATION, SCRAPEJOB_LABEL, ScrapeJob,
    TRIGGER_ANNOTATION,
};

/// Name of the scraper container in every run's pod.
pub const CONTAINER_NAME: &str = "scraper";
/// The non-root user (and group) the scraper runs as.
pub const RUN_AS_USER: i64 = 65532;
/// Field manager and `app.kubernetes.io/managed-by` value.
pub const MANAGER: &str = "gleaner-operator";

/// What started a run; it fixes the run id, so retrying the same decision cannot start two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The one run of a ScrapeJob without a schedule.
    Initial,
    /// The schedule time the run stands for.
    Schedule(Timestamp),
    /// A `gleaner.dev/run-now` token.
    RunNow(String),
}

impl Trigger {
    /// Short name, as in the Job's `gleaner.dev/trigger` annotation.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Schedule(_) => "schedule",
            Trigger::RunNow(_) => "run-now",
        }
    }

    fn key(&self) -> String {
        match self {
            Trigger::Initial => "initial".to_owned(),
            Trigger::Schedule(t) => format!("schedule/{}", t.as_second()),
            Trigger::RunNow(token) => format!("run-now/{token}"),
        }
    }
}

/// A run the operator decided to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// Why it starts.
    pub trigger: Trigger,
    /// Lowercase uuid, the scraper's `SCRAPE_RUN_ID`.
    pub run_id: String,
    /// Name of the Job, `<scrapejob>-<8 hex of the run id>`.
    pub job_name: String,
}

impl RunRequest {
    /// The run a trigger stands for; the same ScrapeJob uid and trigger give the same run.
    pub fn new(scrapejob_name: &str, uid: &str, trigger: Trigger) -> Self {
        let run_id = run_id(uid, &trigger);
        let job_name = job_name(scrapejob_name, &run_id);
        RunRequest {
            trigger,
            run_id,
            job_name,
        }
    }
}

/// A deterministic run id (UUID v5 of the ScrapeJob uid and the trigger).
pub fn run_id(uid: &str, trigger: &Trigger) -> String {
    gleaner_scrapejob::crd::run_id(uid, &trigger.key())
}

/// `<scrapejob name>-<first 8 hex digits of the run id>`, at most 63 characters.
pub fn job_name(scrapejob_name: &str, run_id: &str) -> String {
    let suffix: String = run_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    // 63 - "-" - 8 hex = 54 characters for the name; never end on a '-' or '.'.
    let mut prefix: String = scrapejob_name.chars().take(54).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    format!("{prefix}-{suffix}")
}

/// Operator settings that shape every run's Job.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Scraper container image.
    pub image: String,
    /// Secret holding the scraper's database URL (key `url`).
    pub database_secret: String,
    /// `RUST_LOG` of the scraper.
    pub rust_log: String,
    /// ServiceAccount of the run's pods (default: the namespace's default, with no token mounted).
    pub service_account: Option<String>,
    /// Image pull policy (empty: Kubernetes' default).
    pub image_pull_policy: Option<String>,
    /// Requests and limits of the scraper container.
    pub resources: ResourceRequirements,
    /// `SCRAPER_ALLOWED_HOSTS` of the run.
    pub allowed_hosts: String,
    /// `SCRAPER_ALLOWED_NETWORKS` of the run.
    pub allowed_networks: String,
    /// Where the pods of a sharded run find `REDIS_URL` (the rate limit their shards share);
    /// `None`: no Redis, each shard keeps to its share of the rate on its own.
    pub redis_secret: Option<SecretRef>,
}

/// A key of a Secret in the ScrapeJob's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Key in the Secret.
    pub key: String,
}

impl SecretRef {
    fn env(&self, name: &str) -> EnvVar {
        EnvVar {
            name: name.to_owned(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: self.name.clone(),
                    key: self.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            image: "ghcr.io/gleaner/scraper:latest".to_owned(),
            database_secret: "gleaner-scraper-db".to_owned(),
            rust_log: "info".to_owned(),
            service_account: None,
            image_pull_policy: None,
            resources: resources("100m", "128Mi", "1", "512Mi"),
            allowed_hosts: gleaner_scrapejob::egress::DEFAULT_ALLOWED_HOSTS.to_owned(),
            allowed_networks: gleaner_scrapejob::egress::DEFAULT_ALLOWED_NETWORKS.to_owned(),
            redis_secret: None,
        }
    }
}

/// Resource requirements from CPU/memory requests and limits.
pub fn resources(
    cpu_request: &str,
    memory_request: &str,
    cpu_limit: &str,
    memory_limit: &str,
) -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_owned());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), q(cpu_request)),
            ("memory".to_owned(), q(memory_request)),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_owned(), q(cpu_limit)),
            ("memory".to_owned(), q(memory_limit)),
        ])),
        ..ResourceRequirements::default()
    }
}

/// Why the desired Job cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum JobBuildError {
    /// The ScrapeJob has no uid or namespace yet (not read from the API server).
    #[error("ScrapeJob has no {0}")]
    MissingMetadata(&'static str),
    /// The spec cannot be serialized (cannot happen for a typed spec).
    #[error("cannot serialize the spec: {0}")]
    Spec(#[from] serde_json::Error),
}

/// Labels on a run's Job and pod.
pub fn run_labels(scrapejob: &str, run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "gleaner-scraper".to_owned(),
        ),
        (
            "app.kubernetes.io/instance".to_owned(),
            scrapejob.to_owned(),
        ),
        (
            "app.kubernetes.io/component".to_owned(),
            "scrape-run".to_owned(),
        ),
        ("app.kubernetes.io/part-of".to_owned(), "gleaner".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
        (SCRAPEJOB_LABEL.to_owned(), scrapejob.to_owned()),
        (RUN_ID_LABEL.to_owned(), run_id.to_owned()),
    ])
}

fn env_var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The Job that runs `run` for `sj`, with `traceparent` joining the run to the reconcile's trace.
pub fn desired_job(
    sj: &ScrapeJob,
    run: &RunRequest,
    settings: &RunSettings,
    traceparent: &str,
) -> Result<Job, JobBuildError> {
    let name = sj.name_any();
    let namespace = sj
        .namespace()
        .ok_or(JobBuildError::MissingMetadata("namespace"))?;
    let owner = sj
        .controller_owner_ref(&())
        .ok_or(JobBuildError::MissingMetadata("uid"))?;
    let labels = run_labels(&name, &run.run_id);
    let mut annotations =
        BTreeMap::from([(TRIGGER_ANNOTATION.to_owned(), run.trigger.kind().to_owned())]);
    match &run.trigger {
        Trigger::Schedule(t) => {
            annotations.insert(SCHEDULED_AT_ANNOTATION.to_owned(), t.to_string());
        }
        Trigger::RunNow(token) => {
            annotations.insert(RUN_NOW_TOKEN_ANNOTATION.to_owned(), token.clone());
        }
        Trigger::Initial => {}
    }

    let restricted = SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    };

    let mut env = vec![
        env_var(env::SCRAPEJOB_NAME, name.clone()),
        env_var(env::SCRAPEJOB_NAMESPACE, namespace.clone()),
        env_var(env::SCRAPE_RUN_ID, run.run_id.clone()),
        env_var(env::SCRAPEJOB_SPEC, serde_json::to_string(&sj.spec)?),
        env_var(env::TRACEPARENT, traceparent),
        SecretRef {
            name: settings.database_secret.clone(),
            key: "url".to_owned(),
        }
        .env(env::DATABASE_URL),
        env_var(env::RUST_LOG, settings.rust_log.clone()),
        env_var(
            gleaner_scrapejob::egress::ALLOWED_HOSTS_ENV,
            settings.allowed_hosts.clone(),
        ),
        env_var(
            gleaner_scrapejob::egress::ALLOWED_NETWORKS_ENV,
            settings.allowed_networks.clone(),
        ),
    ];
    let shards = sj.spec.shards;
    if shards > 1 {
        // Kubernetes adds JOB_COMPLETION_INDEX to each pod of an Indexed Job.
        env.push(env_var(env::SCRAPE_SHARDS, shards.to_string()));
        if let Some(redis) = &settings.redis_secret {
            env.push(redis.env(env::REDIS_URL));
        }
    }

    let container = Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(settings.image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        command: Some(vec!["scraper".to_owned(), "run".to_owned()]),
        env: Some(env),
        resources: Some(settings.resources.clone()),
        security_context: Some(restricted),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        // A read-only root file system still needs somewhere for temporary files.
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };

    let pod = PodSpec {
        containers: vec![container],
        restart_policy: Some("Never".to_owned()),
        service_account_name: settings.service_account.clone(),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            run_as_group: Some(RUN_AS_USER),
            fs_group: Some(RUN_AS_USER),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        volumes: Some(vec![Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("256Mi".to_owned())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };

    Ok(Job {
        metadata: ObjectMeta {
            name: Some(run.job_name.clone()),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            // A run retries documents itself; a crashed run is reported, not re-run blindly.
            // In a sharded run this is also the failure rule: the first shard that fails
            // fails the Job, and Kubernetes stops the other shards.
            backoff_limit: Some(0),
            // Shards: one Indexed Job, every shard's pod at once.
            completion_mode: (shards > 1).then(|| "Indexed".to_owned()),
            completions: (shards > 1).then(|| i32::try_from(shards).unwrap_or(i32::MAX)),
            parallelism: (shards > 1).then(|| i32::try_from(shards).unwrap_or(i32::MAX)),
            active_deadline_seconds: Some(i64::from(sj.spec.timeout_seconds)),
            // Never two pods of one run (or one shard) at once: a terminating pod is not
            // replaced early.
            pod_replacement_policy: Some("Failed".to_owned()),
            // Evictions and preemptions are not the run's fault: retry those.
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "Ignore".to_owned(),
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".to_owned(),
                        status: Some("True".to_owned()),
                    }]),
                    ..PodFailurePolicyRule::default()
                }],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

/// Where an existing Job's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Not finished.
    Active,
    /// The Job completed.
    Succeeded,
    /// The Job failed (crash, deadline, backoff limit).
    Failed,
}

/// What one owned Job says about its run.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRun {
    /// Job name.
    pub name: String,
    /// Run id (from the `gleaner.dev/run-id` label).
    pub run_id: Option<String>,
    /// Active, Succeeded or Failed.
    pub state: RunState,
    /// Job creation time (orders runs).
    pub created: Option<Timestamp>,
    /// When the Job started.
    pub started: Option<Timestamp>,
    /// When the Job finished.
    pub finished: Option<Timestamp>,
    /// Being deleted (no longer counts as running).
    pub deleting: bool,
    /// Why the Job failed, from its Failed condition.
    pub failure: Option<String>,
    /// Shards of the run: the completions of an Indexed Job, 1 for any other Job.
    pub shards: u32,
}

impl ObservedRun {
    /// Reads a Job.
    pub fn from_job(job: &Job) -> Self {
        let status = job.status.as_ref();
        let conditions = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let true_condition = |kind: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == kind && c.status == "True")
        };
        let failed = true_condition("Failed");
        let complete = true_condition("Complete");
        let state = if complete.is_some() {
            RunState::Succeeded
        } else if failed.is_some() {
            RunState::Failed
        } else {
            RunState::Active
        };
        let finished = match state {
            RunState::Active => None,
            RunState::Succeeded => status
                .and_then(|s| s.completion_time.as_ref())
                .map(|t| t.0)
                .or_else(|| complete.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))),
            RunState::Failed => failed.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0)),
        };
        let failure = failed.map(|c| match (c.reason.as_deref(), c.message.as_deref()) {
            (Some("DeadlineExceeded"), _) => "the run exceeded timeoutSeconds".to_owned(),
            (Some(reason), Some(message)) if !message.is_empty() => format!("{reason}: {message}"),
            (Some(reason), _) => reason.to_owned(),
            (None, Some(message)) => message.to_owned(),
            (None, None) => "the Job failed".to_owned(),
        });
        ObservedRun {
            name: job.name_any(),
            run_id: job.labels().get(RUN_ID_LABEL).cloned(),
            state,
            created: job.metadata.creation_timestamp.as_ref().map(|t| t.0),
            started: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            finished,
            deleting: job.metadata.deletion_timestamp.is_some(),
            failure,
            shards: job_shards(job),
        }
    }

    /// Still running and not on its way out.
    pub fn is_running(&self) -> bool {
        self.state == RunState::Active && !self.deleting
    }
}

/// Shards of a run's Job: the completions of an Indexed Job, else 1.
fn job_shards(job: &Job) -> u32 {
    job.spec
        .as_ref()
        .filter(|s| s.completion_mode.as_deref() == Some("Indexed"))
        .and_then(|s| s.completions)
        .and_then(|n| u32::try_from(n).ok())
        .map_or(1, |n| n.max(1))
}

/// The scraper's summary in its container's termination message, from the newest pod of
/// a run (the summary itself, or log lines whose last summary line is used).
pub fn summary_from_pods(pods: &[Pod]) -> Option<RunSummary> {
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    pods.iter().rev().find_map(|pod| {
        let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
        let status = statuses
            .iter()
            .find(|s| s.name == CONTAINER_NAME)
            .or(statuses.first())?;
        let terminated = status.state.as_ref()?.terminated.as_ref()?;
        RunSummary::from_termination_message(terminated.message.as_deref()?)
    })
}

/// Where Kubernetes writes the index of an Indexed Job's pod (an annotation always, a label
/// too from Kubernetes 1.28).
pub const COMPLETION_INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// The scraper's summary of a run from its pods. One pod: [`summary_from_pods`]. A sharded
/// run: the shards' summaries added up by [`RunSummary::combine`], each shard's read from
/// the newest pod of its index. A shard whose container ended without a readable final
/// summary, or that has no pod once the run has failed, counts as failed, with a reason
/// naming the shard; a shard still going counts as running. A Job that succeeded with a
/// shard's pod gone has no summary: its own verdict is the run's.
pub fn run_summary(run: &ObservedRun, pods: &[Pod]) -> Option<RunSummary> {
    if run.shards <= 1 {
        return summary_from_pods(pods);
    }
    let count = run.shards;
    let mut newest: Vec<Option<&Pod>> = vec![None; usize::try_from(count).ok()?];
    let key = |p: &Pod| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    };
    for pod in pods {
        let Some(slot) = pod_index(pod)
            .filter(|i| *i < count)
            .and_then(|i| newest.get_mut(usize::try_from(i).ok()?))
        else {
            continue;
        };
        if slot.is_none_or(|current| key(pod) > key(current)) {
            *slot = Some(pod);
        }
    }
    // Kubernetes says every index succeeded but a shard's pod is already gone (the Job
    // was cleaned up before the status was written): the Job's verdict stands, as it
    // does for a one-pod run whose pod is gone, rather than counts that miss a shard.
    if run.state == RunState::Succeeded && newest.iter().any(Option::is_none) {
        return None;
    }
    let run_id = run.run_id.clone().unwrap_or_default();
    let finished = run.state != RunState::Active;
    let shards: Vec<RunSummary> = newest
        .iter()
        .zip(0..)
        .map(|(pod, index)| shard_summary(*pod, index, count, &run_id, finished))
        .collect();
    RunSummary::combine(&shards)
}

/// A pod's index in its Indexed Job.
fn pod_index(pod: &Pod) -> Option<u32> {
    pod.annotations()
        .get(COMPLETION_INDEX_KEY)
        .or_else(|| pod.labels().get(COMPLETION_INDEX_KEY))
        .and_then(|v| v.trim().parse().ok())
}

/// One shard's summary from the newest pod of its index (see [`run_summary`]).
fn shard_summary(
    pod: Option<&Pod>,
    index: u32,
    count: u32,
    run_id: &str,
    run_finished: bool,
) -> RunSummary {
    let failed = |why: String| {
        let mut s = RunSummary::new(run_id, RunStatus::Failed);
        s.failure = Some(format!("shard {index}/{count} {why}"));
        s
    };
    let Some(pod) = pod else {
        return if run_finished {
            failed("has no pod".to_owned())
        } else {
            RunSummary::new(run_id, RunStatus::Running)
        };
    };
    let name = pod.name_any();
    let terminated = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| {
            statuses
                .iter()
                .find(|s| s.name == CONTAINER_NAME)
                .or(statuses.first())
        })
        .and_then(|s| s.state.as_ref()?.terminated.as_ref());
    let Some(terminated) = terminated else {
        return if run_finished {
            failed(format!("left no summary: pod {name} did not finish"))
        } else {
            RunSummary::new(run_id, RunStatus::Running)
        };
    };
    match terminated
        .message
        .as_deref()
        .and_then(RunSummary::from_termination_message)
        .filter(|s| s.status.is_final())
    {
        Some(mut summary) => {
            if summary.status != RunStatus::Succeeded {
                let why = summary
                    .failure
                    .take()
                    .unwrap_or_else(|| summary.status.as_str().to_owned());
                summary.failure = Some(format!("shard {index}/{count}: {why}"));
            }
            summary
        }
        None => {
            let reason = terminated
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(", {r}"));
            failed(format!(
                "left no summary: pod {name} exited with code {}{reason}",
                terminated.exit_code
            ))
        }
    }
}

/// Converts a timestamp to the API's `Time`.
pub fn time(t: Timestamp) -> Time {
    Time(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ScrapeJobSpec, Targets};
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};

    pub(crate) fn scrapejob(name: &str) -> ScrapeJob {
        let mut sj = ScrapeJob::new(
            name,
            ScrapeJobSpec::with_targets(Targets {
                idnos: Some(vec!["1003600012345".into()]),
                list_pages: None,
            }),
        );
        sj.metadata.namespace = Some("gleaner".into());
        sj.metadata.uid = Some("0b6c1a55-0000-4000-8000-000000000001".into());
        sj
    }

    #[test]
    fn run_ids_are_deterministic_per_trigger() {
        let a = RunRequest::new("nightly", "uid-1", Trigger::Initial);
        let b = RunRequest::new("nightly", "uid-1", Trigger::Initial);
        let c = RunRequest::new("nightly", "uid-2", Trigger::Initial);
        let d = RunRequest::new("nightly", "uid-1", Trigger::RunNow("x".into()));
        assert_eq!(a, b);
        assert_ne!(a.run_id, c.run_id);
        assert_ne!(a.run_id, d.run_id);
        assert_eq!(a.run_id.len(), 36);
        assert_eq!(a.run_id, a.run_id.to_lowercase());
        assert!(a.job_name.starts_with("nightly-"));
        assert_eq!(a.job_name, format!("nightly-{}", &a.run_id[..8]));
    }

    #[test]
    fn job_names_fit_in_63_characters() {
        let long = "a".repeat(63);
        let name = job_name(&long, "0123abcd-0000-0000-0000-000000000000");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-0123abcd"));
        let dashy = format!("{}-b", "a".repeat(53));
        assert_eq!(
            job_name(&dashy, "0123abcd"),
            format!("{}-0123abcd", "a".repeat(53))
        );
    }

    #[test]
    fn desired_job_follows_the_scraper_contract() {
        let sj = scrapejob("nightly");
        let run = RunRequest::new("nightly", "uid", Trigger::RunNow("tok".into()));
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let job = desired_job(&sj, &run, &RunSettings::default(), tp).unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some(run.job_name.as_str()));
        assert_eq!(job.metadata.namespace.as_deref(), Some("gleaner"));
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.kind, "ScrapeJob");
        assert_eq!(owner.controller, Some(true));
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SCRAPEJOB_LABEL], "nightly");
        assert_eq!(labels[RUN_ID_LABEL], run.run_id);
        assert_eq!(labels["app.kubernetes.io/managed-by"], "gleaner-operator");
        let annotations = job.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[TRIGGER_ANNOTATION], "run-now");
        assert_eq!(annotations[RUN_NOW_TOKEN_ANNOTATION], "tok");

        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(3600));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("ghcr.io/gleaner/scraper:latest"));
        assert_eq!(c.command.as_ref().unwrap(), &["scraper", "run"]);
        assert_eq!(
            c.termination_message_policy.as_deref(),
            Some("FallbackToLogsOnError")
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.run_as_user, Some(65532));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_ref().unwrap(),
            &["ALL"]
        );
        assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        assert!(c.resources.as_ref().unwrap().limits.is_some());

        let env: BTreeMap<_, _> = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e))
            .collect();
        assert_eq!(env["SCRAPEJOB_NAME"].value.as_deref(), Some("nightly"));
        assert_eq!(env["SCRAPEJOB_NAMESPACE"].value.as_deref(), Some("gleaner"));
        assert_eq!(
            env["SCRAPE_RUN_ID"].value.as_deref(),
            Some(run.run_id.as_str())
        );
        assert_eq!(env["TRACEPARENT"].value.as_deref(), Some(tp));
        assert_eq!(env["RUST_LOG"].value.as_deref(), Some("info"));
        let spec_json: serde_json::Value =
            serde_json::from_str(env["SCRAPEJOB_SPEC"].value.as_deref().unwrap()).unwrap();
        assert_eq!(spec_json["targets"]["idnos"][0], "1003600012345");
        assert_eq!(spec_json["requestsPerSecond"], 2.0);
        assert_eq!(spec_json["respectRobotsTxt"], true);
        let secret = env["DATABASE_URL"]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(secret.name, "gleaner-scraper-db");
        assert_eq!(secret.key, "url");
    }

    #[test]
    fn desired_job_needs_a_stored_scrapejob() {
        let mut sj = scrapejob("x");
        sj.metadata.uid = None;
        let run = RunRequest::new("x", "u", Trigger::Initial);
        assert!(desired_job(&sj, &run, &RunSettings::default(), "tp").is_err());
    }

    fn job_with(conditions: Vec<(&str, &str, &str)>) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("j".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .into_iter()
                        .map(|(t, s, r)| JobCondition {
                            type_: t.into(),
                            status: s.into(),
                            reason: Some(r.into()),
                            last_transition_time: Some(Time(
                                "2026-11-22T03:10:00Z".parse().unwrap(),
                            )),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
        }
    }

    #[test]
    fn observes_job_state() {
        assert_eq!(
            ObservedRun::from_job(&job_with(vec![])).state,
            RunState::Active
        );
        let done = ObservedRun::from_job(&job_with(vec![
            ("SuccessCriteriaMet", "True", "x"),
            ("Complete", "True", "x"),
        ]));
        assert_eq!(done.state, RunState::Succeeded);
        assert!(done.finished.is_some());
        let failed = ObservedRun::from_job(&job_with(vec![("Failed", "True", "DeadlineExceeded")]));
        assert_eq!(failed.state, RunState::Failed);
        assert_eq!(
            failed.failure.as_deref(),
            Some("the run exceeded timeoutSeconds")
        );
        let mut deleting = job_with(vec![]);
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!ObservedRun::from_job(&deleting).is_running());
    }

    #[test]
    fn reads_the_summary_from_the_newest_pod() {
        use gleaner_scrapejob::RunStatus;
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
        };
        let pod = |created: &str, message: &str| Pod {
            metadata: ObjectMeta {
                creation_timestamp: Some(Time(created.parse().unwrap())),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: CONTAINER_NAME.into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            message: Some(message.into()),
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        };
        let mut old = RunSummary::new("r1", RunStatus::Failed);
        old.pages_failed = 9;
        let mut new = RunSummary::new("r1", RunStatus::Cancelled);
        new.pages_fetched = 3;
        let logs = format!("starting\n{}\npanic: boom", new.to_line());
        let pods = [
            pod("2026-11-22T03:05:00Z", &logs),
            pod("2026-11-22T03:00:00Z", &old.to_line()),
        ];
        assert_eq!(summary_from_pods(&pods), Some(new));
        assert_eq!(
            summary_from_pods(&[pod("2026-11-22T03:00:00Z", "Error: database gone")]),
            None
        );
    }

    fn env_of(job: &Job) -> BTreeMap<String, EnvVar> {
        job.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.clone()))
            .collect()
    }

    /// Settings whose runs' Redis URL is in Secret `runs-redis`, key `redis-url`.
    fn settings_with_redis() -> RunSettings {
        RunSettings {
            redis_secret: Some(SecretRef {
                name: "runs-redis".into(),
                key: "redis-url".into(),
            }),
            ..RunSettings::default()
        }
    }

    /// The Job of the initial run of ScrapeJob `nightly` with `shards`.
    fn sharded_job(shards: u32, settings: &RunSettings) -> Job {
        let mut sj = scrapejob("nightly");
        sj.spec.shards = shards;
        let run = RunRequest::new("nightly", "uid", Trigger::Initial);
        desired_job(&sj, &run, settings, "tp").unwrap()
    }

    #[test]
    fn one_shard_is_the_plain_job() {
        let settings = settings_with_redis();
        let job = sharded_job(1, &settings);
        let run = RunRequest::new("nightly", "uid", Trigger::Initial);
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode, None);
        assert_eq!(spec.completions, None);
        assert_eq!(spec.parallelism, None);
        let env = env_of(&job);
        assert!(!env.contains_key("SCRAPE_SHARDS"));
        assert!(!env.contains_key("REDIS_URL"));
        // Exactly the Job a ScrapeJob without the field gets.
        let plain = desired_job(&scrapejob("nightly"), &run, &settings, "tp").unwrap();
        assert_eq!(job, plain);
    }

    #[test]
    fn shards_make_one_indexed_job() {
        let settings = settings_with_redis();
        let job = sharded_job(4, &settings);
        let run = RunRequest::new("nightly", "uid", Trigger::Initial);
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(4), Some(4)));
        assert_eq!(
            spec.backoff_limit,
            Some(0),
            "one failing shard fails the run"
        );
        assert_eq!(spec.backoff_limit_per_index, None);
        assert_eq!(spec.active_deadline_seconds, Some(3600));
        assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
        let env = env_of(&job);
        assert_eq!(env["SCRAPE_SHARDS"].value.as_deref(), Some("4"));
        assert_eq!(
            env["SCRAPE_RUN_ID"].value.as_deref(),
            Some(run.run_id.as_str())
        );
        // Kubernetes sets the index; the operator never does.
        assert!(!env.contains_key("JOB_COMPLETION_INDEX"));
        let redis = &env["REDIS_URL"];
        assert_eq!(redis.value, None, "never a plain value");
        let secret = redis
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("runs-redis", "redis-url")
        );
        assert_eq!(secret.optional, Some(false));

        // Without a Redis Secret the shards get no REDIS_URL (each keeps to its share).
        let job = sharded_job(4, &RunSettings::default());
        let env = env_of(&job);
        assert_eq!(env["SCRAPE_SHARDS"].value.as_deref(), Some("4"));
        assert!(!env.contains_key("REDIS_URL"));
        assert_eq!(ObservedRun::from_job(&job).shards, 4);
        let plain = desired_job(&scrapejob("x"), &run, &RunSettings::default(), "tp").unwrap();
        assert_eq!(ObservedRun::from_job(&plain).shards, 1);
    }

    fn shard_pod(
        index: Option<u32>,
        created: &str,
        terminated: Option<(i32, Option<&str>)>,
    ) -> Pod {
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
            PodStatus,
        };
        let state = match terminated {
            Some((exit_code, message)) => ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                    message: message.map(Into::into),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
            None => ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            },
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("run-{}-{created}", index.map_or(9, |i| i))),
                creation_timestamp: Some(Time(created.parse().unwrap())),
                annotations: index
                    .map(|i| BTreeMap::from([(COMPLETION_INDEX_KEY.to_owned(), i.to_string())])),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: CONTAINER_NAME.into(),
                    state: Some(state),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn shard_line(
        status: gleaner_scrapejob::RunStatus,
        fetched: u64,
        failure: Option<&str>,
    ) -> String {
        let mut s = RunSummary::new("run-1", status);
        s.pages_fetched = fetched;
        s.pages_failed = 1;
        s.companies_created = fetched / 2;
        s.companies_updated = 1;
        s.started_at = Some(format!("2026-11-22T03:00:0{fetched}Z"));
        s.finished_at = Some(format!("2026-11-22T03:05:0{fetched}Z"));
        s.failure = failure.map(Into::into);
        s.to_line()
    }

    fn sharded_run(state: RunState, shards: u32) -> ObservedRun {
        ObservedRun {
            name: "run".into(),
            run_id: Some("run-1".into()),
            state,
            created: None,
            started: None,
            finished: None,
            deleting: false,
            failure: None,
            shards,
        }
    }

    #[test]
    fn shard_summaries_add_up() {
        use gleaner_scrapejob::RunStatus::{Cancelled, Failed, Succeeded};
        let t = "2026-11-22T03:00:00Z";
        let lines: Vec<String> = (1..=4).map(|n| shard_line(Succeeded, n, None)).collect();
        let pods: Vec<Pod> = (0..4)
            .map(|i| shard_pod(Some(i), t, Some((0, Some(lines[i as usize].as_str())))))
            .collect();
        let all = run_summary(&sharded_run(RunState::Succeeded, 4), &pods).unwrap();
        assert_eq!(all.status, Succeeded);
        assert_eq!(
            (
                all.pages_fetched,
                all.pages_failed,
                all.companies_created,
                all.companies_updated
            ),
            (10, 4, 4, 4)
        );
        assert_eq!(all.started_at.as_deref(), Some("2026-11-22T03:00:01Z"));
        assert_eq!(all.finished_at.as_deref(), Some("2026-11-22T03:05:04Z"));
        assert_eq!(all.failure, None);

        // One shard failed, the others were stopped: the run failed, naming the shards.
        let failed = shard_line(Failed, 2, Some("timed out"));
        let cancelled = shard_line(Cancelled, 3, Some("cancelled"));
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(lines[0].as_str())))),
            shard_pod(Some(1), t, Some((1, Some(failed.as_str())))),
            shard_pod(Some(2), t, Some((1, Some(cancelled.as_str())))),
            shard_pod(Some(3), t, Some((137, None))),
        ];
        let all = run_summary(&sharded_run(RunState::Failed, 4), &pods).unwrap();
        assert_eq!(all.status, Failed);
        assert_eq!(all.pages_fetched, 1 + 2 + 3);
        assert_eq!(
            all.failure.as_deref(),
            Some(
                "shard 1/4: timed out; shard 2/4: cancelled; \
                 shard 3/4 left no summary: pod run-3-2026-11-22T03:00:00Z exited with code 137, Error"
            )
        );
    }

    #[test]
    fn a_shard_without_a_summary_fails_the_run_only_once_it_ends() {
        use gleaner_scrapejob::RunStatus::{Failed, Running, Succeeded};
        let t = "2026-11-22T03:00:00Z";
        let done = shard_line(Succeeded, 5, None);
        // Shard 0 done, shard 1 running, shard 2 not started: the run is running, with the
        // counts of the finished shard.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(Some(1), t, None),
        ];
        let going = run_summary(&sharded_run(RunState::Active, 3), &pods).unwrap();
        assert_eq!(going.status, Running);
        assert_eq!(going.pages_fetched, 5);
        assert_eq!(going.finished_at, None);

        // The Job failed; shard 1's pod wrote nothing readable and shard 2 has no pod.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(
                Some(1),
                t,
                Some((0, Some("Error: the termination log is gone"))),
            ),
        ];
        let all = run_summary(&sharded_run(RunState::Failed, 3), &pods).unwrap();
        assert_eq!(all.status, Failed);
        let failure = all.failure.unwrap();
        assert!(failure.contains("shard 1/3 left no summary"), "{failure}");
        assert!(failure.contains("shard 2/3 has no pod"), "{failure}");
        assert!(!failure.contains("shard 0/3"), "{failure}");

        // The Job completed with every pod there, but shard 1 wrote nothing readable.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(Some(1), t, Some((0, Some("garbage")))),
        ];
        let all = run_summary(&sharded_run(RunState::Succeeded, 2), &pods).unwrap();
        assert_eq!(all.status, Failed);
        assert!(all.failure.unwrap().contains("shard 1/2 left no summary"));

        // The Job completed and shard 1's pod is gone already: Kubernetes' verdict stands
        // (no summary, as for a one-pod run whose pod is gone), not a failure.
        let pods = [shard_pod(Some(0), t, Some((0, Some(done.as_str()))))];
        assert_eq!(
            run_summary(&sharded_run(RunState::Succeeded, 2), &pods),
            None
        );

        // A pod still running after the run ended never finished.
        let all = run_summary(
            &sharded_run(RunState::Failed, 2),
            &[
                shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
                shard_pod(Some(1), t, None),
            ],
        )
        .unwrap();
        assert!(all.failure.unwrap().contains("did not finish"));
    }

    #[test]
    fn each_shard_is_read_from_its_newest_pod() {
        use gleaner_scrapejob::RunStatus::{Cancelled, Succeeded};
        // Shard 1 was evicted (its pod wrote "cancelled") and replaced; the replacement
        // succeeded. Pods without an index or beyond the shard count are not shards.
        let evicted = shard_line(Cancelled, 2, Some("cancelled"));
        let ok = shard_line(Succeeded, 3, None);
        let pods = [
            shard_pod(
                Some(1),
                "2026-11-22T03:10:00Z",
                Some((0, Some(ok.as_str()))),
            ),
            shard_pod(
                Some(1),
                "2026-11-22T03:00:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
            shard_pod(
                Some(0),
                "2026-11-22T03:00:00Z",
                Some((0, Some(ok.as_str()))),
            ),
            shard_pod(
                None,
                "2026-11-22T03:20:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
            shard_pod(
                Some(7),
                "2026-11-22T03:20:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
        ];
        let all = run_summary(&sharded_run(RunState::Succeeded, 2), &pods).unwrap();
        assert_eq!(all.status, Succeeded);
        assert_eq!(all.pages_fetched, 6);
        // The label works as well as the annotation.
        let mut labelled = shard_pod(None, "2026-11-22T03:00:00Z", Some((0, Some(ok.as_str()))));
        labelled.metadata.labels = Some(BTreeMap::from([(
            COMPLETION_INDEX_KEY.to_owned(),
            "0".to_owned(),
        )]));
        let all = run_summary(&sharded_run(RunState::Failed, 1 + 1), &[labelled]).unwrap();
        assert_eq!(all.pages_fetched, 3);
        assert!(all.failure.unwrap().contains("shard 1/2 has no pod"));
    }
}

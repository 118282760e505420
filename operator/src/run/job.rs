//! The Job that runs one run: the scraper's container, its settings and environment, and
//! the pod and Job around it, built from the ScrapeJob and the run alone.

use std::collections::BTreeMap;

use gleaner_scrapejob::env;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::{CONTAINER_NAME, RunRequest, Trigger};
use crate::crd::{
    RUN_ID_LABEL, RUN_NOW_TOKEN_ANNOTATION, SCHEDULED_AT_ANNOTATION, SCRAPEJOB_LABEL, ScrapeJob,
    TRIGGER_ANNOTATION,
};
use crate::schedule::from_utc;

/// The non-root user (and group) the scraper runs as.
pub const RUN_AS_USER: i64 = 65532;
/// Field manager and `app.kubernetes.io/managed-by` value.
pub const MANAGER: &str = "gleaner-operator";

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
            annotations.insert(SCHEDULED_AT_ANNOTATION.to_owned(), from_utc(*t).to_string());
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
        env_var(env::SCRAPEJOB_NAME, name),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ObservedRun;
    use crate::run::tests::scrapejob;

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
}

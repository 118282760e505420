//! The manifests in k8s/operator parse as the Kubernetes types they claim to be, grant
//! exactly the least-privilege rules, and run pods that meet the `restricted` Pod Security
//! Standard, like the run Jobs the operator creates.

use std::collections::BTreeSet;
use std::path::Path;

use gleaner_operator::crd::{ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::run::{RunRequest, RunSettings, Trigger, desired_job};
use gleaner_testkit::pod_security::{rbac_rules, restricted_violations};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::Role;
use serde::Deserialize;
use serde_json::Value;

fn docs(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/operator")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_json::from_value(d.clone()).unwrap_or_else(|e| panic!("{kind}: {e}")))
        .collect()
}

/// What the operator may do in the namespace it watches.
fn operator_rules() -> BTreeSet<String> {
    [
        "gleaner.dev/scrapejobs[]:get",
        "gleaner.dev/scrapejobs[]:list",
        "gleaner.dev/scrapejobs[]:watch",
        "gleaner.dev/scrapejobs[]:patch",
        "gleaner.dev/scrapejobs/status[]:patch",
        "batch/jobs[]:list",
        "batch/jobs[]:watch",
        "batch/jobs[]:create",
        "batch/jobs[]:delete",
        "/pods[]:list",
        "events.k8s.io/events[]:create",
        "events.k8s.io/events[]:patch",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect()
}

#[test]
fn rbac_is_least_privilege_and_namespaced() {
    let docs = docs("rbac.yaml");
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
            .count(),
        0,
        "no cluster-wide grants"
    );
    let role: Role =
        serde_json::from_value(named(&docs, "Role", "gleaner-operator")[0].clone()).unwrap();
    assert_eq!(role.metadata.namespace.as_deref(), Some("gleaner"));
    assert_eq!(rbac_rules(role.rules.as_deref().unwrap()), operator_rules());

    let lease_role: Role =
        serde_json::from_value(named(&docs, "Role", "gleaner-operator-leader-election")[0].clone())
            .unwrap();
    assert_eq!(
        rbac_rules(lease_role.rules.as_deref().unwrap()),
        [
            "coordination.k8s.io/leases[]:create",
            "coordination.k8s.io/leases[gleaner-operator]:get",
            "coordination.k8s.io/leases[gleaner-operator]:update",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    assert_eq!(
        docs.iter().filter(|d| d["kind"] == "RoleBinding").count(),
        2
    );
    for binding in docs.iter().filter(|d| d["kind"] == "RoleBinding") {
        assert_eq!(binding["metadata"]["namespace"], "gleaner");
        assert_eq!(binding["roleRef"]["kind"], "Role");
    }
    // The operator is told to watch only the namespace its Role is in.
    let deployments: Vec<Deployment> = of_kind(&self::docs("deployment.yaml"), "Deployment");
    let env = deployments[0]
        .spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let watch = env.iter().find(|e| e.name == "WATCH_NAMESPACE").unwrap();
    let field = watch
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "metadata.namespace");
    let ns = docs_of_namespace();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

fn docs_of_namespace() -> Value {
    docs("namespace.yaml").remove(0)
}

#[test]
fn operator_deployment_is_restricted_and_wired() {
    let docs = docs("deployment.yaml");
    let deployments: Vec<Deployment> = of_kind(&docs, "Deployment");
    let pod = deployments[0].spec.template.spec.clone().unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let env: BTreeSet<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
    for name in [
        "LISTEN_ADDR",
        "LOG_FORMAT",
        "RUST_LOG",
        "SCRAPER_IMAGE",
        "SCRAPER_ALLOWED_HOSTS",
        "SCRAPER_ALLOWED_NETWORKS",
        "SCRAPER_REDIS_SECRET",
        "WATCH_NAMESPACE",
        "POD_NAME",
        "POD_NAMESPACE",
    ] {
        assert!(env.contains(name), "{name}");
    }
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(path(&c.readiness_probe), "/ready");
    assert_eq!(path(&c.liveness_probe), "/health");
    assert!(c.resources.as_ref().unwrap().limits.is_some());
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("gleaner-operator")
    );
    for kind in ["Service", "PodDisruptionBudget"] {
        assert_eq!(
            docs.iter().filter(|d| d["kind"] == kind).count(),
            1,
            "{kind}"
        );
    }
}

#[test]
fn run_jobs_are_restricted_too() {
    use clap::Parser;
    let mut sj = ScrapeJob::new("x", ScrapeJobSpec::with_targets(Targets::default()));
    sj.metadata.namespace = Some("gleaner".into());
    sj.metadata.uid = Some("u".into());
    let run = RunRequest::new("x", "u", Trigger::Initial);
    let job = desired_job(&sj, &run, &RunSettings::default(), "00-1-2-01").unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    // The run checks where it connects with the operator's own egress settings.
    let env = pod.containers[0].env.clone().unwrap_or_default();
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("{name} not passed to the run"))
    };
    assert_eq!(
        value("SCRAPER_ALLOWED_HOSTS"),
        "openmoney.md,api.openmoney.md"
    );
    assert_eq!(value("SCRAPER_ALLOWED_NETWORKS"), "");

    // The pods of a sharded run, with the Redis Secret the manifests name, are restricted
    // too, and carry no credential as a plain value.
    sj.spec.shards = 4;
    let settings = gleaner_operator::settings::Settings::try_parse_from([
        "operator",
        "--scraper-redis-secret",
        "gleaner-scraper-redis",
    ])
    .unwrap()
    .run_settings();
    let job = desired_job(&sj, &run, &settings, "00-1-2-01").unwrap();
    let spec = job.spec.unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    for e in pod.containers[0].env.iter().flatten() {
        if matches!(e.name.as_str(), "DATABASE_URL" | "REDIS_URL") {
            assert!(e.value.is_none() && e.value_from.is_some(), "{e:?}");
        }
    }
}

/// The chart's NetworkPolicies select run pods by these labels (the chart's tests hold it to
/// the same pairs).
#[test]
fn run_pods_carry_the_labels_the_charts_network_policies_select() {
    let labels = gleaner_operator::run::run_labels("x", "r");
    for (k, v) in [
        ("app.kubernetes.io/component", "scrape-run"),
        ("app.kubernetes.io/managed-by", "gleaner-operator"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "{k}");
    }
}

//! The manifests in k8s/operator parse as the Kubernetes types they claim to be, grant
//! exactly the least-privilege rules, and run pods that meet the `restricted` Pod Security
//! Standard, like the run Jobs the operator creates.

use std::collections::BTreeSet;
use std::path::Path;

use gleaner_operator::crd::{ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::run::{RunRequest, RunSettings, Trigger, desired_job};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde::Deserialize;
use serde_json::Value;

#[path = "support/pod_security.rs"]
mod pod_security;
use pod_security::restricted_violations;

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

fn rule_set(rules: &[PolicyRule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in rules {
        for g in r.api_groups.iter().flatten() {
            for res in r.resources.iter().flatten() {
                for verb in &r.verbs {
                    let names = r.resource_names.clone().unwrap_or_default().join(",");
                    out.insert(format!("{g}/{res}[{names}]:{verb}"));
                }
            }
        }
    }
    out
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

/// The operator's Deployment among the chart's (release `t`).
fn operator_deployment(docs: &[Value]) -> Deployment {
    serde_json::from_value(named(docs, "Deployment", "t-operator")[0].clone()).unwrap()
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
    assert_eq!(rule_set(role.rules.as_deref().unwrap()), operator_rules());

    let lease_role: Role =
        serde_json::from_value(named(&docs, "Role", "gleaner-operator-leader-election")[0].clone())
            .unwrap();
    assert_eq!(
        rule_set(lease_role.rules.as_deref().unwrap()),
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

/// The helm binary: `$HELM`, else ~/.cache/gleaner/tools/bin/helm when present,
/// else `helm` on the PATH.
fn helm() -> std::path::PathBuf {
    if let Some(helm) = std::env::var_os("HELM") {
        return helm.into();
    }
    let cached = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/gleaner/tools/bin/helm"))
        .filter(|p| p.is_file());
    cached.unwrap_or_else(|| "helm".into())
}

/// `helm template` of the chart with `args`; `None` (test skipped) without `helm`.
fn helm_template(args: &[&str]) -> Option<Vec<Value>> {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/gleaner");
    let out = match std::process::Command::new(helm())
        .args(["template", "t"])
        .arg(&chart)
        .args(["--namespace", "gleaner"])
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("helm not installed: chart rendering not checked");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        serde_yaml::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect(),
    )
}

/// The chart renders the same rules, in a Role in the release namespace by default, and a
/// restricted operator pod (skipped without `helm`).
#[test]
fn chart_renders_namespaced_rbac_by_default_and_a_restricted_pod() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
            .count(),
        0
    );
    let role: Role = serde_json::from_value(named(&docs, "Role", "t-operator")[0].clone()).unwrap();
    assert_eq!(role.metadata.namespace.as_deref(), Some("gleaner"));
    assert_eq!(rule_set(role.rules.as_deref().unwrap()), operator_rules());
    assert_eq!(named(&docs, "RoleBinding", "t-operator").len(), 1);
    let pod = operator_deployment(&docs).spec.template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    assert_eq!(pod.service_account_name.as_deref(), Some("t-operator"));
    let env = pod.containers[0].env.clone().unwrap_or_default();
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(value("WATCH_NAMESPACE").as_deref(), Some("gleaner"));
    assert_eq!(
        value("SCRAPER_ALLOWED_HOSTS").as_deref(),
        Some("openmoney.md,api.openmoney.md")
    );

    // Another watched namespace: the Role moves there, the Lease Role stays home.
    let docs = helm_template(&["--set", "operator.watchNamespace=scrapers"]).unwrap();
    let role = named(&docs, "Role", "t-operator")[0];
    assert_eq!(role["metadata"]["namespace"], "scrapers");
    let lease = named(&docs, "Role", "t-operator-leader-election")[0];
    assert_eq!(lease["metadata"]["namespace"], "gleaner");
}

#[test]
fn chart_grants_a_cluster_role_only_when_every_namespace_is_watched() {
    let Some(docs) = helm_template(&["--set", "operator.watchNamespace=*"]) else {
        return;
    };
    let roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    let operator_role: Vec<&ClusterRole> = roles
        .iter()
        .filter(|r| r.metadata.name.as_deref() == Some("t-operator"))
        .collect();
    assert_eq!(operator_role.len(), 1);
    assert_eq!(
        rule_set(operator_role[0].rules.as_deref().unwrap()),
        operator_rules()
    );
    assert_eq!(named(&docs, "ClusterRoleBinding", "t-operator").len(), 1);
    assert!(named(&docs, "Role", "t-operator").is_empty());
    let env = operator_deployment(&docs)
        .spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(env.iter().all(|e| e.name != "WATCH_NAMESPACE"));
}

/// Run pods may reach DNS and public sources by default, never private or metadata ranges,
/// and a rule left without peers is not rendered (it would allow every destination).
#[test]
fn chart_confines_run_pods_with_an_egress_network_policy() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    // With the in-chart PostgreSQL and Redis (the default), runs reach their pods.
    let policy = named(&docs, "NetworkPolicy", "t-scrape-runs")[0];
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 4, "DNS, the database, Redis, sources");
    assert_eq!(
        egress[1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "postgresql"
    );
    assert_eq!(
        egress[2]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "redis"
    );

    // An external database and Redis without peers: those rules are left out.
    let external = [
        "--set",
        "postgresql.enabled=false,externalDatabase.existingSecret=db",
        "--set",
        "redis.enabled=false,externalRedis.existingSecret=redis",
    ];
    let docs = helm_template(&external).unwrap();
    let policy = named(&docs, "NetworkPolicy", "t-scrape-runs")[0];
    // A valid NetworkPolicy object, not just YAML.
    let typed: k8s_openapi::api::networking::v1::NetworkPolicy =
        serde_json::from_value(policy.clone()).unwrap();
    assert_eq!(typed.spec.unwrap().egress.unwrap().len(), 2);
    assert_eq!(policy["metadata"]["namespace"], "gleaner");
    // It selects the pods of the Jobs the operator creates.
    let selector = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap();
    let labels = gleaner_operator::run::run_labels("x", "r");
    for (k, v) in selector {
        assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "{k}");
    }
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(policy["spec"]["ingress"], serde_json::json!([]));
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "DNS and sources; database and Redis unset");
    for rule in egress {
        assert!(!rule["to"].as_array().unwrap().is_empty(), "{rule}");
    }
    let except: Vec<&str> = egress[1]["to"][0]["ipBlock"]["except"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for range in [
        "10.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
    ] {
        assert!(except.contains(&range), "{range}");
    }

    let docs = helm_template(&[
        external[0],
        external[1],
        external[2],
        external[3],
        "--set",
        "scrapeRuns.networkPolicy.database.to[0].ipBlock.cidr=10.1.2.3/32",
    ])
    .unwrap();
    let policy = named(&docs, "NetworkPolicy", "t-scrape-runs")[0];
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3);
    assert_eq!(egress[1]["to"][0]["ipBlock"]["cidr"], "10.1.2.3/32");
    assert_eq!(egress[1]["ports"][0]["port"], 5432);
}

#[test]
fn chart_defaults_to_production_and_refuses_unknown_environments() {
    let Some(_) = helm_template(&[]) else {
        return;
    };
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/gleaner");
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let values: Value = serde_yaml::from_str(&values).unwrap();
    assert_eq!(values["environment"], "production");
    let out = std::process::Command::new(helm())
        .args(["template", "t"])
        .arg(&chart)
        .args(["--set", "environment=dev"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

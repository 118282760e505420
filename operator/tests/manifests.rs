//! The manifests in k8s/operator parse as the Kubernetes types they claim to be, grant
//! exactly the least-privilege rules, and run pods that meet the `restricted` Pod Security
//! Standard, like the run Jobs the operator creates.

use std::collections::BTreeSet;
use std::path::Path;

use gleaner_operator::crd::{ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::run::{RunRequest, RunSettings, Trigger, desired_job};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
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

/// Everything the `restricted` Pod Security Standard asks of a pod, as a list of violations.
fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut v = Vec::new();
    let psc = pod.security_context.clone().unwrap_or_default();
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        v.push("host namespaces".to_owned());
    }
    for vol in pod.volumes.iter().flatten() {
        if vol.host_path.is_some() {
            v.push(format!("hostPath volume {}", vol.name));
        }
    }
    for c in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        let sc = c.security_context.clone().unwrap_or_default();
        if sc.privileged == Some(true) {
            v.push(format!("{}: privileged", c.name));
        }
        if sc.allow_privilege_escalation != Some(false) {
            v.push(format!(
                "{}: allowPrivilegeEscalation must be false",
                c.name
            ));
        }
        let drops = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.drop.clone())
            .unwrap_or_default();
        if !drops.iter().any(|d| d == "ALL") {
            v.push(format!("{}: capabilities must drop ALL", c.name));
        }
        let adds = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.clone())
            .unwrap_or_default();
        if adds.iter().any(|a| a != "NET_BIND_SERVICE") {
            v.push(format!("{}: adds capabilities", c.name));
        }
        if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
            v.push(format!("{}: runAsNonRoot", c.name));
        }
        if sc.run_as_user.or(psc.run_as_user) == Some(0) {
            v.push(format!("{}: runs as root", c.name));
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .or(psc.seccomp_profile.as_ref())
            .map(|s| s.type_.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            v.push(format!("{}: seccompProfile", c.name));
        }
        for p in c.ports.iter().flatten() {
            if p.host_port.is_some() {
                v.push(format!("{}: hostPort", c.name));
            }
        }
    }
    v
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

#[test]
fn rbac_is_least_privilege() {
    let docs = docs("rbac.yaml");
    let roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    assert_eq!(roles.len(), 1);
    let expected: BTreeSet<String> = [
        "gleaner.dev/scrapejobs[]:get",
        "gleaner.dev/scrapejobs[]:list",
        "gleaner.dev/scrapejobs[]:watch",
        "gleaner.dev/scrapejobs[]:patch",
        "gleaner.dev/scrapejobs/status[]:patch",
        "gleaner.dev/scrapejobs/status[]:update",
        "batch/jobs[]:get",
        "batch/jobs[]:list",
        "batch/jobs[]:watch",
        "batch/jobs[]:create",
        "batch/jobs[]:delete",
        "/pods[]:get",
        "/pods[]:list",
        "events.k8s.io/events[]:create",
        "events.k8s.io/events[]:patch",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(rule_set(roles[0].rules.as_deref().unwrap()), expected);

    let lease_roles: Vec<Role> = of_kind(&docs, "Role");
    assert_eq!(
        rule_set(lease_roles[0].rules.as_deref().unwrap()),
        [
            "coordination.k8s.io/leases[]:create",
            "coordination.k8s.io/leases[gleaner-operator]:get",
            "coordination.k8s.io/leases[gleaner-operator]:update",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    for kind in ["ServiceAccount", "ClusterRoleBinding", "RoleBinding"] {
        assert_eq!(
            docs.iter().filter(|d| d["kind"] == kind).count(),
            1,
            "{kind}"
        );
    }
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
    let mut sj = ScrapeJob::new("x", ScrapeJobSpec::with_targets(Targets::default()));
    sj.metadata.namespace = Some("gleaner".into());
    sj.metadata.uid = Some("u".into());
    let run = RunRequest::new("x", "u", Trigger::Initial);
    let job = desired_job(&sj, &run, &RunSettings::default(), "00-1-2-01").unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
}

/// The chart renders the same rules and a restricted operator pod (skipped without `helm`).
#[test]
fn chart_renders_the_same_rbac_and_a_restricted_pod() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/gleaner");
    let out = match std::process::Command::new("helm")
        .args(["template", "t"])
        .arg(&chart)
        .args(["--namespace", "gleaner"])
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("helm not installed: chart rendering not checked");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| v["metadata"]["labels"]["app.kubernetes.io/name"] == "gleaner-operator")
        .collect();
    let chart_roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    let plain_roles: Vec<ClusterRole> = of_kind(&self::docs("rbac.yaml"), "ClusterRole");
    assert_eq!(
        rule_set(chart_roles[0].rules.as_deref().unwrap()),
        rule_set(plain_roles[0].rules.as_deref().unwrap())
    );
    let deployments: Vec<Deployment> = of_kind(&docs, "Deployment");
    let pod = deployments[0].spec.template.spec.clone().unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    assert_eq!(pod.service_account_name.as_deref(), Some("t-operator"));
}

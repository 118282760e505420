//! The operator as the chart installs it: the same RBAC rules as the plain manifests
//! (k8s/operator), namespaced unless every namespace is watched; a restricted pod; run pods
//! confined by a NetworkPolicy; production unless told otherwise.

use std::collections::{BTreeMap, BTreeSet};

use gleaner_chart_tests::{have_helm, render, try_render, yaml_docs, yaml_file};
use gleaner_testkit::pod_security::{rbac_rules, restricted_violations};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde_json::Value;

/// The labels the operator puts on every run pod (its tests check it does), which the chart's
/// NetworkPolicies select run pods by.
const RUN_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/component", "scrape-run"),
    ("app.kubernetes.io/managed-by", "gleaner-operator"),
];

fn of_kind<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_json::from_value(d.clone()).unwrap_or_else(|e| panic!("{kind}: {e}")))
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect()
}

/// What the operator may do in the namespace it watches, as the plain manifests grant it
/// (the operator's own tests hold those to the least privilege it needs).
fn plain_manifest_rules() -> BTreeSet<String> {
    let docs = yaml_docs("k8s/operator/rbac.yaml");
    let role: Role = serde_json::from_value(named(&docs, "Role", "gleaner-operator")[0].clone())
        .unwrap_or_else(|e| panic!("k8s/operator/rbac.yaml: {e}"));
    rbac_rules(role.rules.as_deref().unwrap_or_default())
}

/// The operator's Deployment among the chart's.
fn operator_deployment(docs: &[Value]) -> Deployment {
    serde_json::from_value(named(docs, "Deployment", "gleaner-operator")[0].clone()).unwrap()
}

/// The chart grants the rules of the plain manifests (k8s/operator), in a Role in the release namespace by default, and a
/// restricted operator pod (skipped without `helm`).
#[test]
fn chart_renders_namespaced_rbac_by_default_and_a_restricted_pod() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
            .count(),
        0
    );
    let role: Role =
        serde_json::from_value(named(&docs, "Role", "gleaner-operator")[0].clone()).unwrap();
    assert_eq!(role.metadata.namespace.as_deref(), Some("gleaner"));
    assert_eq!(
        rbac_rules(role.rules.as_deref().unwrap()),
        plain_manifest_rules()
    );
    assert_eq!(named(&docs, "RoleBinding", "gleaner-operator").len(), 1);
    let pod = operator_deployment(&docs).spec.template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("gleaner-operator")
    );
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
    let docs = render(None, &["--set", "operator.watchNamespace=scrapers"]);
    let role = named(&docs, "Role", "gleaner-operator")[0];
    assert_eq!(role["metadata"]["namespace"], "scrapers");
    let lease = named(&docs, "Role", "gleaner-operator-leader-election")[0];
    assert_eq!(lease["metadata"]["namespace"], "gleaner");
}

#[test]
fn chart_grants_a_cluster_role_only_when_every_namespace_is_watched() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &["--set", "operator.watchNamespace=*"]);
    let roles: Vec<ClusterRole> = of_kind(&docs, "ClusterRole");
    let operator_role: Vec<&ClusterRole> = roles
        .iter()
        .filter(|r| r.metadata.name.as_deref() == Some("gleaner-operator"))
        .collect();
    assert_eq!(operator_role.len(), 1);
    assert_eq!(
        rbac_rules(operator_role[0].rules.as_deref().unwrap()),
        plain_manifest_rules()
    );
    assert_eq!(
        named(&docs, "ClusterRoleBinding", "gleaner-operator").len(),
        1
    );
    assert!(named(&docs, "Role", "gleaner-operator").is_empty());
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
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    // With the in-chart PostgreSQL and Redis (the default), runs reach their pods.
    let policy = named(&docs, "NetworkPolicy", "gleaner-scrape-runs")[0];
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
    let docs = render(None, &external);
    let policy = named(&docs, "NetworkPolicy", "gleaner-scrape-runs")[0];
    // A valid NetworkPolicy object, not just YAML.
    let typed: k8s_openapi::api::networking::v1::NetworkPolicy =
        serde_json::from_value(policy.clone()).unwrap();
    assert_eq!(typed.spec.unwrap().egress.unwrap().len(), 2);
    assert_eq!(policy["metadata"]["namespace"], "gleaner");
    // It selects the pods of the Jobs the operator creates.
    let selector = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap();
    let selected: BTreeMap<&str, &str> = selector
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
        .collect();
    assert_eq!(selected, BTreeMap::from(RUN_POD_LABELS));
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

    let docs = render(
        None,
        &[
            external[0],
            external[1],
            external[2],
            external[3],
            "--set",
            "scrapeRuns.networkPolicy.database.to[0].ipBlock.cidr=10.1.2.3/32",
        ],
    );
    let policy = named(&docs, "NetworkPolicy", "gleaner-scrape-runs")[0];
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3);
    assert_eq!(egress[1]["to"][0]["ipBlock"]["cidr"], "10.1.2.3/32");
    assert_eq!(egress[1]["ports"][0]["port"], 5432);
}

#[test]
fn chart_defaults_to_production_and_refuses_unknown_environments() {
    if !have_helm() {
        return;
    }
    let values = yaml_file("charts/gleaner/values.yaml");
    assert_eq!(values["environment"], "production");
    assert!(try_render(None, &["--set", "environment=dev"]).is_err());
}

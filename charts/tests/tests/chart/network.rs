//! NetworkPolicies: all traffic to and from the release's pods is denied, then exactly the
//! flows that exist are allowed.

use std::collections::BTreeSet;

use gleaner_chart_tests::{get, have_helm, name_of, pod_of, render, set, typed};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;

/// The components a policy lets in, by peer: a component label, or `ns:<name>` for a
/// namespace-only peer.
fn allowed_from(policy: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
        for peer in rule["from"].as_array().into_iter().flatten() {
            let component = &peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"];
            if let Some(c) = component.as_str() {
                out.insert(c.to_owned());
            } else if let Some(ns) =
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str()
            {
                out.insert(format!("ns:{ns}"));
            } else {
                out.insert(format!("other:{peer}"));
            }
        }
    }
    out
}

#[test]
fn network_policies_allow_exactly_the_flows_that_exist() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let deny: NetworkPolicy = typed(get(&docs, "NetworkPolicy", "gleaner-default-deny"));
    let spec = deny.spec.unwrap();
    assert_eq!(spec.ingress, None);
    assert_eq!(spec.egress, None);
    assert_eq!(
        spec.policy_types.unwrap(),
        ["Ingress".to_owned(), "Egress".to_owned()]
    );
    let expect = [
        ("gateway", set(&["ns:ingress-nginx", "ns:monitoring"])),
        (
            "identity",
            set(&["gateway", "scraper", "app", "ns:monitoring"]),
        ),
        ("scraper", set(&["gateway", "app", "ns:monitoring"])),
        ("app", set(&["gateway", "ns:monitoring"])),
        ("operator", set(&["ns:monitoring"])),
        (
            "postgresql",
            set(&["identity", "scraper", "app", "migrate", "scrape-run"]),
        ),
        (
            "redis",
            set(&["gateway", "identity", "scraper", "app", "scrape-run"]),
        ),
        ("migrate", set(&[])),
        ("keygen", set(&[])),
    ];
    for (component, from) in &expect {
        let policy = get(&docs, "NetworkPolicy", &format!("gleaner-{component}"));
        assert_eq!(&allowed_from(policy), from, "{component}");
        let selector = &policy["spec"]["podSelector"]["matchLabels"];
        assert_eq!(selector["app.kubernetes.io/component"], *component);
        // Every egress rule names its peers (an empty `to` would allow everything).
        for rule in policy["spec"]["egress"].as_array().into_iter().flatten() {
            assert!(
                rule["to"].as_array().is_some_and(|t| !t.is_empty()),
                "{component}: {rule}"
            );
        }
    }
    // Every pod the chart runs is covered by a policy of its own.
    let covered: BTreeSet<&str> = expect.iter().map(|(c, _)| *c).collect();
    for doc in &docs {
        if pod_of(doc).is_some() {
            let labels = if doc["kind"] == "Job" {
                &doc["spec"]["template"]["metadata"]["labels"]
            } else {
                &doc["spec"]["selector"]["matchLabels"]
            };
            let component =
                doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                    .as_str()
                    .unwrap_or_default();
            assert_eq!(labels["app.kubernetes.io/instance"], "gleaner");
            assert!(covered.contains(component), "{}: {component}", name_of(doc));
        }
    }
    // The operator and the app reach the API server; the gateway does not.
    let egress_ports = |component: &str| -> BTreeSet<String> {
        get(&docs, "NetworkPolicy", &format!("gleaner-{component}"))["spec"]["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
            .map(|p| p["port"].to_string())
            .collect()
    };
    assert!(egress_ports("operator").contains("6443"));
    assert!(egress_ports("app").contains("6443"));
    assert!(!egress_ports("gateway").contains("6443"));
    assert!(!egress_ports("identity").contains("443"));
    // The kind cluster lets runs and the scraper reach the demo site.
    let docs = render(Some("values-kind.yaml"), &[]);
    let demo = get(&docs, "NetworkPolicy", "gleaner-demo-site");
    assert_eq!(allowed_from(demo), set(&["scraper", "scrape-run"]));
}

#[test]
fn the_app_delivers_webhooks_to_public_https_endpoints_only_by_default() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let env = gleaner_chart_tests::env_of(&docs, "gleaner-app");
    assert_eq!(env["WEBHOOK_ALLOWED_NETWORKS"].as_deref(), Some(""));
    assert_eq!(env["WEBHOOK_ALLOW_HTTP"].as_deref(), Some("false"));
    assert_eq!(env["WEBHOOK_CONCURRENCY"].as_deref(), Some("16"));
    let policy = get(&docs, "NetworkPolicy", "gleaner-app");
    let rule = policy["spec"]["egress"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["to"][0]["ipBlock"]["except"].is_array())
        .expect("an egress rule to public addresses");
    assert_eq!(rule["to"][0]["ipBlock"]["cidr"], "0.0.0.0/0");
    assert_eq!(
        rule["ports"],
        serde_json::json!([{"port": 443, "protocol": "TCP"}])
    );
    let except: BTreeSet<String> = rule["to"][0]["ipBlock"]["except"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    for private in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
    ] {
        assert!(except.contains(private), "{private}: {except:?}");
    }
    // Set by value: networks, http, and no egress rule at all when `to` is emptied.
    let docs = render(
        None,
        &[
            "--set",
            "app.webhooks.allowHttp=true",
            "--set",
            "app.webhooks.allowedNetworks=10.20.0.0/16",
            "--set-json",
            "networkPolicy.webhooks.to=[]",
        ],
    );
    let env = gleaner_chart_tests::env_of(&docs, "gleaner-app");
    assert_eq!(env["WEBHOOK_ALLOW_HTTP"].as_deref(), Some("true"));
    assert_eq!(
        env["WEBHOOK_ALLOWED_NETWORKS"].as_deref(),
        Some("10.20.0.0/16")
    );
    let policy = get(&docs, "NetworkPolicy", "gleaner-app");
    let webhook_rules = policy["spec"]["egress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["to"][0]["ipBlock"]["except"].is_array())
        .count();
    assert_eq!(webhook_rules, 0, "{policy}");
}

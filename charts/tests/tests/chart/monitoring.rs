//! Monitoring: the dashboards and alerts use only the metrics the services and the
//! operator expose, and load the way the chart says.

use std::collections::BTreeSet;

use gleaner_chart_tests::{env_of, find, get, have_helm, render, set};
use serde_json::Value;

/// The metrics the services and the operator expose (histograms also as `_bucket`,
/// `_count`, `_sum`).
const METRICS: [&str; 17] = [
    "http_requests_total",
    "http_request_duration_seconds",
    "gateway_rate_limited_total",
    "gateway_upstream_errors_total",
    "identity_logins_total",
    "identity_tokens_issued_total",
    "scraper_documents_fetched_total",
    "scraper_fetch_duration_seconds",
    "scraper_bytes_fetched_total",
    "scraper_companies_written_total",
    "scraper_transform_errors_total",
    "scraper_runs_total",
    "scraper_run_duration_seconds",
    "operator_reconciles_total",
    "operator_reconcile_duration_seconds",
    "operator_scrapejobs",
    // Prometheus' own scrape health.
    "up",
];

/// The metric names an expression uses (identifiers followed by `{`, `[`, `)` or a space
/// that look like metrics: containing `_` and not a PromQL function or label).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_braces = 0;
    let mut token = String::new();
    let mut in_string = false;
    for ch in expr.chars().chain([' ']) {
        if ch == '"' {
            in_string = !in_string;
            token.clear();
            continue;
        }
        if in_string {
            continue;
        }
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == ':' {
            token.push(ch);
            continue;
        }
        if in_braces == 0 && !token.is_empty() && ch != '(' && token.contains('_') {
            out.insert(token.clone());
        }
        token.clear();
        match ch {
            '{' => in_braces += 1,
            '}' => in_braces -= 1,
            _ => {}
        }
    }
    // Label names after `by (` / `without (`, and durations, are not metrics.
    out.retain(|t| !t.chars().next().is_some_and(|c| c.is_ascii_digit()));
    out
}

fn known_metric(name: &str) -> bool {
    let base = ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    METRICS.contains(&base) || METRICS.contains(&name)
}

/// Label names used in `by (...)` clauses are identifiers too; keep only metric-looking ones.
fn unknown_metrics(expr: &str) -> Vec<String> {
    let by_labels: BTreeSet<&str> = [
        "le",
        "service",
        "route",
        "status",
        "method",
        "scope",
        "upstream",
        "kind",
        "result",
        "source",
        "outcome",
        "change",
        "phase",
        "instance",
        "job",
        "namespace",
    ]
    .into_iter()
    .collect();
    metric_names(expr)
        .into_iter()
        .filter(|m| !by_labels.contains(m.as_str()) && !known_metric(m))
        .collect()
}

#[test]
fn dashboards_use_the_exposed_metrics_and_load_through_the_sidecar() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let maps: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ConfigMap" && d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    let mut titles = BTreeSet::new();
    let mut used = BTreeSet::new();
    for map in maps {
        for (file, json) in map["data"].as_object().unwrap() {
            let dash: Value = serde_json::from_str(json.as_str().unwrap())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            titles.insert(dash["title"].as_str().unwrap().to_owned());
            let panels = dash["panels"].as_array().unwrap();
            assert!(panels.len() >= 6, "{file}");
            for panel in panels {
                for target in panel["targets"].as_array().unwrap() {
                    let expr = target["expr"].as_str().unwrap();
                    let names = metric_names(expr);
                    assert!(names.iter().any(|m| known_metric(m)), "{file}: {expr}");
                    assert_eq!(
                        unknown_metrics(expr),
                        Vec::<String>::new(),
                        "{file}: {expr}"
                    );
                    used.extend(names.into_iter().filter(|m| known_metric(m)));
                }
            }
        }
    }
    assert_eq!(
        titles,
        set(&[
            "Gleaner / Operator",
            "Gleaner / Platform overview",
            "Gleaner / Scraping"
        ])
    );
    // Every exposed metric is on some dashboard.
    for metric in &METRICS[..METRICS.len() - 1] {
        assert!(
            used.iter().any(|u| u.starts_with(metric)),
            "{metric} is on no dashboard"
        );
    }
    let minimal = render(Some("values-minimal.yaml"), &[]);
    assert!(minimal.iter().all(
        |d| d["kind"] != "ConfigMap" || d["metadata"]["labels"]["grafana_dashboard"].is_null()
    ));
}

#[test]
fn alerts_cover_the_failure_modes_with_exposed_metrics() {
    if !have_helm() {
        return;
    }
    let docs = render(Some("values-monitoring.yaml"), &[]);
    let rule = get(&docs, "PrometheusRule", "gleaner");
    let mut alerts = BTreeSet::new();
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for r in group["rules"].as_array().unwrap() {
            let expr = r["expr"].as_str().unwrap();
            assert_eq!(unknown_metrics(expr), Vec::<String>::new(), "{expr}");
            assert!(r["labels"]["severity"].is_string());
            alerts.insert(r["alert"].as_str().unwrap().to_owned());
        }
    }
    for alert in [
        "GleanerServiceDown",
        "GleanerHighErrorRatio",
        "GleanerRunsFailing",
        "GleanerOperatorReconcileErrors",
        "GleanerRateLimiting",
    ] {
        assert!(alerts.contains(alert), "{alert}");
    }
    // A ServiceMonitor per service and the operator, on the port that serves /metrics.
    for component in ["gateway", "identity", "scraper", "app", "operator"] {
        let sm = get(&docs, "ServiceMonitor", &format!("gleaner-{component}"));
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    }
    // Traces go to the in-chart collector.
    assert!(find(&docs, "Deployment", "gleaner-otel-collector").is_some());
    assert_eq!(
        env_of(&docs, "gleaner-scraper")["OTEL_EXPORTER_OTLP_ENDPOINT"].as_deref(),
        Some("http://gleaner-otel-collector:4317")
    );
    // Without monitoring: no Prometheus Operator objects (their CRDs may be missing).
    let docs = render(None, &[]);
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"] != "monitoring.coreos.com/v1")
    );
    assert_eq!(
        env_of(&docs, "gleaner-scraper")["OTEL_SDK_DISABLED"].as_deref(),
        Some("true")
    );
}

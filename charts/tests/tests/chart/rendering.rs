//! Rendering: every value set lints strictly and renders valid Kubernetes objects, each
//! optional part switches on and off on its own, the minimal set renders only what it
//! needs, the schema refuses what it should, the CRD is the generated one, and the dev
//! cluster's files fit the chart.

use std::collections::BTreeSet;
use std::process::Command;

use gleaner_chart_tests::{
    VALUE_SETS, chart_dir, env_of, find, get, have_helm, helm, name_of, render, repo_root,
    schema_problems, set, try_render, typed, yaml_file,
};
use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;

#[test]
fn every_value_set_lints_strictly() {
    if !have_helm() {
        return;
    }
    for values in VALUE_SETS {
        let mut cmd = Command::new(helm());
        cmd.args(["lint", "--strict"]).arg(chart_dir());
        if let Some(file) = values {
            cmd.arg("-f").arg(chart_dir().join(file));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{values:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_rendered_object_is_a_valid_kubernetes_object() {
    if !have_helm() {
        return;
    }
    for values in VALUE_SETS {
        let docs = render(values, &[]);
        assert!(docs.len() > 20, "{values:?}: {} objects", docs.len());
        let problems: Vec<String> = docs.iter().flat_map(schema_problems).collect();
        assert_eq!(problems, Vec::<String>::new(), "{values:?}");
        let mut seen = BTreeSet::new();
        for d in &docs {
            let key = format!("{}/{}", d["metadata"]["namespace"], name_of(d));
            assert!(seen.insert(key.clone()), "{values:?}: {key} twice");
        }
    }
}

#[test]
fn minimal_renders_only_what_is_needed() {
    if !have_helm() {
        return;
    }
    let docs = render(Some("values-minimal.yaml"), &[]);
    for kind in [
        "NetworkPolicy",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(docs.iter().all(|d| d["kind"] != kind), "{kind}");
    }
    let deployments: BTreeSet<String> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(name_of)
        .collect();
    assert_eq!(
        deployments,
        set(&[
            "Deployment/gleaner-app",
            "Deployment/gleaner-gateway",
            "Deployment/gleaner-identity",
            "Deployment/gleaner-operator",
            "Deployment/gleaner-scraper",
        ])
    );
}

#[test]
fn the_schema_refuses_unknown_settings_and_unpinned_images() {
    if !have_helm() {
        return;
    }
    for bad in [
        "gateway.replicaz=2",
        "image.tag=latest",
        "postgresql.image=postgres",
        "logFormat=xml",
        "gateway.port=0",
    ] {
        assert!(
            try_render(None, &["--set", bad]).is_err(),
            "{bad} was accepted"
        );
    }
}

#[test]
fn the_charts_crd_is_the_generated_one() {
    let generated = gleaner_scrapejob::crd::crd_yaml().unwrap();
    let path = repo_root().join("charts/gleaner/crds/scrapejob.yaml");
    let chart = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        chart == generated,
        "charts/gleaner/crds/scrapejob.yaml differs from the generated CRD; regenerate with \
         `cargo run -p gleaner-operator --bin crdgen > charts/gleaner/crds/scrapejob.yaml`"
    );
}

#[test]
fn the_strict_check_catches_a_field_kubernetes_would_drop() {
    let doc = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "readinessprobe": {}}]}
            }
        }
    });
    assert_eq!(
        schema_problems(&doc),
        ["Deployment/x: unknown field .spec.template.spec.containers[0].readinessprobe"]
    );
}

/// The dev cluster: kind's node takes the ingress ports, the namespace enforces
/// `restricted` with the chart's labels, and skaffold installs the chart with the kind
/// values under the release name the sample ScrapeJob expects.
#[test]
fn the_dev_cluster_files_fit_the_chart() {
    let kind = yaml_file("kind-config.yaml");
    let node = &kind["nodes"][0];
    assert!(
        node["kubeadmConfigPatches"][0]
            .as_str()
            .unwrap()
            .contains("ingress-ready=true")
    );
    let ports: BTreeSet<i64> = node["extraPortMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["hostPort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [80, 443].into_iter().collect());

    let ns: Namespace = typed(&yaml_file("k8s/dev/namespace.yaml"));
    let values = yaml_file("charts/gleaner/values.yaml");
    for (k, v) in values["namespace"]["labels"].as_object().unwrap() {
        assert_eq!(
            ns.metadata
                .labels
                .as_ref()
                .unwrap()
                .get(k)
                .map(String::as_str),
            v.as_str(),
            "{k}"
        );
    }

    let skaffold = yaml_file("skaffold.yaml");
    let release = &skaffold["deploy"]["helm"]["releases"][0];
    assert_eq!(release["name"], "gleaner");
    assert_eq!(release["chartPath"], "charts/gleaner");
    assert_eq!(release["valuesFiles"][0], "charts/gleaner/values-kind.yaml");
    let images_of = |artifacts: &Value| -> BTreeSet<String> {
        artifacts
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["image"].as_str().map(str::to_owned))
            .collect()
    };
    let images = images_of(&skaffold["build"]["artifacts"]);
    let docker = images_of(&skaffold["profiles"][0]["patches"][0]["value"]);
    let expected: BTreeSet<String> = [
        "gateway",
        "identity",
        "scraper",
        "app",
        "operator",
        "demo-site",
    ]
    .iter()
    .map(|n| format!("localhost/gleaner/{n}"))
    .collect();
    assert_eq!(images, expected);
    assert_eq!(docker, expected);
    let kind_values = yaml_file("charts/gleaner/values-kind.yaml");
    assert_eq!(kind_values["image"]["registry"], "localhost/gleaner");
    // The samples that use the demo site name the Service the kind values create.
    for sample in ["scrapejob-demo.yaml", "scrapejob-sharded.yaml"] {
        let demo = yaml_file(&format!("k8s/examples/{sample}"));
        let host = demo["spec"]["baseUrl"].as_str().unwrap();
        assert_eq!(host, "http://gleaner-demo-site:8090", "{sample}");
    }
    assert!(
        kind_values["operator"]["scraper"]["allowedHosts"]
            .as_str()
            .unwrap()
            .contains("gleaner-demo-site:8090")
    );
}

/// Each optional part on or off on its own still renders valid objects.
#[test]
fn optional_parts_switch_independently() {
    if !have_helm() {
        return;
    }
    for set in [
        "operator.enabled=false",
        "gateway.enabled=false",
        "identity.enabled=false",
        "app.enabled=false",
        "scraper.enabled=false",
        "demoSite.enabled=true",
        "otelCollector.enabled=true",
        "otel.endpoint=http://collector.observability:4317",
        "operator.watchNamespace=scrapers,namespace.create=true",
        "jwt.signingKey.existingSecret=my-key,admin.existingSecret=my-admin",
        "ingress.host=gleaner.example.com,ingress.tls[0].secretName=tls,ingress.tls[0].hosts[0]=gleaner.example.com",
        "identity.autoscaling.enabled=true,gateway.autoscaling.enabled=true",
    ] {
        let docs = render(None, &["--set", set]);
        let problems: Vec<String> = docs.iter().flat_map(schema_problems).collect();
        assert_eq!(problems, Vec::<String>::new(), "{set}");
    }
    // With the operator off, the app keeps jobs in its database and needs no API access.
    let docs = render(None, &["--set", "operator.enabled=false"]);
    assert_eq!(
        env_of(&docs, "gleaner-app")["APP_JOBS_BACKEND"].as_deref(),
        Some("database")
    );
    assert!(find(&docs, "ServiceAccount", "gleaner-app").is_none());
    // Another watched namespace: run pods there may reach the database here.
    let docs = render(None, &["--set", "operator.watchNamespace=scrapers"]);
    let pg = get(&docs, "NetworkPolicy", "gleaner-postgresql");
    let from = pg["spec"]["ingress"][0]["from"].as_array().unwrap();
    let runs = from
        .iter()
        .find(|p| p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "scrape-run")
        .unwrap();
    assert_eq!(
        runs["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "scrapers"
    );
    let secret = get(&docs, "Secret", "gleaner-scraper-db");
    assert_eq!(secret["metadata"]["namespace"], "scrapers");
}

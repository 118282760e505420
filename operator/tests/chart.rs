//! The Helm chart (charts/gleaner), rendered with every value set it ships: each object is
//! the Kubernetes type it claims to be with no field Kubernetes would drop, each pod meets
//! the `restricted` Pod Security Standard with resources, probes and pinned images, secrets
//! only come from Secrets, the NetworkPolicies allow exactly Gleaner's flows, and the
//! dashboards and alerts use the metric names of the contract.
//!
//! Needs `helm` (`scripts/install-tools.sh`): `$HELM`, else ~/.cache/gleaner/tools/bin/helm,
//! else `helm` on the PATH. Without it the tests are skipped, unless
//! `GLEANER_REQUIRE_HELM=1` (what `make chart` sets) makes that a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[path = "support/pod_security.rs"]
mod pod_security;
use pod_security::restricted_violations;

/// The value sets shipped next to values.yaml (None: the defaults alone).
const VALUE_SETS: [Option<&str>; 5] = [
    None,
    Some("values-kind.yaml"),
    Some("values-external.yaml"),
    Some("values-monitoring.yaml"),
    Some("values-minimal.yaml"),
];

/// The metric names of contract §9 (histograms also as `_bucket`, `_count`, `_sum`).
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

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/gleaner")
}

fn helm() -> PathBuf {
    if let Some(helm) = std::env::var_os("HELM") {
        return helm.into();
    }
    std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/gleaner/tools/bin/helm"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "helm".into())
}

/// Whether helm runs here; panics when it does not and `GLEANER_REQUIRE_HELM=1`.
fn have_helm() -> bool {
    let ok = Command::new(helm())
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("GLEANER_REQUIRE_HELM").as_deref() != Ok("1"),
            "helm is required (scripts/install-tools.sh)"
        );
        eprintln!("helm not installed: chart not checked");
    }
    ok
}

/// `helm template gleaner` with a value set and extra arguments: Ok(objects) or Err(stderr).
fn try_render(values: Option<&str>, args: &[&str]) -> Result<Vec<Value>, String> {
    let chart = chart_dir();
    let mut cmd = Command::new(helm());
    cmd.args(["template", "gleaner"])
        .arg(&chart)
        .args(["--namespace", "gleaner"]);
    if let Some(file) = values {
        cmd.arg("-f").arg(chart.join(file));
    }
    let out = cmd.args(args).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).map_err(|e| e.to_string()))
        .filter(|v| !matches!(v, Ok(Value::Null)))
        .collect()
}

fn render(values: Option<&str>, args: &[&str]) -> Vec<Value> {
    try_render(values, args).unwrap_or_else(|e| panic!("helm template {values:?} {args:?}: {e}"))
}

fn name_of(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn get<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(docs, kind, name).unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn typed<T: DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", name_of(doc)))
}

/// Paths present in `original` but missing from `round_trip`: fields the typed
/// deserialisation dropped, i.e. fields Kubernetes does not know.
fn dropped_fields(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let here = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => dropped_fields(v, w, &here, out),
                    None if v.is_null() => {}
                    None => out.push(here),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped_fields(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Deserialises `doc` as `T` and serialises it back; every field must survive.
fn strictly<T: DeserializeOwned + serde::Serialize>(doc: &Value) -> Vec<String> {
    let value: T = typed(doc);
    let back = serde_json::to_value(&value).unwrap_or_else(|e| panic!("{}: {e}", name_of(doc)));
    let mut out = Vec::new();
    dropped_fields(doc, &back, "", &mut out);
    out.into_iter()
        .map(|p| format!("{}: unknown field {p}", name_of(doc)))
        .collect()
}

/// Every problem with one rendered object's schema.
fn schema_problems(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    match (api, kind) {
        ("apps/v1", "Deployment") => strictly::<Deployment>(doc),
        ("apps/v1", "StatefulSet") => strictly::<StatefulSet>(doc),
        ("batch/v1", "Job") => strictly::<Job>(doc),
        ("v1", "Service") => strictly::<Service>(doc),
        ("v1", "ConfigMap") => strictly::<ConfigMap>(doc),
        ("v1", "Secret") => strictly::<Secret>(doc),
        ("v1", "ServiceAccount") => strictly::<ServiceAccount>(doc),
        ("v1", "Namespace") => strictly::<Namespace>(doc),
        ("networking.k8s.io/v1", "NetworkPolicy") => strictly::<NetworkPolicy>(doc),
        ("networking.k8s.io/v1", "Ingress") => strictly::<Ingress>(doc),
        ("policy/v1", "PodDisruptionBudget") => strictly::<PodDisruptionBudget>(doc),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => strictly::<HorizontalPodAutoscaler>(doc),
        ("rbac.authorization.k8s.io/v1", "Role") => strictly::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => strictly::<RoleBinding>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => strictly::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            strictly::<ClusterRoleBinding>(doc)
        }
        ("monitoring.coreos.com/v1", "ServiceMonitor") => {
            let endpoints = doc["spec"]["endpoints"].as_array();
            if doc["spec"]["selector"]["matchLabels"].is_object()
                && endpoints.is_some_and(|e| e.iter().all(|e| e["port"].is_string()))
            {
                vec![]
            } else {
                vec![format!(
                    "{}: selector and named endpoint ports",
                    name_of(doc)
                )]
            }
        }
        ("monitoring.coreos.com/v1", "PrometheusRule") => {
            if doc["spec"]["groups"]
                .as_array()
                .is_some_and(|g| !g.is_empty())
            {
                vec![]
            } else {
                vec![format!("{}: no rule groups", name_of(doc))]
            }
        }
        _ => vec![format!("{}: unexpected {api} {kind}", name_of(doc))],
    }
}

/// The pod spec of a workload, with whether its containers run for good (probes needed).
fn pod_of(doc: &Value) -> Option<(PodSpec, bool)> {
    match doc["kind"].as_str()? {
        "Deployment" => Some((typed::<Deployment>(doc).spec.template.spec?, true)),
        "StatefulSet" => Some((typed::<StatefulSet>(doc).spec.template.spec?, true)),
        "Job" => Some((typed::<Job>(doc).spec?.template.spec?, false)),
        _ => None,
    }
}

/// Settings that carry credentials: never a plain value.
fn is_secret_setting(name: &str) -> bool {
    matches!(
        name,
        "DATABASE_URL" | "REDIS_URL" | "REDISCLI_AUTH" | "JWT_SIGNING_KEY"
    ) || name.contains("PASSWORD")
}

/// Everything wrong with one container beyond Pod Security: resources, probes, image,
/// secrets in plain values.
fn container_problems(owner: &str, c: &Container, long_running: bool) -> Vec<String> {
    let mut v = Vec::new();
    let who = format!("{owner}/{}", c.name);
    let res = c.resources.clone().unwrap_or_default();
    for (what, map) in [("requests", res.requests), ("limits", res.limits)] {
        let map = map.unwrap_or_default();
        for key in ["cpu", "memory"] {
            if !map.contains_key(key) {
                v.push(format!("{who}: no {key} {what}"));
            }
        }
    }
    if long_running && (c.readiness_probe.is_none() || c.liveness_probe.is_none()) {
        v.push(format!("{who}: readiness and liveness probes"));
    }
    let image = c.image.clone().unwrap_or_default();
    let tag = image
        .rsplit_once('/')
        .map_or(image.as_str(), |(_, last)| last)
        .split_once(':')
        .map(|(_, tag)| tag);
    if !matches!(tag, Some(t) if !t.is_empty() && t != "latest") && !image.contains("@sha256:") {
        v.push(format!("{who}: image {image:?} has no pinned tag"));
    }
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.read_only_root_filesystem != Some(true) {
        v.push(format!("{who}: readOnlyRootFilesystem"));
    }
    for e in c.env.iter().flatten() {
        if is_secret_setting(&e.name) && e.value.is_some() {
            v.push(format!(
                "{who}: {} is a plain value, not from a Secret",
                e.name
            ));
        }
    }
    v
}

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
fn every_pod_is_restricted_with_resources_probes_and_pinned_images() {
    if !have_helm() {
        return;
    }
    for values in VALUE_SETS {
        let docs = render(values, &[]);
        let mut problems = Vec::new();
        let mut pods = 0;
        for doc in &docs {
            let Some((pod, long_running)) = pod_of(doc) else {
                continue;
            };
            pods += 1;
            let owner = name_of(doc);
            problems.extend(
                restricted_violations(&pod)
                    .into_iter()
                    .map(|p| format!("{owner}: {p}")),
            );
            for c in &pod.containers {
                problems.extend(container_problems(&owner, c, long_running));
            }
            for c in pod.init_containers.iter().flatten() {
                problems.extend(container_problems(&owner, c, false));
            }
            // Every writable path is an emptyDir or a volume claim, never the image.
            for c in pod
                .containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
            {
                for m in c.volume_mounts.iter().flatten() {
                    let vol = pod.volumes.iter().flatten().find(|v| v.name == m.name);
                    let claim = doc["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["metadata"]["name"] == m.name));
                    assert!(vol.is_some() || claim, "{owner}: mount {}", m.name);
                }
            }
        }
        assert!(pods >= 5, "{values:?}: {pods} pods");
        assert_eq!(problems, Vec::<String>::new(), "{values:?}");
    }
}

#[test]
fn no_secret_is_a_value() {
    if !have_helm() {
        return;
    }
    // No value set holds a password or key: they name Secrets instead.
    for values in VALUE_SETS {
        let file = chart_dir().join(values.unwrap_or("values.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let tree: Value = serde_yaml::from_str(&text).unwrap();
        let mut stack = vec![("".to_owned(), &tree)];
        while let Some((path, v)) = stack.pop() {
            if let Value::Object(map) = v {
                for (k, v) in map {
                    let lower = k.to_lowercase();
                    if lower.contains("password") || lower.contains("privatekey") {
                        panic!("{values:?}: {path}.{k} looks like a secret value");
                    }
                    stack.push((format!("{path}.{k}"), v));
                }
            }
        }
    }
    // The signing key is generated in the cluster, without the development marker, and
    // identity reads it from the Secret.
    let docs = render(None, &[]);
    let job: Job = typed(get(&docs, "Job", "gleaner-keygen"));
    let pod = job.spec.unwrap().template.spec.unwrap();
    let keygen = &pod.init_containers.unwrap()[0];
    assert_eq!(
        keygen.args.clone().unwrap(),
        ["keygen", "--production", "--out", "/keys/signing.pem"]
    );
    let store = &pod.containers[0];
    assert!(
        store
            .args
            .iter()
            .flatten()
            .any(|a| a == "gleaner-jwt-signing-key")
    );
    let hooks = &get(&docs, "Job", "gleaner-keygen")["metadata"]["annotations"]["helm.sh/hook"];
    assert_eq!(hooks, "pre-install,pre-upgrade");
    let identity: Deployment = typed(get(&docs, "Deployment", "gleaner-identity"));
    let pod = identity.spec.template.spec.unwrap();
    let secret = pod
        .volumes
        .unwrap()
        .into_iter()
        .find_map(|v| v.secret)
        .unwrap();
    assert_eq!(
        secret.secret_name.as_deref(),
        Some("gleaner-jwt-signing-key")
    );
    // With a Secret of one's own, no hook.
    let docs = render(None, &["--set", "jwt.signingKey.existingSecret=my-key"]);
    assert!(find(&docs, "Job", "gleaner-keygen").is_none());
}

fn env_of(docs: &[Value], deployment: &str) -> BTreeMap<String, Option<String>> {
    let d: Deployment = typed(get(docs, "Deployment", deployment));
    d.spec.template.spec.unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

#[test]
fn services_get_the_contract_settings_ports_and_probes() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let expect: [(&str, u16, &[&str]); 5] = [
        (
            "gateway",
            8080,
            &[
                "IDENTITY_URL",
                "SCRAPER_URL",
                "APP_URL",
                "JWKS_URL",
                "JWT_ISSUER",
                "JWT_AUDIENCE",
                "RATE_LIMIT_PER_SECOND",
                "RATE_LIMIT_BURST",
                "TRUSTED_PROXIES",
                "REDIS_URL",
            ],
        ),
        (
            "identity",
            8081,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWT_SIGNING_KEY_FILE",
                "ACCESS_TOKEN_TTL",
                "REFRESH_TOKEN_TTL",
                "GLEANER_ADMIN_EMAIL",
                "TRUSTED_PROXIES",
            ],
        ),
        (
            "scraper",
            8082,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWKS_URL",
                "SCRAPER_ALLOWED_HOSTS",
                "SCRAPER_ALLOWED_NETWORKS",
            ],
        ),
        (
            "app",
            8083,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWKS_URL",
                "SCRAPER_URL",
                "IDENTITY_URL",
                "APP_JOBS_BACKEND",
            ],
        ),
        ("operator", 8084, &["SCRAPER_IMAGE", "WATCH_NAMESPACE"]),
    ];
    for (component, port, names) in expect {
        let name = format!("gleaner-{component}");
        let env = env_of(&docs, &name);
        for n in names
            .iter()
            .chain(&["LISTEN_ADDR", "LOG_FORMAT", "RUST_LOG", "GLEANER_ENV"])
        {
            assert!(env.contains_key(*n), "{name}: {n}");
        }
        assert_eq!(
            env["LISTEN_ADDR"].as_deref(),
            Some(format!("0.0.0.0:{port}").as_str())
        );
        assert_eq!(env["GLEANER_ENV"].as_deref(), Some("production"));
        let d: Deployment = typed(get(&docs, "Deployment", &name));
        let c = &d.spec.template.spec.unwrap().containers[0];
        let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .and_then(|h| h.path.clone())
        };
        // The gateway's binary only serves; the others have subcommands.
        let args = match component {
            "gateway" => None,
            "operator" => Some(vec!["run".to_owned()]),
            _ => Some(vec!["serve".to_owned()]),
        };
        assert_eq!(c.args, args, "{name}");
        assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/ready"));
        assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/health"));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, i32::from(port));
        // A Service and a PodDisruptionBudget for each.
        let svc_name = if component == "operator" {
            "gleaner-operator-metrics".to_owned()
        } else {
            name.clone()
        };
        let svc: Service = typed(get(&docs, "Service", &svc_name));
        assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, i32::from(port));
        assert!(
            find(&docs, "PodDisruptionBudget", &name).is_some(),
            "{name}"
        );
    }
    // The client is the address the ingress saw: one proxy in front of the gateway, two in
    // front of identity (the ingress and the gateway).
    assert_eq!(
        env_of(&docs, "gleaner-gateway")["TRUSTED_PROXIES"].as_deref(),
        Some("1")
    );
    assert_eq!(
        env_of(&docs, "gleaner-identity")["TRUSTED_PROXIES"].as_deref(),
        Some("2")
    );
    assert_eq!(
        env_of(&docs, "gleaner-gateway")["JWKS_URL"].as_deref(),
        Some("http://gleaner-identity:8081/.well-known/jwks.json")
    );
    // The Ingress leads to the gateway.
    let ingress: Ingress = typed(get(&docs, "Ingress", "gleaner-gateway"));
    let rule = &ingress.spec.unwrap().rules.unwrap()[0];
    let backend = rule.http.as_ref().unwrap().paths[0]
        .backend
        .service
        .clone()
        .unwrap();
    assert_eq!(backend.name, "gleaner-gateway");
    // Autoscalers when asked for, and then the Deployment leaves replicas to them.
    let docs = render(None, &["--set", "scraper.autoscaling.enabled=true"]);
    let hpa: HorizontalPodAutoscaler =
        typed(get(&docs, "HorizontalPodAutoscaler", "gleaner-scraper"));
    assert_eq!(hpa.spec.scale_target_ref.name, "gleaner-scraper");
    let d: Deployment = typed(get(&docs, "Deployment", "gleaner-scraper"));
    assert_eq!(d.spec.replicas, None);
}

#[test]
fn migrations_run_in_hooks_before_upgrades() {
    if !have_helm() {
        return;
    }
    for (values, hooks, init) in [
        (None, "pre-upgrade", true),
        (
            Some("values-external.yaml"),
            "pre-install,pre-upgrade",
            false,
        ),
    ] {
        let docs = render(values, &[]);
        for component in ["identity", "scraper", "app"] {
            let doc = get(&docs, "Job", &format!("gleaner-{component}-migrate"));
            assert_eq!(doc["metadata"]["annotations"]["helm.sh/hook"], hooks);
            // The in-chart database exists only after the install: the first migration
            // runs in the service's init container.
            let d: Deployment = typed(get(&docs, "Deployment", &format!("gleaner-{component}")));
            let inits = d
                .spec
                .template
                .spec
                .unwrap()
                .init_containers
                .unwrap_or_default();
            assert_eq!(
                inits
                    .iter()
                    .any(|c| c.args.as_deref() == Some(&["migrate".to_owned()][..])),
                init,
                "{component}"
            );
            let job: Job = typed(doc);
            let c = &job.spec.unwrap().template.spec.unwrap().containers[0];
            assert_eq!(c.args.clone().unwrap(), ["migrate"]);
            assert_eq!(
                c.image
                    .as_deref()
                    .map(|i| i.contains(&format!("/{component}:"))),
                Some(true)
            );
            let url = c
                .env
                .iter()
                .flatten()
                .find(|e| e.name == "DATABASE_URL")
                .unwrap();
            let key = url
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .unwrap();
            assert_eq!(key.key, component);
        }
    }
}

#[test]
fn in_chart_databases_or_external_ones_from_secrets() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    for name in ["gleaner-postgresql", "gleaner-redis"] {
        let s: StatefulSet = typed(get(&docs, "StatefulSet", name));
        let spec = s.spec;
        assert_eq!(spec.volume_claim_templates.unwrap().len(), 1, "{name}");
        let image = spec.template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        assert!(
            image.starts_with("postgres:16") || image.starts_with("redis:7"),
            "{image}"
        );
    }
    // Run pods find the scraper's database URL where they run.
    let secret: Secret = typed(get(&docs, "Secret", "gleaner-scraper-db"));
    assert!(secret.data.unwrap().contains_key("url"));

    let docs = render(Some("values-external.yaml"), &[]);
    assert!(docs.iter().all(|d| d["kind"] != "StatefulSet"));
    assert!(find(&docs, "Secret", "gleaner-scraper-db").is_none());
    let identity = get(&docs, "Deployment", "gleaner-identity");
    let text = identity.to_string();
    assert!(text.contains("\"gleaner-database\""), "{text}");
    assert!(text.contains("\"gleaner-redis\""));
    // An external database needs its Secret named.
    let err = try_render(None, &["--set", "postgresql.enabled=false"]).unwrap_err();
    assert!(err.contains("externalDatabase"), "{err}");
}

/// The operator hands sharded runs a REDIS_URL from a Secret in the namespace they run in:
/// the chart makes it from the in-chart Redis, expects it with an external one, and an
/// empty name gives runs no Redis at all.
#[test]
fn sharded_runs_find_redis_in_a_secret_where_they_run() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let env = env_of(&docs, "gleaner-operator");
    assert_eq!(
        env["SCRAPER_REDIS_SECRET"].as_deref(),
        Some("gleaner-scraper-redis")
    );
    assert_eq!(env["SCRAPER_REDIS_SECRET_KEY"].as_deref(), Some("url"));
    let secret: Secret = typed(get(&docs, "Secret", "gleaner-scraper-redis"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("gleaner"));
    let url = secret.data.unwrap()["url"].0.clone();
    let url = String::from_utf8(url).unwrap();
    assert!(
        url.starts_with("redis://:") && url.ends_with("@gleaner-redis.gleaner.svc:6379"),
        "{url}"
    );

    // Another watched namespace: the Secret goes there; another key is honoured.
    let docs = render(
        None,
        &[
            "--set",
            "operator.watchNamespace=scrapers,operator.scraper.redisSecretKey=redis-url",
        ],
    );
    let secret = get(&docs, "Secret", "gleaner-scraper-redis");
    assert_eq!(secret["metadata"]["namespace"], "scrapers");
    assert!(secret["data"]["redis-url"].is_string());
    assert_eq!(
        env_of(&docs, "gleaner-operator")["SCRAPER_REDIS_SECRET_KEY"].as_deref(),
        Some("redis-url")
    );

    // An external Redis: the Secret is the operator's to name and yours to create.
    let docs = render(Some("values-external.yaml"), &[]);
    assert!(find(&docs, "Secret", "gleaner-scraper-redis").is_none());
    assert_eq!(
        env_of(&docs, "gleaner-operator")["SCRAPER_REDIS_SECRET"].as_deref(),
        Some("gleaner-scraper-redis")
    );

    // No Redis for runs: neither the setting nor the Secret.
    let docs = render(None, &["--set", "operator.scraper.redisSecret="]);
    assert!(find(&docs, "Secret", "gleaner-scraper-redis").is_none());
    let env = env_of(&docs, "gleaner-operator");
    assert!(!env.contains_key("SCRAPER_REDIS_SECRET"), "{env:?}");
    assert!(!env.contains_key("SCRAPER_REDIS_SECRET_KEY"), "{env:?}");
    // A key Kubernetes would refuse is refused by the schema.
    let err = try_render(None, &["--set", "operator.scraper.redisSecretKey=a b"]).unwrap_err();
    assert!(err.contains("redisSecretKey"), "{err}");
}

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

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
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
fn dashboards_use_the_contract_metrics_and_load_through_the_sidecar() {
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
    // Every metric of the contract is on some dashboard.
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
fn alerts_cover_the_failure_modes_with_contract_metrics() {
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let chart = std::fs::read_to_string(root.join("charts/gleaner/crds/scrapejob.yaml")).unwrap();
    let k8s = std::fs::read_to_string(root.join("k8s/crd/scrapejob.yaml")).unwrap();
    assert_eq!(chart, k8s, "charts/gleaner/crds differs from k8s/crd");
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

fn yaml_file(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

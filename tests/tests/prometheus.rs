//! Telemetry on a real Prometheus (Debian's `prometheus` and `promtool`): the four
//! services and the operator (against the test kit's fake Kubernetes API) run, traffic
//! goes through the gateway (logins, a failed login, searches, a 404, a scrape run),
//! Prometheus scrapes every `/metrics` each second, and then every dashboard panel's
//! query returns data and every alert rule's expression evaluates. Each `/metrics` body
//! passes `promtool check metrics`, the alert rules pass `promtool check rules`, and the
//! labelled counters with known label values exist before any traffic.
//!
//! Without `prometheus` or `promtool` on the PATH the test fails: `.ci/run` installs
//! them (Debian package `prometheus`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::{Stack, workspace_root};
use gleaner_testkit::{FakeKubeApi, eventually, free_port};
use serde_json::{Value, json};

/// How long Prometheus has to see every target up, and each query to return data.
const PROM_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the scrape run of the small demo site may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Panels that cannot return data here, and why. Empty: every panel returns data.
const PANEL_EXCEPTIONS: &[(&str, &str)] = &[];

/// A series a service exposes before any traffic: (service, metric, labels).
type Expected = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: install the Debian package prometheus (.ci/run does)")
    })
}

/// `promtool check metrics` on one exposition body; its complaints, if any.
fn promtool_check_metrics(promtool: &Path, body: &str) -> anyhow::Result<()> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting promtool")?;
    child
        .stdin
        .take()
        .context("promtool's stdin")?
        .write_all(body.as_bytes())?;
    let out = child.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !said.trim().is_empty() {
        bail!("promtool check metrics ({}): {said}", out.status);
    }
    Ok(())
}

/// Whether an exposition body holds a sample of `name` with these labels.
fn has_series(body: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    body.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{'))
            && labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
    })
}

async fn get_text(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {text}");
    }
    Ok(text)
}

/// Every query of every dashboard panel: (dashboard, panel title, expression).
fn dashboard_queries(chart: &Path) -> Vec<(String, String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart.join("dashboards"))
        .expect("the chart's dashboards folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in the chart");
    let mut queries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a dashboard file");
        let dashboard: Value = serde_json::from_str(&text).expect("a dashboard is JSON");
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    let expr = expr
                        .replace("$__rate_interval", "1m")
                        .replace("$__interval", "1m")
                        .replace("$__range", "1h")
                        .replace("$service", ".*")
                        .replace("$namespace", ".*");
                    queries.push((name.clone(), title.clone(), expr));
                }
            }
        }
    }
    queries
}

/// Every alert rule's expression: (alert, expression).
fn alert_exprs(rules_file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(rules_file).expect("the chart's rules file");
    let mut out = Vec::new();
    let mut alert = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alert = Some(name.trim().to_owned());
        } else if let Some(expr) = line.strip_prefix("expr:")
            && let Some(name) = alert.take()
        {
            out.push((name, expr.trim().to_owned()));
        }
    }
    out
}

/// Percent-encode a query parameter's value.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; the result vector, or why the query failed.
async fn query(http: &reqwest::Client, prom: &str, expr: &str) -> anyhow::Result<Vec<Value>> {
    let response: Value = http
        .get(format!("{prom}/api/v1/query?query={}", url_encode(expr)))
        .send()
        .await?
        .json()
        .await?;
    if response["status"] != "success" {
        bail!("{expr}: {response}");
    }
    Ok(response["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Build the operator binary (a no-op when fresh); its path.
fn operator_binary(root: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "-p",
            "gleaner-operator",
            "--bin",
            "operator",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo build of the operator failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug/operator")
}

/// The operator against the fake API server holding one ScrapeJob; its base URL.
async fn start_operator(root: &Path, dir: &Path) -> anyhow::Result<(String, Killed, FakeKubeApi)> {
    let bin = operator_binary(root);
    let (api, fake) = FakeKubeApi::start("gleaner").await?;
    fake.insert_scrapejob(json!({
        "apiVersion": "gleaner.dev/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {
            "name": "loopback", "namespace": "gleaner",
            "uid": "2b0c5a4e-aaaa-4bbb-8ccc-000000000002",
            "resourceVersion": "10", "generation": 1
        },
        "spec": {"targets": {"idnos": ["1003600012345"], "listPages": {"from": 1, "to": 1}}}
    }));
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: gleaner\n\
             current-context: fake\n"
        ),
    )?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("operator.log"))?;
    let child = Command::new(bin)
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("POD_NAME", "replica-prometheus")
        .env("POD_NAMESPACE", "gleaner")
        .env("RUST_LOG", "info")
        .env("OTEL_TRACES_EXPORTER", "none")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the operator")?;
    Ok((format!("http://127.0.0.1:{port}"), Killed(child), fake))
}

#[tokio::test]
async fn every_panel_and_alert_on_a_real_prometheus() {
    let prometheus = tool("prometheus");
    let promtool = tool("promtool");
    let root = workspace_root();
    let chart = root.join("charts/gleaner");

    // The rules as Prometheus loads them.
    let rules = chart.join("prometheus/rules.yaml");
    let checked = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("running promtool check rules");
    assert!(
        checked.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 8,
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    assert!(
        stack.is_local(),
        "this test starts its own stack: unset E2E_BASE_URL"
    );
    let dir = std::env::temp_dir().join(format!(
        "gleaner-prometheus-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (operator, _operator, _fake) = start_operator(&root, &dir).await.unwrap();
    let http = reqwest::Client::new();
    let mut targets = stack.service_urls();
    targets.push(("operator", operator.clone()));
    eventually(PROM_TIMEOUT, || {
        let (http, ready) = (&http, format!("{operator}/ready"));
        async move {
            http.get(&ready)
                .send()
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the operator did not become ready: {}",
            std::fs::read_to_string(dir.join("operator.log")).unwrap_or_default()
        )
    });

    // Known label values exist before any traffic (the app's own admin login aside).
    let before: Vec<(&str, String)> = {
        let mut bodies = Vec::new();
        for (name, url) in &targets {
            bodies.push((
                *name,
                get_text(&http, &format!("{url}/metrics")).await.unwrap(),
            ));
        }
        bodies
    };
    let body_of = |name: &str| {
        before
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_str())
            .unwrap_or_default()
    };
    // Every series with one label, each value of it: (service, metric, label, values).
    let one_label: [(&str, &str, &str, &[&str]); 7] = [
        (
            "identity",
            "identity_logins_total",
            "result",
            &[
                "success",
                "invalid_credentials",
                "throttled",
                "disabled",
                "busy",
            ],
        ),
        (
            "identity",
            "identity_tokens_issued_total",
            "kind",
            &["access", "refresh"],
        ),
        (
            "gateway",
            "gateway_rate_limited_total",
            "scope",
            &["user", "address"],
        ),
        (
            "scraper",
            "scraper_runs_total",
            "result",
            &["succeeded", "failed"],
        ),
        (
            "scraper",
            "scraper_companies_written_total",
            "change",
            &["created", "updated", "unchanged"],
        ),
        (
            "operator",
            "operator_reconciles_total",
            "result",
            &["success", "error"],
        ),
        (
            "operator",
            "operator_scrapejobs",
            "phase",
            &["Pending", "Running", "Succeeded", "Failed", "Suspended"],
        ),
    ];
    let mut expected: Vec<Expected> = Vec::new();
    for (service, name, label, values) in one_label {
        for value in values {
            expected.push((service, name, vec![(label, *value)]));
        }
    }
    for upstream in ["identity", "scraper", "app"] {
        for kind in ["connect", "timeout", "protocol"] {
            expected.push((
                "gateway",
                "gateway_upstream_errors_total",
                vec![("upstream", upstream), ("kind", kind)],
            ));
        }
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|(service, name, labels)| !has_series(body_of(service), name, labels))
        .map(|(service, name, labels)| format!("{service}: {name}{labels:?}"))
        .collect();
    assert!(
        missing.is_empty(),
        "series missing before traffic: {missing:#?}"
    );

    // Prometheus scrapes every service and the operator each second.
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (name, url) in &targets {
        let job = if *name == "operator" {
            "gleaner-operator-metrics".to_owned()
        } else {
            format!("gleaner-{name}")
        };
        let host = url.trim_start_matches("http://");
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{host}']\n        labels: {{namespace: gleaner}}\n"
        ));
    }
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, &config).unwrap();
    let prom_port = free_port().unwrap();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let prom_log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(prom_log.try_clone().unwrap())
            .stderr(prom_log)
            .spawn()
            .expect("starting prometheus"),
    );
    let all_up = eventually(PROM_TIMEOUT, || {
        let (http, prom, n) = (&http, &prom, targets.len());
        async move {
            let t: Value = http
                .get(format!("{prom}/api/v1/targets"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let active = t["data"]["activeTargets"].as_array()?;
            (active.len() == n && active.iter().all(|t| t["health"] == "up")).then_some(())
        }
    })
    .await;
    if all_up.is_err() {
        let t = get_text(&http, &format!("{prom}/api/v1/targets"))
            .await
            .unwrap_or_default();
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        panic!("targets not all up within {PROM_TIMEOUT:?}: {t}\n{log}");
    }

    // Traffic through the gateway: a user, logins good and bad, searches, a 404, a run.
    let gw = &stack.gateway;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let username = format!("prom_{suffix}");
    let password = "a long prometheus passphrase";
    let post = |path: &str, body: Value, token: Option<&str>| {
        let mut b = http.post(format!("{gw}{path}")).json(&body);
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        b.send()
    };
    let r = post(
        "/api/v1/auth/register",
        json!({"email": format!("{username}@example.md"), "username": username, "password": password}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let login = async |user: &str, pass: &str| -> (u16, Value) {
        let r = post(
            "/api/v1/auth/login",
            json!({"username": user, "password": pass}),
            None,
        )
        .await
        .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    };
    let (status, _) = login(&username, "not the password").await;
    assert_eq!(status, 401);
    let (status, pair) = login(&username, password).await;
    assert_eq!(status, 200);
    let user = pair["access_token"].as_str().unwrap().to_owned();
    let (status, pair) = login(&stack.admin.0, &stack.admin.1).await;
    assert_eq!(status, 200);
    let admin = pair["access_token"].as_str().unwrap().to_owned();
    for path in ["/api/v1/companies?q=srl", "/api/v1/companies?q=zzz"] {
        let r = http.get(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = http
        .get(format!("{gw}/api/v1/users/me"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{gw}/api/v1/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let site = stack.demo.url();
    let job = format!("prom-{suffix}");
    let r = post(
        "/api/v1/scrape-jobs",
        json!({"name": job, "spec": {
            "baseUrl": site, "apiUrl": site,
            "targets": {"listPages": {"from": 1, "to": 1}},
            "concurrency": 4, "requestsPerSecond": 100, "maxRetries": 1,
            "respectRobotsTxt": false
        }}),
        Some(&admin),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    // A job without a schedule runs once when created; wait for that run to finish.
    let finished = eventually(RUN_TIMEOUT, || {
        let (http, admin, url) = (&http, &admin, format!("{gw}/api/v1/scrape-runs?job={job}"));
        async move {
            let runs: Value = http
                .get(&url)
                .bearer_auth(admin)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let status = runs["items"][0]["status"].as_str()?.to_owned();
            matches!(status.as_str(), "succeeded" | "failed").then_some(status)
        }
    })
    .await
    .expect("the job's run finishes");
    assert_eq!(finished, "succeeded");

    // Every /metrics body is clean for promtool.
    for (name, url) in &targets {
        let body = get_text(&http, &format!("{url}/metrics")).await.unwrap();
        promtool_check_metrics(&promtool, &body)
            .unwrap_or_else(|e| panic!("{name}'s /metrics: {e}"));
    }

    // Every panel returns data once Prometheus has scraped the traffic.
    let mut empty = Vec::new();
    for (dashboard, title, expr) in dashboard_queries(&chart) {
        let excepted = PANEL_EXCEPTIONS.iter().any(|(t, _)| *t == title);
        let got = eventually(PROM_TIMEOUT, || {
            let (http, prom, expr) = (&http, &prom, &expr);
            async move {
                let result = query(http, prom, expr).await.ok()?;
                (!result.is_empty()).then_some(result)
            }
        });
        if excepted {
            query(&http, &prom, &expr)
                .await
                .unwrap_or_else(|e| panic!("{dashboard} / {title}: {e}"));
        } else if got.await.is_err() {
            let why = query(&http, &prom, &expr)
                .await
                .map(|_| "no data".to_owned())
                .unwrap_or_else(|e| e.to_string());
            empty.push(format!("{dashboard} / {title}: {expr}: {why}"));
        }
    }
    assert!(empty.is_empty(), "panels without data: {empty:#?}");

    // Every alert rule evaluates (a rule may rightly have nothing to alert on).
    let alerts = alert_exprs(&rules);
    assert!(alerts.len() >= 5, "alert rules read: {alerts:?}");
    for (alert, expr) in alerts {
        query(&http, &prom, &expr)
            .await
            .unwrap_or_else(|e| panic!("alert {alert}: {e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

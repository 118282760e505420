//! Webhooks against real PostgreSQL: the API, signed deliveries (checked by the Standard
//! Webhooks reference library too), retries, redirects, disabling, leases, several
//! workers, and the egress rules at connect time. Receivers listen on 127.0.0.1 only.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use gleaner_app::config::WebhookSettings;
use gleaner_app::webhooks::delivery::{AttemptResult, DeliveryMetrics, DeliveryWorker, LEASE};
use gleaner_app::webhooks::store::{self, Claimed};
use gleaner_app::webhooks::{signing, target};
use gleaner_egress::{AllowedNetworks, EgressPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, body, spawn_app, spawn_app_with};

const IDNO: &str = "1003600012345";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    fn id(&self) -> &str {
        self.header("webhook-id")
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 204 once they run out.
    answers: VecDeque<u16>,
    /// Answer the next request only after this long.
    hang_next: Option<Duration>,
}

/// A webhook endpoint on 127.0.0.1 that records what it gets.
#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<Mutex<ReceiverState>>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<ReceiverState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, hang) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.received.push(Received {
            path: uri.path().to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        (s.answers.pop_front().unwrap_or(204), s.hang_next.take())
    };
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    let status = AxumStatus::from_u16(status).unwrap_or(AxumStatus::INTERNAL_SERVER_ERROR);
    if status.is_redirection() {
        (status, [("location", "/elsewhere")], "moved").into_response()
    } else {
        (status, "").into_response()
    }
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
        }
    }
    fn url(&self) -> String {
        format!("{}/hook", self.base)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, ReceiverState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn answer(&self, statuses: &[u16]) {
        self.lock().answers.extend(statuses);
    }
    fn hang_next(&self, d: Duration) {
        self.lock().hang_next = Some(d);
    }
    fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        gleaner_testkit::eventually(Duration::from_secs(15), || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
        .unwrap_or_else(|_| panic!("{n} requests arrive: {:?}", self.received()))
    }
}

/// An app whose own worker stays idle (it looks for due deliveries once an hour), so a
/// test decides when attempts are made.
async fn quiet_app() -> TestApp {
    spawn_app_with(Backend::Database, |s| {
        s.webhooks.poll_interval = Duration::from_secs(3600)
    })
    .await
}

fn worker_with(app: &TestApp, policy: EgressPolicy, resolver: Arc<dyn Resolve>) -> DeliveryWorker {
    let policy = Arc::new(policy);
    let client = target::client(policy.clone(), resolver).expect("a client");
    let metrics = DeliveryMetrics::register(&prometheus::Registry::new()).expect("metrics");
    DeliveryWorker::new(
        app.db.clone(),
        policy,
        client,
        metrics,
        8,
        Duration::from_millis(20),
    )
}

/// A worker as the app runs one, with the tests' settings (http to 127.0.0.0/8).
fn worker(app: &TestApp) -> DeliveryWorker {
    worker_with(
        app,
        WebhookSettings::local().egress(),
        Arc::new(target::SystemResolver),
    )
}

async fn create(app: &TestApp, token: &str, url: &str) -> Value {
    let resp = app
        .post_auth("/api/v1/webhooks", token, &json!({"url": url}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    body(resp).await
}

async fn send_test(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app
        .post_auth(&format!("/api/v1/webhooks/{id}/test"), token, &json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    body(resp).await
}

async fn deliveries(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app
        .get_auth(&format!("/api/v1/webhooks/{id}/deliveries"), token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    body(resp).await
}

async fn watch(app: &TestApp, token: &str) {
    let resp = app
        .send_auth(
            Method::PUT,
            &format!("/api/v1/watchlist/{IDNO}"),
            token,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

fn changed(run_id: Uuid, name: &str) -> Value {
    json!({"idno": IDNO, "company_name": name, "run_id": run_id,
           "changes": [{"field": "name", "old": "Alfa", "new": name}]})
}

/// The signature a receiver must find, recomputed from the secret.
fn assert_signed(secret: &str, got: &Received) {
    let key = signing::key_of(&SecretString::from(secret.to_owned())).expect("a key");
    let timestamp: i64 = got
        .header("webhook-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 300);
    assert_eq!(
        got.header("webhook-signature"),
        signing::sign(&key, got.id(), timestamp, got.body.as_bytes())
    );
    assert_eq!(got.header("content-type"), "application/json");
}

/// Verify deliveries with the Standard Webhooks reference library (npm
/// `standardwebhooks`, from scripts/install-tools.sh). Skipped with a message when it is
/// not installed, except in CI.
fn verify_with_node(secret: &str, got: &[Received]) {
    let tools = std::env::var("GLEANER_TOOLS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/gleaner/tools",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let module = format!("{tools}/node/node_modules/standardwebhooks/package.json");
    if !std::path::Path::new(&module).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "standardwebhooks is not installed ({module}): run scripts/install-tools.sh"
        );
        eprintln!(
            "SKIPPED the standardwebhooks check: {module} is absent (scripts/install-tools.sh installs it)"
        );
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/verify-webhook.mjs"
    );
    let input = json!({
        "secret": secret,
        "deliveries": got.iter().map(|r| json!({"headers": {
            "webhook-id": r.id(),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        }, "body": r.body})).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new("node")
        .arg(script)
        .env("GLEANER_TOOLS", &tools)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("write to node");
    }
    let out = child.wait_with_output().expect("node finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "standardwebhooks refused: {stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        got.len(),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_watched_change_reaches_the_owners_webhook_signed_and_the_reference_library_verifies_it()
{
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, alice) = app.user_token();
    let (_, bob) = app.user_token();
    let created = create(&app, &alice, &receiver.url()).await;
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let id = created["id"].as_str().expect("an id").to_owned();
    watch(&app, &alice).await;
    // Bob watches too but has no webhook; his own webhook elsewhere gets only his.
    watch(&app, &bob).await;
    let bobs = Receiver::start().await;
    create(&app, &bob, &bobs.url()).await;

    let run = Uuid::new_v4();
    app.publish("scraper-1", "company.changed", changed(run, "Alfa Nova"))
        .await;
    // Delivered again by the relay: still one notification, so one delivery.
    app.publish("scraper-1", "company.changed", changed(run, "Alfa Nova"))
        .await;
    let got = receiver.wait_for(1).await;
    let event = got[0].json();
    assert_eq!(event["type"], "company.changed");
    assert_eq!(got[0].path, "/hook");
    assert_signed(&secret, &got[0]);

    // The data is the notification, as the API shows it.
    let notes = body(app.get_auth("/api/v1/notifications", &alice).await).await;
    assert_eq!(notes["total"], 1);
    assert_eq!(event["data"], notes["items"][0]);
    assert_eq!(event["data"]["run_id"], run.to_string());
    assert_eq!(event["data"]["changes"][0]["new"], "Alfa Nova");
    chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp");

    // The delivery shows, with the id the receiver got.
    let page = gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let page = deliveries(&app, &alice, &id).await;
        (page["items"][0]["status"] == "delivered").then_some(page)
    })
    .await
    .expect("recorded as delivered");
    assert_eq!(page["total"], 1);
    let d = &page["items"][0];
    assert_eq!(d["id"], got[0].id());
    assert_eq!(d["event"], "company.changed");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status"], 204);
    assert_eq!(d["next_attempt_at"], Value::Null);

    // A test event too.
    let test = send_test(&app, &alice, &id).await;
    assert_eq!(test["event"], "webhook.test");
    assert_eq!(test["status"], "pending");
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].json()["type"], "webhook.test");
    assert_eq!(got[1].id(), test["id"]);
    assert_signed(&secret, &got[1]);
    assert_eq!(
        deliveries(&app, &alice, &id).await["items"][0]["id"],
        test["id"],
        "newest first"
    );
    verify_with_node(&secret, &got);
    // Counted by outcome; every outcome is exported from the start.
    let metrics = gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let text = app.get("/metrics").await.text().await.ok()?;
        text.contains("app_webhook_deliveries_total{outcome=\"delivered\"} 3")
            .then_some(text)
    })
    .await
    .expect("three deliveries counted");
    assert!(metrics.contains("app_webhook_deliveries_total{outcome=\"disabled\"} 0"));
    assert!(metrics.contains("app_webhook_attempt_duration_seconds_bucket"));

    // Bob's webhook got Bob's notification only, signed with Bob's secret.
    let bobs_got = bobs.wait_for(1).await;
    assert_eq!(bobs_got.len(), 1);
    assert_ne!(bobs_got[0].id(), got[0].id());
    assert_ne!(
        bobs_got[0].json()["data"]["id"],
        got[0].json()["data"]["id"]
    );
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn webhooks_are_listed_without_secrets_and_each_user_sees_only_their_own() {
    let app = quiet_app().await;
    let (_, alice) = app.user_token();
    let (_, bob) = app.user_token();
    let resp = app
        .post_auth(
            "/api/v1/webhooks",
            &alice,
            &json!({"url": "http://127.0.0.1:9/in?source=gleaner", "description": "ops channel"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = body(resp).await;
    let secret = created["secret"].as_str().expect("a secret");
    let key = signing::key_of(&SecretString::from(secret.to_owned())).expect("base64 key");
    assert!(secret.starts_with("whsec_") && key.len() >= 24, "{secret}");
    assert_eq!(created["url"], "http://127.0.0.1:9/in?source=gleaner");
    assert_eq!(created["description"], "ops channel");
    assert_eq!(created["disabled"], false);
    let id = created["id"].as_str().expect("an id").to_owned();
    // A second webhook: another secret.
    let other = create(&app, &alice, "http://127.0.0.1:9/other").await;
    assert_ne!(other["secret"], created["secret"]);

    let list = body(app.get_auth("/api/v1/webhooks?per_page=1", &alice).await).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["per_page"], 1);
    assert_eq!(list["items"][0]["id"], other["id"], "newest first");
    let list = body(app.get_auth("/api/v1/webhooks", &alice).await).await;
    for item in list["items"].as_array().expect("items") {
        assert!(item.get("secret").is_none(), "{item}");
    }
    assert!(!list.to_string().contains(secret));
    let theirs = body(app.get_auth("/api/v1/webhooks", &bob).await).await;
    assert_eq!(theirs["total"], 0);

    // Another user's webhook is not there for them.
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
    ] {
        let resp = app.send_auth(method.clone(), &path, &bob, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            app.send_auth(method, &path, "", None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for path in [
        "/api/v1/webhooks/not-a-uuid/deliveries",
        &format!("/api/v1/webhooks/{}/test", Uuid::new_v4()),
    ] {
        let resp = app.send_auth(Method::POST, path, &alice, None).await;
        assert!(
            matches!(
                resp.status(),
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ),
            "{path}"
        );
    }
    assert_eq!(
        app.get_auth("/api/v1/webhooks?per_page=101", &alice)
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let resp = app
        .send_auth(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .send_auth(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        body(app.get_auth("/api/v1/webhooks", &alice).await).await["total"],
        1
    );

    // A deleted user's webhooks go with them.
    let alice_id: Uuid = sqlx::query_scalar("SELECT user_id FROM webhooks")
        .fetch_one(&app.db)
        .await
        .expect("Alice's webhook");
    app.publish(
        "identity-1",
        "user.deleted",
        json!({"id": alice_id, "username": "alice"}),
    )
    .await;
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
            .fetch_one(&app.db)
            .await
            .ok()?;
        (n == 0).then_some(())
    })
    .await
    .expect("the deleted user's webhooks are removed");
}

#[tokio::test]
async fn bad_urls_and_fields_are_422_naming_why() {
    // The production defaults: https only, no non-public network allowed.
    let app = spawn_app_with(Backend::Database, |s| {
        s.webhooks.allow_http = false;
        s.webhooks.allowed_networks = AllowedNetworks::none("WEBHOOK_ALLOWED_NETWORKS");
    })
    .await;
    let (_, token) = app.user_token();
    let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    for (url, why) in [
        ("/relative/path", "absolute"),
        ("hooks.example.com/in", "absolute"),
        ("ftp://hooks.example.com/in", "http(s)"),
        (
            "https://user:secret@hooks.example.com/in",
            "user name or password",
        ),
        ("https://user@hooks.example.com/in", "user name or password"),
        (long.as_str(), "2048"),
        ("http://hooks.example.com/in", "WEBHOOK_ALLOW_HTTP"),
        ("https://127.0.0.1/in", "WEBHOOK_ALLOWED_NETWORKS"),
        ("https://10.0.0.8/in", "WEBHOOK_ALLOWED_NETWORKS"),
        ("https://192.168.1.1/in", "WEBHOOK_ALLOWED_NETWORKS"),
        (
            "https://169.254.169.254/latest/meta-data",
            "WEBHOOK_ALLOWED_NETWORKS",
        ),
        ("https://[::1]/in", "WEBHOOK_ALLOWED_NETWORKS"),
        ("https://[fd00:ec2::254]/in", "WEBHOOK_ALLOWED_NETWORKS"),
        (
            "https://[::ffff:169.254.169.254]/in",
            "WEBHOOK_ALLOWED_NETWORKS",
        ),
        ("https://2130706433/in", "WEBHOOK_ALLOWED_NETWORKS"),
    ] {
        let resp = app
            .post_auth("/api/v1/webhooks", &token, &json!({"url": url}))
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let problem = body(resp).await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{url}: {message}");
    }
    for (request, field) in [
        (
            json!({"url": "https://hooks.example.com/in", "description": "x".repeat(1001)}),
            "description",
        ),
        (
            json!({"url": "https://hooks.example.com/in", "secret": "whsec_mine"}),
            "",
        ),
        (json!({"description": "no url"}), ""),
        (json!({"url": 7}), ""),
    ] {
        let resp = app.post_auth("/api/v1/webhooks", &token, &request).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{request}");
        if !field.is_empty() {
            assert_eq!(body(resp).await["errors"][0]["field"], field);
        }
    }
    // A public name is accepted; what it resolves to is checked when connecting.
    let resp = app
        .post_auth(
            "/api/v1/webhooks",
            &token,
            &json!({"url": "https://hooks.example.com/in"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        body(app.get_auth("/api/v1/webhooks", &token).await).await["total"],
        1,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn with_allowed_hosts_only_those_hosts_may_be_named() {
    let app = spawn_app_with(Backend::Database, |s| {
        s.webhooks.allowed_hosts = gleaner_app::config::WebhookHosts(Some(
            gleaner_egress::AllowedHosts::parse("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,localhost")
                .expect("a valid host list"),
        ));
    })
    .await;
    let (_, token) = app.user_token();
    for url in [
        "https://hooks.example.com/in",
        "http://localhost.example.com/in",
        "http://127.0.0.2/in",
    ] {
        let resp = app
            .post_auth("/api/v1/webhooks", &token, &json!({"url": url}))
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let problem = body(resp).await;
        let message = problem["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("WEBHOOK_ALLOWED_HOSTS"),
            "{url}: {message}"
        );
    }
    for url in ["http://127.0.0.1:9/in", "http://localhost:9/in"] {
        let resp = app
            .post_auth("/api/v1/webhooks", &token, &json!({"url": url}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{url}");
    }
}

#[tokio::test]
async fn a_user_has_at_most_ten_webhooks_even_when_creating_in_parallel() {
    let app = quiet_app().await;
    let (_, token) = app.user_token();
    for i in 0..9 {
        create(&app, &token, &format!("http://127.0.0.1:9/{i}")).await;
    }
    // Two at once at nine: exactly one passes.
    let (first, second) = (
        json!({"url": "http://127.0.0.1:9/a"}),
        json!({"url": "http://127.0.0.1:9/b"}),
    );
    let (a, b) = tokio::join!(
        app.post_auth("/api/v1/webhooks", &token, &first),
        app.post_auth("/api/v1/webhooks", &token, &second),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    // Many at once, again at the limit: none passes.
    let requests: Vec<Value> = (0..8)
        .map(|i| json!({"url": format!("http://127.0.0.1:9/m{i}")}))
        .collect();
    let many = futures::future::join_all(
        requests
            .iter()
            .map(|r| app.post_auth("/api/v1/webhooks", &token, r)),
    )
    .await;
    assert!(many.iter().all(|r| r.status() == StatusCode::CONFLICT));
    let list = body(app.get_auth("/api/v1/webhooks", &token).await).await;
    assert_eq!(list["total"], 10);
    // Another user is not limited by them.
    let (_, other) = app.user_token();
    create(&app, &other, "http://127.0.0.1:9/x").await;
    // One deleted: one more fits.
    let id = list["items"][0]["id"].as_str().expect("an id");
    app.send_auth(
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        &token,
        None,
    )
    .await;
    create(&app, &token, "http://127.0.0.1:9/again").await;
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_webhook_id_within_30_s() {
    let app = quiet_app().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500]);
    let (_, token) = app.user_token();
    let created = create(&app, &token, &receiver.url()).await;
    let id = created["id"].as_str().expect("an id");
    let test = send_test(&app, &token, id).await;
    let worker = worker(&app);

    assert_eq!(worker.run_once().await.expect("a round"), ["retry"]);
    let d = deliveries(&app, &token, id).await["items"][0].clone();
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status"], 500);
    assert!(
        d["last_error"].as_str().unwrap_or("").contains("500"),
        "{d}"
    );
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(d["next_attempt_at"].clone()).expect("a next attempt");
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::zero() && wait <= chrono::Duration::seconds(30),
        "{wait}"
    );
    // Not due yet: nothing is sent.
    assert!(worker.run_once().await.expect("a round").is_empty());

    // Its time comes.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&app.db)
        .await
        .expect("update");
    assert_eq!(worker.run_once().await.expect("a round"), ["delivered"]);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id(), test["id"]);
    assert_eq!(
        got[1].id(),
        got[0].id(),
        "the same webhook-id on every attempt"
    );
    assert_eq!(got[1].body, got[0].body, "the same body on every attempt");
    assert_signed(created["secret"].as_str().expect("secret"), &got[1]);
    let d = deliveries(&app, &token, id).await["items"][0].clone();
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["last_error"], Value::Null);
    let failing: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT failing_since FROM webhooks")
            .fetch_one(&app.db)
            .await
            .expect("a webhook");
    assert_eq!(failing, None, "a success ends the failing streak");
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_never_followed() {
    let app = quiet_app().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[302, 301, 307]);
    let (_, token) = app.user_token();
    let created = create(&app, &token, &receiver.url()).await;
    let id = created["id"].as_str().expect("an id");
    send_test(&app, &token, id).await;
    let worker = worker(&app);
    for status in [302, 301, 307] {
        assert_eq!(worker.run_once().await.expect("a round"), ["retry"]);
        let d = deliveries(&app, &token, id).await["items"][0].clone();
        assert_eq!(d["last_status"], status);
        assert!(
            d["last_error"].as_str().unwrap_or("").contains("redirect"),
            "{d}"
        );
        sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
            .execute(&app.db)
            .await
            .expect("update");
    }
    assert_eq!(worker.run_once().await.expect("a round"), ["delivered"]);
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook"; 4], "the Location is never requested");
}

#[tokio::test]
async fn a_webhook_failing_for_a_day_is_disabled_and_its_owner_notified() {
    let app = quiet_app().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500; 10]);
    let (_, token) = app.user_token();
    let created = create(&app, &token, &receiver.url()).await;
    let id = created["id"].as_str().expect("an id");
    send_test(&app, &token, id).await;
    let worker = worker(&app);
    assert_eq!(worker.run_once().await.expect("a round"), ["retry"]);
    // Failing, but not for a day: still enabled.
    let list = body(app.get_auth("/api/v1/webhooks", &token).await).await;
    assert_eq!(list["items"][0]["disabled"], false);

    // A day passes with every attempt failing.
    sqlx::query("UPDATE webhooks SET failing_since = now() - interval '24 hours 1 minute'")
        .execute(&app.db)
        .await
        .expect("update");
    // Another delivery waits for its turn meanwhile.
    let waiting = send_test(&app, &token, id).await;
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = \
         CASE WHEN attempts = 1 THEN now() ELSE now() + interval '1 hour' END",
    )
    .execute(&app.db)
    .await
    .expect("update");
    assert_eq!(worker.run_once().await.expect("a round"), ["disabled"]);

    let list = body(app.get_auth("/api/v1/webhooks", &token).await).await;
    assert_eq!(list["items"][0]["disabled"], true);
    let page = deliveries(&app, &token, id).await;
    for d in page["items"].as_array().expect("items") {
        assert_eq!(d["status"], "failed", "{d}");
        assert_eq!(d["next_attempt_at"], Value::Null);
    }
    assert_eq!(page["items"][0]["id"], waiting["id"]);
    assert_eq!(page["items"][0]["attempts"], 0, "never sent once disabled");
    let notes = body(app.get_auth("/api/v1/notifications", &token).await).await;
    assert_eq!(notes["total"], 1);
    let note = &notes["items"][0];
    assert_eq!(note["kind"], "webhook.disabled");
    assert_eq!(note["changes"][0]["old"], created["url"]);
    assert_eq!(note["read"], false);

    // Nothing more goes to it: no test, no notification's delivery, no attempt.
    let resp = app
        .post_auth(&format!("/api/v1/webhooks/{id}/test"), &token, &json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    watch(&app, &token).await;
    app.publish(
        "scraper-1",
        "company.changed",
        changed(Uuid::new_v4(), "Beta"),
    )
    .await;
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let notes = body(app.get_auth("/api/v1/notifications", &token).await).await;
        (notes["total"] == 2).then_some(())
    })
    .await
    .expect("the change is a notification");
    assert_eq!(deliveries(&app, &token, id).await["total"], 2);
    assert!(worker.run_once().await.expect("a round").is_empty());
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn an_attempt_whose_worker_died_is_sent_again_with_the_same_id_when_its_lease_ends() {
    let app = quiet_app().await;
    let receiver = Receiver::start().await;
    let (_, token) = app.user_token();
    let created = create(&app, &token, &receiver.url()).await;
    let id = created["id"].as_str().expect("an id");
    let test = send_test(&app, &token, id).await;

    // A worker takes the attempt and dies in the middle of sending it.
    receiver.hang_next(Duration::from_secs(30));
    let dying = worker(&app);
    let stop = CancellationToken::new();
    let task = tokio::spawn(dying.run(stop.clone()));
    receiver.wait_for(1).await;
    task.abort();
    let _ = task.await;

    // Its lease holds: another worker does not send it meanwhile.
    let other = worker(&app);
    assert!(other.run_once().await.expect("a round").is_empty());
    let (attempts, lease_end): (i32, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT attempts, next_attempt_at FROM webhook_deliveries")
            .fetch_one(&app.db)
            .await
            .expect("the delivery");
    assert_eq!(attempts, 1);
    assert!(
        lease_end > chrono::Utc::now() + chrono::Duration::seconds(LEASE.as_secs() as i64 - 15)
    );

    // The lease ends: it is sent again, with the same id.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&app.db)
        .await
        .expect("update");
    assert_eq!(other.run_once().await.expect("a round"), ["delivered"]);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.id() == test["id"]));
    let d = deliveries(&app, &token, id).await["items"][0].clone();
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 2);

    // A worker that held an attempt past its lease records nothing over the newer one.
    sqlx::query("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()")
        .execute(&app.db)
        .await
        .expect("update");
    let stale = store::claim(&app.db, 10, LEASE).await.expect("claim");
    assert_eq!(stale.len(), 1);
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&app.db)
        .await
        .expect("update");
    assert_eq!(other.run_once().await.expect("a round"), ["delivered"]);
    assert!(
        !store::record_delivered(&app.db, &stale[0], 200)
            .await
            .expect("record")
    );
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .expect("the delivery");
    assert_eq!(attempts, 4);
}

#[tokio::test]
async fn workers_sharing_a_database_never_send_one_attempt_twice() {
    let app = quiet_app().await;
    let receiver = Receiver::start().await;
    let (_, token) = app.user_token();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create(&app, &token, &receiver.url()).await["id"].clone());
    }
    let mut expected = Vec::new();
    for _ in 0..20 {
        for id in &ids {
            let id = id.as_str().expect("an id");
            expected.push(send_test(&app, &token, id).await["id"].clone());
        }
    }
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(worker(&app).run(stop.clone())))
        .collect();
    let got = receiver.wait_for(expected.len()).await;
    gleaner_testkit::eventually(Duration::from_secs(15), || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'",
        )
        .fetch_one(&app.db)
        .await
        .ok()?;
        (pending == 0).then_some(())
    })
    .await
    .expect("all delivered");
    stop.cancel();
    for w in workers {
        w.await.expect("a worker stops");
    }
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *per_id.entry(r.id().to_owned()).or_default() += 1;
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(per_id.len(), expected.len());
    assert!(per_id.values().all(|&n| n == 1), "{per_id:?}");
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM webhook_deliveries")
        .fetch_all(&app.db)
        .await
        .expect("deliveries");
    assert!(attempts.iter().all(|&a| a == 1));
}

/// A resolver that answers every name with fixed addresses, and counts the questions.
struct StubResolver {
    addrs: Vec<IpAddr>,
    asked: Arc<AtomicUsize>,
}

impl Resolve for StubResolver {
    fn resolve(&self, _: Name) -> Resolving {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let addrs: Vec<SocketAddr> = self
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, 0))
            .collect();
        Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
    }
}

#[tokio::test]
async fn names_resolving_to_non_public_addresses_are_refused_before_any_connection() {
    let app = quiet_app().await;
    // A listener that counts the connections made to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let claimed = Claimed {
        id: Uuid::new_v4(),
        webhook_id: Uuid::new_v4(),
        url: format!("http://hooks.example.test:{port}/in"),
        secret: signing::new_secret(),
        event: "webhook.test".into(),
        payload: json!({}),
        created_at: chrono::Utc::now(),
        attempt: 1,
    };
    let none = || AllowedNetworks::none("WEBHOOK_ALLOWED_NETWORKS");
    for addrs in [
        vec!["127.0.0.1"],
        vec!["10.0.0.7"],
        vec!["192.168.0.10", "172.16.3.4"],
        vec!["169.254.169.254"],
        vec!["::ffff:169.254.169.254"],
        vec!["fd00:ec2::254"],
        vec!["100.100.100.200"],
        vec!["::1"],
    ] {
        let asked = Arc::new(AtomicUsize::new(0));
        let resolver = StubResolver {
            addrs: addrs
                .iter()
                .map(|a| a.parse().expect("an address"))
                .collect(),
            asked: asked.clone(),
        };
        let worker = worker_with(&app, EgressPolicy::any_host(none()), Arc::new(resolver));
        match worker.send(&claimed).await {
            AttemptResult::Failed(None, why) => {
                assert!(why.contains("refused"), "{addrs:?}: {why}");
                assert!(why.contains("WEBHOOK_ALLOWED_NETWORKS"), "{addrs:?}: {why}");
            }
            other => panic!("{addrs:?}: {other:?}"),
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1, "the name was resolved");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection attempted"
    );

    // The control: with loopback allowed, the same name connects.
    let resolver = StubResolver {
        addrs: vec!["127.0.0.1".parse().expect("an address")],
        asked: Arc::new(AtomicUsize::new(0)),
    };
    let allowed = AllowedNetworks::parse("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8").expect("valid");
    let worker = worker_with(&app, EgressPolicy::any_host(allowed), Arc::new(resolver));
    assert!(matches!(
        worker.send(&claimed).await,
        AttemptResult::Failed(None, _)
    ));
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // https only: a plain http URL is refused before resolving.
    let asked = Arc::new(AtomicUsize::new(0));
    let resolver = StubResolver {
        addrs: vec!["127.0.0.1".parse().expect("an address")],
        asked: asked.clone(),
    };
    let policy = EgressPolicy::any_host(none()).https_only("WEBHOOK_ALLOW_HTTP");
    let worker = worker_with(&app, policy, Arc::new(resolver));
    match worker.send(&claimed).await {
        AttemptResult::Failed(None, why) => assert!(why.contains("WEBHOOK_ALLOW_HTTP"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

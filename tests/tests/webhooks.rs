//! Webhooks end to end, through the gateway only: a user registers a webhook to a
//! receiver on 127.0.0.1, watches a company, a scrape run changes it, and the receiver
//! gets the notification signed as Standard Webhooks says (checked by the reference
//! library, npm `standardwebhooks`), after a first attempt it answered with 500 and a
//! retry with the same `webhook-id`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use futures::StreamExt as _;
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::{Stack, workspace_root};
use gleaner_testkit::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    answers: VecDeque<u16>,
}

/// A webhook endpoint on 127.0.0.1: records every request, answers the queued statuses
/// and then 204.
async fn start_receiver() -> (String, Arc<Mutex<Inbox>>) {
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let state = inbox.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move {
            let mut inbox = state.lock().unwrap_or_else(|e| e.into_inner());
            inbox.received.push(Received {
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            AxumStatus::from_u16(inbox.answers.pop_front().unwrap_or(204))
                .unwrap_or(AxumStatus::NO_CONTENT)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/gleaner", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, inbox)
}

fn received(inbox: &Arc<Mutex<Inbox>>) -> Vec<Received> {
    inbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .received
        .clone()
}

async fn wait_for(inbox: &Arc<Mutex<Inbox>>, n: usize, within: Duration) -> Vec<Received> {
    eventually(within, || async {
        let got = received(inbox);
        (got.len() >= n).then_some(got)
    })
    .await
    .unwrap_or_else(|_| panic!("{n} webhook requests: {:?}", received(inbox)))
}

/// Verify with the Standard Webhooks reference library; skipped with a message when it
/// is not installed (scripts/install-tools.sh), except in CI.
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
        eprintln!("SKIPPED the standardwebhooks check: {module} is absent");
        return;
    }
    let input = json!({
        "secret": secret,
        "deliveries": got.iter().map(|r| json!({"headers": {
            "webhook-id": r.header("webhook-id"),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        }, "body": r.body})).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new("node")
        .arg(workspace_root().join("scripts/verify-webhook.mjs"))
        .env("GLEANER_TOOLS", &tools)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "standardwebhooks refused: {stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        got.len(),
        "{stdout}"
    );
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            builder = builder.bearer_auth(t);
        }
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, value) = self.call(method.clone(), path, token, body).await;
        assert_eq!(status, want, "{method} {path}: {value}");
        value
    }

    async fn user(&self, suffix: &str) -> String {
        let username = format!("e2e_wh_{suffix}");
        let password = "a long e2e passphrase";
        self.expect(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": format!("{username}@example.md"), "username": username, "password": password})),
            StatusCode::CREATED,
        )
        .await;
        self.login(&username, password).await
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let pair = self
            .expect(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
                StatusCode::OK,
            )
            .await;
        pair["access_token"].as_str().unwrap().to_owned()
    }

    /// Follow a run's events to the end; the finished run.
    async fn follow_run(&self, id: &str, token: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/api/v1/scrape-runs/{id}/events", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let followed = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(chunk) = stream.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(followed.is_ok(), "run {id} still streaming");
        let run = self
            .expect(
                Method::GET,
                &format!("/api/v1/scrape-runs/{id}"),
                Some(token),
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        run
    }
}

#[tokio::test]
async fn a_watched_change_arrives_signed_at_the_users_webhook_and_is_retried_after_a_500() {
    let stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 12,
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let api = Api {
        base: stack.gateway.clone(),
        http: reqwest::Client::new(),
    };
    let demo = stack.demo.control();
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let user = api.user(&suffix).await;
    let other = api.user(&format!("{suffix}x")).await;
    let admin = api.login(&stack.admin.0, &stack.admin.1).await;

    // The user's webhook, to a receiver that fails the first request.
    let (url, inbox) = start_receiver().await;
    inbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .answers
        .push_back(500);
    let webhook = api
        .expect(
            Method::POST,
            "/api/v1/webhooks",
            Some(&user),
            Some(json!({"url": url, "description": "e2e receiver"})),
            StatusCode::CREATED,
        )
        .await;
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = webhook["id"].as_str().unwrap().to_owned();
    let listed = api
        .expect(
            Method::GET,
            "/api/v1/webhooks",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed["total"], 1);
    assert!(listed["items"][0].get("secret").is_none());
    // Nobody else's.
    api.expect(
        Method::GET,
        &format!("/api/v1/webhooks/{id}/deliveries"),
        Some(&other),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    api.expect(
        Method::GET,
        "/api/v1/webhooks",
        None,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A scrape job against the demo site; its first run (on creation) loads the company.
    let target = demo.companies()[0].idno.clone();
    let job = format!("e2e-wh-{suffix}");
    let site = stack.demo.url();
    let spec = json!({
        "baseUrl": site, "apiUrl": site,
        "targets": {"listPages": {"from": 1, "to": 1}},
        "concurrency": 4, "requestsPerSecond": 100, "maxRetries": 1,
        "respectRobotsTxt": false
    });
    api.expect(
        Method::POST,
        "/api/v1/scrape-jobs",
        Some(&admin),
        Some(json!({"name": job, "spec": spec})),
        StatusCode::CREATED,
    )
    .await;
    let first = eventually(Duration::from_secs(30), || {
        let (api, admin, job) = (&api, &admin, &job);
        async move {
            let (_, runs) = api
                .call(
                    Method::GET,
                    &format!("/api/v1/scrape-runs?job={job}"),
                    Some(admin),
                    None,
                )
                .await;
            runs["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("the job's first run");
    api.follow_run(&first, &admin).await;
    api.expect(
        Method::PUT,
        &format!("/api/v1/watchlist/{target}"),
        Some(&user),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // The site renames the company; the next run notices.
    let renamed = format!("Webhook {suffix} SRL");
    assert!(demo.mutate(&target, |c| c.full_name = renamed.clone()));
    let run = api
        .expect(
            Method::POST,
            &format!("/api/v1/scrape-jobs/{job}/runs"),
            Some(&admin),
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    api.follow_run(&run_id, &admin).await;

    // The first attempt got a 500; the retry (within 30 s) carries the same id and body.
    let got = wait_for(&inbox, 2, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    let event = got[1].json();
    assert_eq!(event["type"], "company.changed");
    assert_eq!(event["data"]["idno"], target);
    assert_eq!(event["data"]["run_id"], run_id);
    assert!(
        event["data"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "name" && c["new"] == renamed.as_str()),
        "{event}"
    );
    let notes = api
        .expect(
            Method::GET,
            "/api/v1/notifications",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        event["data"], notes["items"][0],
        "the data is the notification"
    );

    let deliveries = eventually(Duration::from_secs(10), || {
        let (api, user, id) = (&api, &user, &id);
        async move {
            let (_, page) = api
                .call(
                    Method::GET,
                    &format!("/api/v1/webhooks/{id}/deliveries"),
                    Some(user),
                    None,
                )
                .await;
            (page["items"][0]["status"] == "delivered").then_some(page)
        }
    })
    .await
    .expect("the delivery is recorded as delivered");
    assert_eq!(deliveries["total"], 1);
    let d = &deliveries["items"][0];
    assert_eq!(d["id"], got[0].header("webhook-id"));
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["last_status"], 204);

    // A test event.
    api.expect(
        Method::POST,
        &format!("/api/v1/webhooks/{id}/test"),
        Some(&user),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let got = wait_for(&inbox, 3, Duration::from_secs(30)).await;
    assert_eq!(got[2].json()["type"], "webhook.test");
    verify_with_node(&secret, &got);

    api.expect(
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        Some(&user),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
}

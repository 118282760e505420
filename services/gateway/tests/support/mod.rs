//! A gateway on port 0 in front of three small loopback upstreams that
//! echo what they received, a private Redis and a test token signer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gleaner_common::auth::Role;
use gleaner_common::ratelimit::LeasePolicy;
use gleaner_gateway::config::Settings;
use gleaner_gateway::route_table::DEFAULT_ROUTES;
use gleaner_gateway::startup::Application;
use gleaner_testkit::{TestRedis, TestSigner};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// What one upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// A loopback upstream: echoes every request as JSON, and has a few special paths.
pub struct Upstream {
    pub name: &'static str,
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Lets `/api/v1/scrape-runs/1/events` send its last event and end.
    pub finish_stream: Arc<Notify>,
}

#[derive(Clone)]
struct UpstreamState {
    name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    finish_stream: Arc<Notify>,
}

async fn echo(State(state): State<UpstreamState>, req: Request) -> Response {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    state.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
    });
    if req.headers().contains_key("x-test-unread") {
        // Refuses before reading the body, as a JSON extractor does for a wrong
        // content type; the server then closes the connection.
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported").into_response();
    }
    if path.ends_with("/slow") {
        // Never answers: the gateway's timeout must.
        std::future::pending::<()>().await;
    }
    if path.ends_with("/events") {
        let (tx, rx) = mpsc::channel::<Result<String, std::io::Error>>(4);
        let finish = state.finish_stream.clone();
        tokio::spawn(async move {
            let _ = tx.send(Ok("id: 1\ndata: first\n\n".into())).await;
            finish.notified().await;
            let _ = tx.send(Ok("id: 2\ndata: last\n\n".into())).await;
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        return (
            [("content-type", "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .map(|b| b.len())
        .unwrap_or(0);
    axum::Json(json!({
        "upstream": state.name,
        "method": method,
        "path": path,
        "body_bytes": body,
    }))
    .into_response()
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let finish_stream = Arc::new(Notify::new());
        let state = UpstreamState {
            name,
            seen: seen.clone(),
            finish_stream: finish_stream.clone(),
        };
        let app = Router::new()
            .route("/ready", get(|| async { "ready" }))
            .route(
                "/openapi.json",
                get(move || async move {
                    axum::Json(json!({"openapi": "3.1.0", "info": {"title": name, "version": "1"}, "paths": {}}))
                }),
            )
            .fallback(echo)
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        // As the services serve: responses leave at once (TCP_NODELAY).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            name,
            url,
            seen,
            finish_stream,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A running gateway and everything around it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub redis: TestRedis,
    pub signer: TestSigner,
    pub identity: Upstream,
    pub scraper: Upstream,
    pub app: Upstream,
}

/// Settings for a gateway in front of the given upstreams.
pub fn settings(redis: &TestRedis, signer: &TestSigner, upstreams: [&str; 3]) -> Settings {
    Settings {
        listen_addr: "127.0.0.1:0".into(),
        identity_url: upstreams[0].into(),
        scraper_url: upstreams[1].into(),
        app_url: upstreams[2].into(),
        jwks_url: Some(signer.jwks_url().into()),
        jwt_issuer: gleaner_testkit::ISSUER.into(),
        jwt_audience: gleaner_testkit::AUDIENCE.into(),
        redis_url: SecretString::from(redis.url()),
        rate_limit_per_second: 100.0,
        rate_limit_burst: 1000,
        trusted_proxies: 0,
        cors_allowed_origins: vec![],
        routes: DEFAULT_ROUTES.into(),
        upstream_connect_timeout: Duration::from_secs(2),
        rate_limit_lease: LeasePolicy {
            ttl: gleaner_gateway::limiter::LEASE_TTL,
            max: gleaner_gateway::limiter::LEASE_MAX,
        },
        upstream_timeout: Duration::from_secs(30),
        log: gleaner_common::telemetry::LogSettings::default(),
    }
}

/// A gateway with generous limits.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A gateway with generous limits; `hook` changes its settings.
pub async fn spawn_app_with(hook: impl FnOnce(&mut Settings)) -> TestApp {
    gleaner_common::install_crypto_provider();
    gleaner_testkit::init_logs();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let identity = Upstream::start("identity").await;
    let scraper = Upstream::start("scraper").await;
    let app = Upstream::start("app").await;
    let mut settings = settings(&redis, &signer, [&identity.url, &scraper.url, &app.url]);
    hook(&mut settings);
    let gateway = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));
    let gw = TestApp {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        redis,
        signer,
        identity,
        scraper,
        app,
    };
    // Redis connects in the background: wait, so limits are counted in
    // Redis from the first request.
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let ready = gw.get("/ready").await;
        (json(ready).await["checks"]["redis"] == "ok").then_some(())
    })
    .await
    .unwrap();
    gw
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token of a user with `role`, signed by the key the gateway trusts.
    pub fn token(&self, role: Role) -> String {
        self.signer.token(role)
    }

    /// An anonymous GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// An anonymous GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("a JSON body")
    }

    /// A GET with `token`.
    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.send_auth(reqwest::Method::GET, path, token, None)
            .await
    }

    /// A POST of `body` as JSON with `token`.
    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.send_auth(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Any request with `token`, with `body` as JSON if given.
    pub async fn send_auth(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }
}

/// The JSON body of a response.
pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Assert a problem+json response with `status`, returning its body.
pub async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status().as_u16(), status.as_u16());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = json(response).await;
    assert_eq!(body["status"], status.as_u16());
    body
}

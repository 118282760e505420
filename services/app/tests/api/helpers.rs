use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fred::prelude::*;
use gleaner_app::config::{JobsBackendKind, Settings, WebhookSettings};
use gleaner_app::jobs::scheduler::Scheduler;
use gleaner_app::service_auth::ServiceCredentials;
use gleaner_app::startup::{Application, MIGRATOR};
use gleaner_common::auth::Role;
use gleaner_common::settings::AdminSettings;
use gleaner_scrapejob::egress;
use gleaner_testkit::{FakeKubeApi, TestRedis, TestSigner, fresh_database};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A run start the fake scraper received.
#[derive(Debug, Clone)]
pub struct StartedRun {
    pub run_id: Uuid,
    pub job: String,
    pub spec: Value,
    pub authorization: String,
}

#[derive(Default)]
pub struct FakeScraperState {
    pub runs: HashMap<Uuid, Value>,
    pub started: Vec<StartedRun>,
    pub companies: HashMap<String, String>,
    pub down: bool,
    /// Refuse every run as the scraper's egress policy would.
    pub refuse: bool,
}

/// The scraper's internal run endpoint, run views and company names, in memory.
#[derive(Clone, Default)]
pub struct FakeScraper(pub Arc<Mutex<FakeScraperState>>);

impl FakeScraper {
    fn lock(&self) -> std::sync::MutexGuard<'_, FakeScraperState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn started(&self) -> Vec<StartedRun> {
        self.lock().started.clone()
    }
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }
    pub fn set_refuse(&self, refuse: bool) {
        self.lock().refuse = refuse;
    }
    pub fn add_company(&self, idno: &str, name: &str) {
        self.lock().companies.insert(idno.into(), name.into());
    }
    /// Change a run as the scraper's pipeline would.
    pub fn update_run(&self, id: Uuid, status: &str, fetched: i64, failed: i64) {
        let mut s = self.lock();
        if let Some(run) = s.runs.get_mut(&id) {
            run["status"] = json!(status);
            run["pages_fetched"] = json!(fetched);
            run["pages_failed"] = json!(failed);
            if status != "queued" {
                run["started_at"] = json!(chrono::Utc::now());
            }
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                run["finished_at"] = json!(chrono::Utc::now());
            }
        }
    }
}

async fn start_run(
    State(fake): State<FakeScraper>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let mut s = fake.lock();
    if s.down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": "down"})),
        );
    }
    if s.refuse {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"detail": "invalid fields", "errors": [
                {"field": "spec.baseUrl", "message": "is not an allowed host"}]})),
        );
    }
    let run_id: Uuid =
        serde_json::from_value(body["run_id"].clone()).unwrap_or_else(|_| Uuid::new_v4());
    if s.runs.contains_key(&run_id) {
        return (StatusCode::CONFLICT, Json(json!({"detail": "exists"})));
    }
    let job = body["job"].as_str().unwrap_or_default().to_owned();
    s.started.push(StartedRun {
        run_id,
        job: job.clone(),
        spec: body["spec"].clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    });
    s.runs.insert(
        run_id,
        json!({"id": run_id, "job": job, "status": "queued", "started_at": null, "finished_at": null,
               "pages_fetched": 0, "pages_unchanged": 0, "pages_failed": 0, "companies_created": 0,
               "companies_updated": 0, "errors": []}),
    );
    (StatusCode::ACCEPTED, Json(json!({"run_id": run_id})))
}

async fn get_run(State(fake): State<FakeScraper>, Path(id): Path<Uuid>) -> impl IntoResponse {
    match fake.lock().runs.get(&id) {
        Some(run) => (StatusCode::OK, Json(run.clone())),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "no such run"})),
        ),
    }
}

async fn list_runs(
    State(fake): State<FakeScraper>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let s = fake.lock();
    let items: Vec<Value> = s
        .runs
        .values()
        .filter(|r| q.get("job").is_none_or(|j| r["job"] == json!(j)))
        .cloned()
        .collect();
    Json(json!({"items": items, "page": 1, "per_page": 20, "total": items.len(), "query": q}))
}

async fn company(State(fake): State<FakeScraper>, Path(idno): Path<String>) -> impl IntoResponse {
    match fake.lock().companies.get(&idno) {
        Some(name) => (StatusCode::OK, Json(json!({"idno": idno, "name": name}))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "no such company"})),
        ),
    }
}

impl FakeScraper {
    async fn serve(&self) -> anyhow::Result<String> {
        let app = axum::Router::new()
            .route("/internal/v1/runs", post(start_run))
            .route("/api/v1/scrape-runs", get(list_runs))
            .route("/api/v1/scrape-runs/{id}", get(get_run))
            .route("/api/v1/companies/{idno}", get(company))
            .route("/ready", get(|| async { "ok" }))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://127.0.0.1:{port}"))
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: PgPool,
    pub signer: TestSigner,
    pub redis: TestRedis,
    pub redis_client: Client,
    pub scraper: FakeScraper,
    pub scheduler: Option<Scheduler>,
    pub kube: Option<FakeKubeApi>,
    pub stream: String,
    pub operator: String,
    stop: CancellationToken,
}

/// Where the app under test keeps scrape jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Database,
    Kubernetes,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Backend::Database).await
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// An app whose settings `hook` changes before it is built.
pub async fn spawn_app_with(backend: Backend, hook: impl FnOnce(&mut Settings)) -> TestApp {
    try_spawn(backend, hook).await.expect("the app starts")
}

async fn try_spawn(backend: Backend, hook: impl FnOnce(&mut Settings)) -> anyhow::Result<TestApp> {
    gleaner_common::install_crypto_provider();
    gleaner_testkit::init_logs();
    let db = fresh_database().await?;
    let pool = PgPool::connect(&db.url).await?;
    MIGRATOR.run(&pool).await?;
    let redis = TestRedis::start().await?;
    let signer = TestSigner::start().await?;
    let scraper = FakeScraper::default();
    let scraper_url = scraper.serve().await?;
    let stream = format!("test-events-{}", Uuid::new_v4().simple());
    let mut settings = Settings {
        listen_addr: "127.0.0.1:0".into(),
        database_url: SecretString::from(db.url.clone()),
        database_max_connections: 5,
        redis_url: SecretString::from(redis.url()),
        verifier: signer.verifier_settings(),
        log: gleaner_common::telemetry::LogSettings::default(),
        scraper_url,
        // The local stack's: 127.0.0.1 and localhost, on loopback.
        scraper_allowed_hosts: egress::allowed_hosts(egress::LOCAL_ALLOWED_HOSTS)?,
        scraper_allowed_networks: egress::allowed_networks(egress::LOCAL_ALLOWED_NETWORKS)?,
        identity_url: None,
        admin: AdminSettings {
            email: "admin@gleaner.local".into(),
            password: None,
        },
        jobs_backend: match backend {
            Backend::Database => JobsBackendKind::Database,
            Backend::Kubernetes => JobsBackendKind::Kubernetes,
        },
        scrapejobs_namespace: Some("gleaner".into()),
        events_stream: stream.clone(),
        consumer_group: "app".into(),
        consumer_name: Some("app-test".into()),
        claim_idle: Duration::from_secs(60),
        // Rounds are run by the tests, at the times they choose.
        scheduler_interval: Duration::from_secs(3600),
        run_events_poll: Duration::from_millis(20),
        // http to 127.0.0.0/8: the tests' receivers.
        webhooks: WebhookSettings::local(),
    };
    hook(&mut settings);
    let operator = signer.token(Role::Operator);
    let (kube_client, kube) = match backend {
        Backend::Database => (None, None),
        Backend::Kubernetes => {
            let (addr, fake) = FakeKubeApi::start("gleaner").await?;
            let config = kube::Config::new(format!("http://{addr}").parse()?);
            (Some(kube::Client::try_from(config)?), Some(fake))
        }
    };
    let app = Application::build_with(
        settings,
        ServiceCredentials::Fixed(SecretString::from(signer.token(Role::Operator))),
        kube_client,
    )
    .await?;
    let port = app.port();
    let scheduler = app.scheduler().cloned();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    let redis_client = Client::new(Config::from_url(&redis.url())?, None, None, None);
    redis_client.init().await?;
    Ok(TestApp {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        db: pool,
        signer,
        redis,
        redis_client,
        scraper,
        scheduler,
        kube,
        stream,
        operator,
        stop,
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    /// The database backend's scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        self.scheduler
            .as_ref()
            .expect("the database backend has a scheduler")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn user_token(&self) -> (Uuid, String) {
        let claims = self.signer.claims(Role::User);
        (claims.sub, self.signer.sign(&claims))
    }

    /// An anonymous GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
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

    pub async fn create_job(&self, name: &str, spec: Value) -> reqwest::Response {
        self.post_auth(
            "/api/v1/scrape-jobs",
            &self.operator,
            &json!({"name": name, "spec": spec}),
        )
        .await
    }

    /// Publish an event as the services' outbox relays do.
    pub async fn publish(&self, event_id: &str, event_type: &str, payload: Value) -> String {
        self.redis_client
            .xadd(
                &self.stream,
                false,
                None,
                "*",
                vec![
                    ("id", event_id.to_owned()),
                    ("type", event_type.to_owned()),
                    ("payload", payload.to_string()),
                    ("occurred_at", chrono::Utc::now().to_rfc3339()),
                ],
            )
            .await
            .expect("XADD")
    }
}

impl TestApp {
    /// A Redis pool on the test's server.
    pub fn redis_pool(&self) -> Pool {
        let pool = Builder::from_config(Config::from_url(&self.redis.url()).expect("redis url"))
            .build_pool(1)
            .expect("pool");
        pool.connect();
        pool
    }
}

pub fn idno_spec() -> Value {
    json!({"baseUrl": "http://127.0.0.1:9/", "apiUrl": "http://127.0.0.1:9/api",
           "targets": {"idnos": ["1003600012345"]}})
}

pub async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

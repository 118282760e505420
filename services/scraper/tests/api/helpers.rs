use std::sync::Arc;
use std::time::Duration;

use gleaner_common::auth::Role;
use gleaner_demo_site::{DemoConfig, DemoSite, DemoSiteHandle};
use gleaner_scraper::config::Settings;
use gleaner_scraper::pipeline::{Pipeline, RunSummary};
use gleaner_scraper::spec::RunSpec;
use gleaner_scraper::startup::{Application, MIGRATOR};
use gleaner_scraper::state::AppState;
use gleaner_testkit::{TestRedis, TestSigner, fresh_database};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub site: Arc<DemoSiteHandle>,
    pub db: PgPool,
    pub db_url: String,
    pub redis: TestRedis,
    pub stream: String,
    pub signer: TestSigner,
    stop: CancellationToken,
}

/// The scraper service on a fresh database, in front of a demo site of `companies`.
pub async fn spawn_app(companies: usize) -> TestApp {
    spawn_app_with(companies, |p| p, None).await
}

/// Start the scraper service (pipeline customized), on `db_url` or a fresh database.
pub async fn spawn_app_with(
    companies: usize,
    customize: impl FnOnce(Pipeline) -> Pipeline,
    reuse: Option<(String, Arc<DemoSiteHandle>)>,
) -> TestApp {
    gleaner_common::install_crypto_provider();
    gleaner_testkit::init_logs();
    let (db_url, site) = match reuse {
        Some(r) => r,
        None => {
            let db = fresh_database().await.unwrap();
            (
                db.url,
                Arc::new(
                    DemoSite::start(DemoConfig::new(7, companies))
                        .await
                        .unwrap(),
                ),
            )
        }
    };
    let db = PgPool::connect(&db_url).await.unwrap();
    MIGRATOR.run(&db).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let stream = format!("test-events-{}", uuid::Uuid::new_v4().simple());
    let settings = Settings {
        listen_addr: "127.0.0.1:0".into(),
        database_url: SecretString::from(db_url.clone()),
        database_max_connections: 10,
        redis_url: SecretString::from(redis.url()),
        verifier: signer.verifier_settings(),
        log: gleaner_common::telemetry::LogSettings::default(),
        events_stream: stream.clone(),
        egress: gleaner_scraper::egress::EgressSettings::local(),
    };
    let app = Application::build_with(settings, |p| {
        customize(p.with_min_backoff(Duration::from_millis(20)))
    })
    .await
    .unwrap();
    let port = app.port();
    let state = app.state().clone();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        state,
        site,
        db,
        db_url,
        redis,
        stream,
        signer,
        stop,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token of a user with `role`, signed by the key the service trusts.
    pub fn token(&self, role: Role) -> String {
        self.signer.token(role)
    }

    /// An anonymous GET.
    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// An anonymous GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("a JSON body")
    }

    /// A GET with `token`.
    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.send_auth(Method::GET, path, token, None).await
    }

    /// A POST of `body` as JSON with `token`.
    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send_auth(Method::POST, path, token, Some(body)).await
    }

    /// Any request with `token`, with `body` as JSON if given.
    pub async fn send_auth(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// A spec for the demo site with politeness off (fast).
    pub fn spec(&self) -> RunSpec {
        serde_json::from_value(json!({
            "baseUrl": self.site.url(), "apiUrl": self.site.url(),
            "targets": {"listPages": {"from": 1, "to": 1}},
            "concurrency": 8, "requestsPerSecond": 100, "maxRetries": 3,
            "timeoutSeconds": 120, "respectRobotsTxt": true
        }))
        .unwrap()
    }

    /// Run a scrape to the end through the pipeline.
    pub async fn scrape(&self, spec: &RunSpec) -> RunSummary {
        self.state
            .pipeline
            .scrape(uuid::Uuid::new_v4(), "test", spec, CancellationToken::new())
            .await
            .unwrap()
    }

    /// Start a scrape in the background (to kill it or cut its database midway).
    pub fn scrape_in_background(
        &self,
        spec: &RunSpec,
    ) -> tokio::task::JoinHandle<anyhow::Result<RunSummary>> {
        let pipeline = self.state.pipeline.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            pipeline
                .scrape(
                    uuid::Uuid::new_v4(),
                    "test",
                    &spec,
                    CancellationToken::new(),
                )
                .await
        })
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

/// The egress settings a `scraper run` needs to reach the demo site on loopback.
pub const LOOPBACK_EGRESS: [(&str, &str); 2] = [
    ("SCRAPER_ALLOWED_HOSTS", "127.0.0.1"),
    ("SCRAPER_ALLOWED_NETWORKS", "127.0.0.0/8"),
];

/// The company JSON without the fields the ground truth does not have.
pub fn strip_meta(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("source");
        o.remove("updated_at");
    }
    v
}

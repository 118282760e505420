use std::path::PathBuf;
use std::time::Duration;

use gleaner_common::settings::AdminSettings;
use gleaner_identity::config::{Environment, Settings};
use gleaner_identity::keys::generate_dev_key_pem;
use gleaner_identity::startup::{Application, MIGRATOR};
use gleaner_identity::state::AppState;
use gleaner_identity::throttle::ThrottleLimits;
use gleaner_testkit::{TestRedis, fresh_database};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const ADMIN_EMAIL: &str = "admin@gleaner.local";
pub const ADMIN_PASSWORD: &str = "admin-Secret-pass-42";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub redis: TestRedis,
    pub key_dir: PathBuf,
    pub stream: String,
    stop: CancellationToken,
}

pub struct Builder {
    settings_hook: Box<dyn FnOnce(&mut Settings)>,
    limits: ThrottleLimits,
    admin: bool,
}

impl Builder {
    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.settings_hook = Box::new(f);
        self
    }
    pub fn limits(mut self, limits: ThrottleLimits) -> Self {
        self.limits = limits;
        self
    }
    pub fn without_admin(mut self) -> Self {
        self.admin = false;
        self
    }

    pub async fn try_spawn(self) -> anyhow::Result<TestApp> {
        gleaner_common::install_crypto_provider();
        gleaner_testkit::init_logs();
        let db = fresh_database().await?;
        let pool = sqlx::PgPool::connect(&db.url).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        let redis = TestRedis::start().await?;
        let key_dir =
            std::env::temp_dir().join(format!("gleaner-keys-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&key_dir)?;
        let key_file = key_dir.join("signing.pem");
        std::fs::write(&key_file, generate_dev_key_pem()?)?;
        let stream = format!("test-events-{}", uuid::Uuid::new_v4().simple());
        let mut settings = Settings {
            listen_addr: "127.0.0.1:0".into(),
            database_url: SecretString::from(db.url.clone()),
            database_max_connections: 5,
            redis_url: SecretString::from(redis.url()),
            log: gleaner_common::telemetry::LogSettings::default(),
            jwt_issuer: "gleaner".into(),
            jwt_audience: "gleaner-api".into(),
            jwt_signing_key_file: key_file,
            jwt_previous_key_files: vec![],
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 86400),
            bcrypt_cost: 4,
            admin: AdminSettings {
                email: ADMIN_EMAIL.into(),
                password: self
                    .admin
                    .then(|| SecretString::from(ADMIN_PASSWORD.to_string())),
            },
            environment: Environment::Development,
            // As behind the gateway: one proxy appends the client to X-Forwarded-For.
            trusted_proxies: 1,
            password_hash_threads: None,
            password_hash_queue: 64,
            login_failures_per_account: 5,
            login_failures_per_address: 30,
            login_failure_window: Duration::from_secs(300),
            logins_per_address: 60,
            registrations_per_address: 10,
            events_stream: stream.clone(),
        };
        (self.settings_hook)(&mut settings);
        let app = Application::build_with(settings, self.limits).await?;
        let port = app.port();
        let state = app.state().clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
        let test = TestApp {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            state,
            redis,

            key_dir,
            stream,
            stop,
        };
        if self.admin {
            gleaner_testkit::eventually(Duration::from_secs(10), || async {
                gleaner_identity::users::admin_exists(&test.state.db)
                    .await
                    .ok()
                    .filter(|e| *e)
            })
            .await?;
        }
        Ok(test)
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.expect("test app starts")
    }
}

pub fn app() -> Builder {
    Builder {
        settings_hook: Box::new(|_| {}),
        limits: ThrottleLimits::default(),
        admin: true,
    }
}

pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.key_dir);
    }
}

/// A logged-in user.
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl TestApp {
    /// Send the shutdown signal (what SIGTERM does in `main`).
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
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

    /// An anonymous POST of `body` as JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A GET with `token`.
    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.send_auth(reqwest::Method::GET, path, token, None)
            .await
    }

    /// A POST of `body` as JSON with `token`.
    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> Response {
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
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    pub async fn register(&self, username: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": format!("{username}@example.md"), "username": username, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Register (if needed) and log in.
    pub async fn user(&self, username: &str) -> Session {
        let r = self.register(username).await;
        assert!(r.status() == StatusCode::CREATED || r.status() == StatusCode::CONFLICT);
        self.session(username, PASSWORD).await
    }

    pub async fn session(&self, username: &str, password: &str) -> Session {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        let body: Value = r.json().await.expect("json");
        let access = body["access_token"].as_str().expect("access").to_string();
        let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
        let me: Value = self
            .get_auth("/api/v1/users/me", &access)
            .await
            .json()
            .await
            .expect("me");
        Session {
            access,
            refresh,
            user_id: me["id"].as_str().expect("id").to_string(),
        }
    }

    pub async fn admin(&self) -> Session {
        self.session("admin", ADMIN_PASSWORD).await
    }

    pub async fn refresh(&self, token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({"refresh_token": token}))
            .await
    }
}

/// Assert a problem+json error with `status`; returns the body.
pub async fn assert_problem(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    let body: Value = r.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    for k in ["type", "title", "detail", "instance", "request_id"] {
        assert!(body.get(k).is_some(), "problem lacks {k}: {body}");
    }
    body
}

pub fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

//! Identity with PostgreSQL and Redis behind fault proxies: while one is cut the
//! API answers 503 problem+json naming it, it recovers without a restart once
//! the dependency is back, and no `user.*` event is lost on the way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;
use fred::interfaces::StreamsInterface as _;
use gleaner_testkit::{FaultProxy, TEST_DATABASE_URL, TestRedis, eventually, url_via_port};
use reqwest::StatusCode;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

/// How long a recovery may take: fred reconnects with a backoff of up to 5 s.
const RECOVERY: Duration = Duration::from_secs(30);

/// The identity service reaching PostgreSQL and Redis through fault proxies.
struct Faulty {
    app: TestApp,
    pg: FaultProxy,
    redis: FaultProxy,
    /// The service's database, reached directly (not through the proxy).
    direct: sqlx::PgPool,
    _redis_server: TestRedis,
}

async fn spawn_faulty() -> Faulty {
    let admin_url = std::env::var(TEST_DATABASE_URL).expect("TEST_DATABASE_URL is set");
    let (pg, _) = FaultProxy::in_front_of(&admin_url).await.unwrap();
    let redis_server = TestRedis::start().await.unwrap();
    let (redis, redis_url) = FaultProxy::in_front_of(&redis_server.url()).await.unwrap();
    let pg_port = pg.port();
    let direct_url = Arc::new(Mutex::new(String::new()));
    let seen = direct_url.clone();
    let app = app()
        .settings(move |s| {
            let url = s.database_url.expose_secret().to_owned();
            s.database_url = SecretString::from(url_via_port(&url, pg_port).unwrap());
            *seen.lock().unwrap() = url;
            s.redis_url = SecretString::from(redis_url);
        })
        .spawn()
        .await;
    let direct_url = direct_url.lock().unwrap().clone();
    let direct = sqlx::PgPool::connect(&direct_url).await.unwrap();
    Faulty {
        app,
        pg,
        redis,
        direct,
        _redis_server: redis_server,
    }
}

impl Faulty {
    /// `(type, user id)` of every event on the stream, read through the proxy.
    async fn events(&self) -> Option<Vec<(String, String)>> {
        let entries: Vec<(String, HashMap<String, String>)> = self
            .app
            .state
            .redis
            .xrange(&self.app.stream, "-", "+", None)
            .await
            .ok()?;
        Some(
            entries
                .into_iter()
                .map(|(_, fields)| {
                    let payload: Value = serde_json::from_str(&fields["payload"]).unwrap();
                    (
                        fields["type"].clone(),
                        payload["id"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        )
    }

    /// Wait until the events equal `expected` (in order) and no outbox row is pending.
    async fn assert_published(&self, expected: &[(String, String)]) {
        eventually(RECOVERY, || async {
            let events = self.events().await?;
            (events == expected).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("the stream never held exactly {expected:?}: {e}"));
        eventually(RECOVERY, || async {
            (self.pending().await == 0).then_some(())
        })
        .await
        .expect("the relay marks every row published");
    }

    async fn pending(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM identity_outbox WHERE published_at IS NULL")
            .fetch_one(&self.direct)
            .await
            .unwrap()
    }

    async fn user_id(&self, username: &str) -> String {
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_one(&self.direct)
            .await
            .unwrap()
            .to_string()
    }

    /// `/ready`'s status and its check of `dependency`.
    async fn ready(&self, dependency: &str) -> (u16, String) {
        let r = self
            .app
            .http
            .get(self.app.url("/ready"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (
            status,
            body["checks"][dependency]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

#[tokio::test]
async fn postgres_cut_is_a_503_naming_it_and_every_event_is_published_after_restore() {
    let f = spawn_faulty().await;
    let admin_id = f.user_id("admin").await;
    assert_eq!(f.app.register("before").await.status(), StatusCode::CREATED);
    let before = f.user_id("before").await;

    f.pg.cut().await;
    assert_eq!(f.ready("postgres").await, (503, "unavailable".into()));
    assert_eq!(f.ready("redis").await.1, "ok");
    gleaner_testkit::assert_unavailable_naming(f.app.register("during").await, "PostgreSQL").await;
    gleaner_testkit::assert_unavailable_naming(
        f.app.login("admin", ADMIN_PASSWORD).await,
        "PostgreSQL",
    )
    .await;

    f.pg.restore();
    // No restart: the same process answers again once PostgreSQL is back.
    eventually(RECOVERY, || async {
        (f.app.register("after").await.status() == StatusCode::CREATED).then_some(())
    })
    .await
    .expect("registration works again");
    assert_eq!(f.ready("postgres").await, (200, "ok".into()));
    let after = f.user_id("after").await;
    let created = |id: &str| ("user.created".to_owned(), id.to_owned());
    f.assert_published(&[created(&admin_id), created(&before), created(&after)])
        .await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username = 'during'")
        .fetch_one(&f.direct)
        .await
        .unwrap();
    assert_eq!(count, 0, "a refused registration left nothing behind");
    f.app.session("after", PASSWORD).await;
}

#[tokio::test]
async fn redis_cut_refuses_logins_naming_it_and_registrations_publish_after_restore() {
    let f = spawn_faulty().await;
    let admin_id = f.user_id("admin").await;
    let created = |id: &str| ("user.created".to_owned(), id.to_owned());
    f.assert_published(&[created(&admin_id)]).await;

    f.redis.cut().await;
    assert_eq!(f.ready("redis").await, (503, "unavailable".into()));
    gleaner_testkit::assert_unavailable_naming(f.app.login("admin", ADMIN_PASSWORD).await, "Redis")
        .await;
    // Registration needs only PostgreSQL: its outbox row waits for Redis.
    assert_eq!(f.app.register("during").await.status(), StatusCode::CREATED);
    let during = f.user_id("during").await;
    assert_eq!(f.pending().await, 1, "the event waits in the outbox");

    f.redis.restore();
    f.assert_published(&[created(&admin_id), created(&during)])
        .await;
    eventually(RECOVERY, || async {
        (f.app.login("during", PASSWORD).await.status() == StatusCode::OK).then_some(())
    })
    .await
    .expect("logins work again");
    assert_eq!(f.ready("redis").await, (200, "ok".into()));
}

#[tokio::test]
async fn a_slow_database_is_waited_for_and_a_silent_one_is_a_503_not_a_hang() {
    let f = spawn_faulty().await;
    // Slow: every chunk waits, the request still succeeds.
    f.pg.slow(Duration::from_millis(50));
    assert_eq!(
        f.app.register("slowpoke").await.status(),
        StatusCode::CREATED
    );

    // Silent: connections stay open and nothing comes back. The pool's acquire
    // timeout (or the request deadline) answers; the client's own timeout is a
    // far bound that only a hang would reach.
    f.pg.blackhole();
    let r = f
        .app
        .http
        .post(f.app.url("/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "silent@example.md", "username": "silent", "password": PASSWORD}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an answer, not a hang");
    let body = assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("PostgreSQL")
            || body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("dependency"),
        "{body}"
    );

    f.pg.restore();
    eventually(RECOVERY, || async {
        (f.app.register("silent").await.status() == StatusCode::CREATED).then_some(())
    })
    .await
    .expect("registration works again");
}

#[tokio::test]
async fn a_silent_redis_is_a_503_naming_it_not_a_hang() {
    let f = spawn_faulty().await;
    // Connections stay open and Redis never answers: the command timeout answers.
    f.redis.blackhole();
    let r = f
        .app
        .http
        .post(f.app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an answer, not a hang");
    gleaner_testkit::assert_unavailable_naming(r, "Redis").await;

    f.redis.restore();
    eventually(RECOVERY, || async {
        (f.app.login("admin", ADMIN_PASSWORD).await.status() == StatusCode::OK).then_some(())
    })
    .await
    .expect("logins work again");
}

//! The app with PostgreSQL and Redis behind fault proxies: while one is cut the
//! API answers 503 problem+json naming it, the app recovers without a restart,
//! and `company.changed` events delivered meanwhile become notifications after
//! the restore, each exactly once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::interfaces::StreamsInterface as _;
use gleaner_testkit::{FaultProxy, TEST_DATABASE_URL, eventually, url_via_port};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, body, spawn_app_with};

const IDNO: &str = "1003600012345";
/// fred reconnects with a backoff of up to 5 s; the consumer backs off after failures.
const RECOVERY: Duration = Duration::from_secs(45);

/// An app reaching PostgreSQL through `pg`.
async fn app_with_postgres_proxy() -> (TestApp, FaultProxy) {
    let admin_url = std::env::var(TEST_DATABASE_URL).expect("TEST_DATABASE_URL is set");
    let (pg, _) = FaultProxy::in_front_of(&admin_url).await.unwrap();
    let port = pg.port();
    let app = spawn_app_with(Backend::Database, |s| {
        let url = url_via_port(s.database_url.expose_secret(), port).unwrap();
        s.database_url = SecretString::from(url);
    })
    .await;
    (app, pg)
}

/// An app reaching Redis through a proxy made once the test's Redis is known.
async fn app_with_redis_proxy() -> (TestApp, FaultProxy) {
    let made = Arc::new(Mutex::new(None));
    let slot = made.clone();
    let app = spawn_app_with(Backend::Database, move |s| {
        let target = s.redis_url.expose_secret().to_owned();
        // The settings hook is synchronous; the proxy starts on this runtime.
        let (proxy, url) = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(FaultProxy::in_front_of(&target))
        })
        .unwrap();
        s.redis_url = SecretString::from(url);
        *slot.lock().unwrap() = Some(proxy);
    })
    .await;
    let proxy = made
        .lock()
        .unwrap()
        .take()
        .expect("the hook made the proxy");
    (app, proxy)
}

async fn watch(app: &TestApp, token: &str) {
    let r = app
        .send_auth(
            Method::PUT,
            &format!("/api/v1/watchlist/{IDNO}"),
            token,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

fn changed(run_id: Uuid) -> Value {
    json!({"idno": IDNO, "company_name": "Alfa Nova", "run_id": run_id,
           "changes": [{"field": "name", "old": "Alfa", "new": "Alfa Nova"}]})
}

/// Entries delivered to the app's consumer group and not acknowledged.
async fn unacknowledged(app: &TestApp) -> Option<i64> {
    let reply: fred::types::Value = app
        .redis_client
        .xpending(&app.stream, "app", ())
        .await
        .ok()?;
    match reply {
        fred::types::Value::Array(parts) => parts.first().and_then(|v| v.as_i64()),
        _ => None,
    }
}

/// Wait until every event was handled and the notification count is `total`.
async fn settle(app: &TestApp, token: &str, total: i64) -> Value {
    eventually(RECOVERY, || async {
        (unacknowledged(app).await? == 0).then_some(())?;
        let r = app.get_auth("/api/v1/notifications", token).await;
        (r.status() == StatusCode::OK).then_some(())?;
        let page = body(r).await;
        (page["total"] == total).then_some(page)
    })
    .await
    .expect("the events become notifications")
}

async fn ready_check(app: &TestApp, dependency: &str) -> (u16, String) {
    let r = app.get("/ready").await;
    let status = r.status().as_u16();
    let checks = body(r).await["checks"][dependency].clone();
    (status, checks.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn events_delivered_while_postgres_is_cut_notify_exactly_once_after_restore() {
    let (app, pg) = app_with_postgres_proxy().await;
    let (_, alice) = app.user_token();
    watch(&app, &alice).await;

    pg.cut().await;
    gleaner_testkit::assert_unavailable_naming(
        app.get_auth("/api/v1/notifications", &alice).await,
        "PostgreSQL",
    )
    .await;
    assert_eq!(
        ready_check(&app, "postgres").await,
        (503, "unavailable".into())
    );
    let run = Uuid::new_v4();
    app.publish("scraper-1", "company.changed", changed(run))
        .await;
    // Delivered twice, as a relay retrying after a lost acknowledgement would.
    app.publish("scraper-1", "company.changed", changed(run))
        .await;

    pg.restore();
    let page = settle(&app, &alice, 1).await;
    assert_eq!(page["items"][0]["run_id"], run.to_string());
    assert_eq!(ready_check(&app, "postgres").await, (200, "ok".into()));
    // A later event is handled too, and the first one is not repeated.
    let later = Uuid::new_v4();
    app.publish("scraper-2", "company.changed", changed(later))
        .await;
    settle(&app, &alice, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_redis_is_cut_are_read_after_restore() {
    let (app, redis) = app_with_redis_proxy().await;
    let (_, alice) = app.user_token();
    watch(&app, &alice).await;

    redis.cut().await;
    // Tokens are checked against the revocation list in Redis.
    gleaner_testkit::assert_unavailable_naming(
        app.get_auth("/api/v1/watchlist", &alice).await,
        "Redis",
    )
    .await;
    assert_eq!(
        ready_check(&app, "redis").await,
        (503, "unavailable".into())
    );
    // The scraper's relay reaches Redis; the app does not.
    let run = Uuid::new_v4();
    app.publish("scraper-1", "company.changed", changed(run))
        .await;

    redis.restore();
    let page = settle(&app, &alice, 1).await;
    assert_eq!(page["items"][0]["run_id"], run.to_string());
    assert_eq!(ready_check(&app, "redis").await, (200, "ok".into()));
}

#[tokio::test]
async fn a_silent_database_is_a_503_not_a_hang() {
    let (app, pg) = app_with_postgres_proxy().await;
    let (_, alice) = app.user_token();
    watch(&app, &alice).await;

    pg.slow(Duration::from_millis(50));
    let r = app.get_auth("/api/v1/watchlist", &alice).await;
    assert_eq!(r.status(), StatusCode::OK, "slow is still an answer");

    pg.blackhole();
    let r = app
        .http
        .get(app.url("/api/v1/watchlist"))
        .bearer_auth(&alice)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    pg.restore();
    eventually(RECOVERY, || async {
        (app.get_auth("/api/v1/watchlist", &alice).await.status() == StatusCode::OK).then_some(())
    })
    .await
    .expect("the watchlist answers again");
}

//! SIGTERM during traffic (a rolling update) drops no request: the `app`
//! binary, its PostgreSQL slowed down by a fault proxy so watchlist requests are
//! still running when the signal comes, finishes every one of them, turns
//! `/ready` to 503 while it drains, then closes its port and exits 0.

use std::time::Duration;

use axum::routing::get;
use gleaner_app::startup::MIGRATOR;
use gleaner_common::auth::Role;
use gleaner_testkit::{
    FaultProxy, InFlight, ServiceProcess, TestRedis, TestSigner, eventually, fresh_database,
};
use serde_json::Value;

/// Watchlist additions in flight at SIGTERM, each by another user.
const WRITES: usize = 10;
/// Watchlist reads in flight at SIGTERM.
const READS: usize = 10;

/// A stand-in for the scraper that is ready and knows nothing else.
async fn idle_scraper() -> String {
    let app = axum::Router::new().route("/ready", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn sigterm_finishes_every_in_flight_request_then_exits_zero() {
    gleaner_common::install_crypto_provider();
    let db = fresh_database().await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let (pg, database_url) = FaultProxy::in_front_of(&db.url).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let mut app = ServiceProcess::start(
        env!("CARGO_BIN_EXE_app"),
        &["serve"],
        &[
            ("DATABASE_URL", database_url),
            ("DATABASE_MAX_CONNECTIONS", "32".into()),
            ("REDIS_URL", redis.url()),
            ("JWKS_URL", signer.jwks_url().to_owned()),
            ("JWT_ISSUER", gleaner_testkit::ISSUER.into()),
            ("JWT_AUDIENCE", gleaner_testkit::AUDIENCE.into()),
            ("SCRAPER_URL", idle_scraper().await),
            ("APP_JOBS_BACKEND", "database".into()),
            ("SHUTDOWN_DELAY", "3s".into()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let r = http
            .get(format!("{}/ready", app.base()))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .expect("the app becomes ready");

    // Every database round trip now takes a while: requests are slow.
    pg.slow(Duration::from_millis(150));
    let mut in_flight = Vec::new();
    for i in 0..WRITES + READS {
        let bearer = format!("Bearer {}", signer.token(Role::User));
        let headers = [("authorization", bearer.as_str())];
        let request = if i < WRITES {
            InFlight::send(
                app.addr(),
                "PUT",
                "/api/v1/watchlist/1003600012345",
                &headers,
                b"",
            )
        } else {
            InFlight::send(app.addr(), "GET", "/api/v1/watchlist", &headers, b"")
        };
        in_flight.push(request.await.unwrap());
    }
    let responses = tokio::spawn(futures::future::join_all(
        in_flight.into_iter().map(InFlight::response),
    ));

    app.sigterm().await.unwrap();
    let ready: Value = eventually(Duration::from_secs(10), || async {
        let r = http
            .get(format!("{}/ready", app.base()))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(())?;
        r.json().await.ok()
    })
    .await
    .expect("/ready turns 503 on SIGTERM");
    assert_eq!(ready["checks"]["shutdown"], "unavailable", "{ready}");
    eventually(Duration::from_secs(30), || async {
        app.refuses_connections().await.then_some(())
    })
    .await
    .expect("new connections are refused after the drain");

    let statuses: Vec<u16> = responses
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every in-flight request gets its response").0)
        .collect();
    let mut expected = vec![204; WRITES];
    expected.extend([200; READS]);
    assert_eq!(statuses, expected, "no in-flight request was dropped");
    let status = app.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
    let watched: i64 = sqlx::query_scalar("SELECT count(*) FROM watchlist")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(watched, WRITES as i64);
}

//! SIGTERM during traffic (a rolling update) drops no request: the `app`
//! binary, its PostgreSQL slowed down by a fault proxy so watchlist requests are
//! still running when the signal comes, finishes every one of them, turns
//! `/ready` to 503 while it drains, then closes its port and exits 0.

use std::time::Duration;

use axum::routing::get;
use gleaner_app::startup::MIGRATOR;
use gleaner_common::auth::Role;
use gleaner_testkit::{InFlight, ProxiedDatabase, ServiceProcess, TestRedis, TestSigner};

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
    let db = ProxiedDatabase::start(&MIGRATOR).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("DATABASE_MAX_CONNECTIONS", "32".into()),
        ("REDIS_URL", redis.url()),
        ("SCRAPER_URL", idle_scraper().await),
        ("APP_JOBS_BACKEND", "database".into()),
    ];
    env.extend(signer.verifier_env());
    let mut app = ServiceProcess::start_ready_to_drain(env!("CARGO_BIN_EXE_app"), &["serve"], &env)
        .await
        .unwrap();

    // Every database round trip now takes a while: requests are slow.
    db.proxy.slow(Duration::from_millis(150));
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

    let draining = app.sigterm_with_in_flight(in_flight).await.unwrap();
    let mut expected = vec![204; WRITES];
    expected.extend([200; READS]);
    assert_eq!(
        draining.statuses().await.unwrap(),
        expected,
        "no in-flight request was dropped"
    );
    let status = app.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
    let watched: i64 = sqlx::query_scalar("SELECT count(*) FROM watchlist")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(watched, WRITES as i64);
}

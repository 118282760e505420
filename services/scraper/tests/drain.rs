//! SIGTERM during traffic (a rolling update) drops no request: `scraper serve`,
//! its PostgreSQL slowed down by a fault proxy so company reads are still running
//! when the signal comes, finishes every one of them, turns `/ready` to 503 while
//! it drains, then closes its port and exits 0.

use std::time::Duration;

use gleaner_scraper::startup::MIGRATOR;
use gleaner_testkit::{
    FaultProxy, InFlight, ServiceProcess, TestRedis, TestSigner, eventually, fresh_database,
};
use serde_json::Value;

/// Company reads in flight at SIGTERM.
const READS: usize = 16;
/// Health checks (no dependency) in flight at SIGTERM.
const HEALTH_CHECKS: usize = 8;

#[tokio::test]
async fn sigterm_finishes_every_in_flight_request_then_exits_zero() {
    gleaner_common::install_crypto_provider();
    let db = fresh_database().await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let (pg, database_url) = FaultProxy::in_front_of(&db.url).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let mut scraper = ServiceProcess::start(
        env!("CARGO_BIN_EXE_scraper"),
        &["serve"],
        &[
            ("DATABASE_URL", database_url),
            ("DATABASE_MAX_CONNECTIONS", "32".into()),
            ("REDIS_URL", redis.url()),
            ("JWKS_URL", signer.jwks_url().to_owned()),
            ("JWT_ISSUER", gleaner_testkit::ISSUER.into()),
            ("JWT_AUDIENCE", gleaner_testkit::AUDIENCE.into()),
            ("SHUTDOWN_DELAY", "3s".into()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let r = http
            .get(format!("{}/ready", scraper.base()))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .expect("the scraper becomes ready");

    // Every database round trip now takes a while: reads are slow.
    pg.slow(Duration::from_millis(150));
    let mut in_flight = Vec::new();
    for i in 0..READS {
        let path = format!("/api/v1/companies?q=drain{i}");
        in_flight.push(
            InFlight::send(scraper.addr(), "GET", &path, &[], b"")
                .await
                .unwrap(),
        );
    }
    for _ in 0..HEALTH_CHECKS {
        in_flight.push(
            InFlight::send(scraper.addr(), "GET", "/health", &[], b"")
                .await
                .unwrap(),
        );
    }
    let responses = tokio::spawn(futures::future::join_all(
        in_flight.into_iter().map(InFlight::response),
    ));

    scraper.sigterm().await.unwrap();
    let ready: Value = eventually(Duration::from_secs(10), || async {
        let r = http
            .get(format!("{}/ready", scraper.base()))
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
        scraper.refuses_connections().await.then_some(())
    })
    .await
    .expect("new connections are refused after the drain");

    let statuses: Vec<u16> = responses
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every in-flight request gets its response").0)
        .collect();
    assert_eq!(
        statuses,
        [vec![200; READS], vec![200; HEALTH_CHECKS]].concat(),
        "no in-flight request was dropped"
    );
    let status = scraper.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
}

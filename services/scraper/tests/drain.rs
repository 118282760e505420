//! SIGTERM during traffic (a rolling update) drops no request: `scraper serve`,
//! its PostgreSQL slowed down by a fault proxy so company reads are still running
//! when the signal comes, finishes every one of them, turns `/ready` to 503 while
//! it drains, then closes its port and exits 0.

use std::time::Duration;

use gleaner_scraper::startup::MIGRATOR;
use gleaner_testkit::{InFlight, ProxiedDatabase, ServiceProcess, TestRedis, TestSigner};

/// Company reads in flight at SIGTERM.
const READS: usize = 16;
/// Health checks (no dependency) in flight at SIGTERM.
const HEALTH_CHECKS: usize = 8;

#[tokio::test]
async fn sigterm_finishes_every_in_flight_request_then_exits_zero() {
    let db = ProxiedDatabase::start(&MIGRATOR).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("DATABASE_MAX_CONNECTIONS", "32".into()),
        ("REDIS_URL", redis.url()),
    ];
    env.extend(signer.verifier_env());
    let mut scraper =
        ServiceProcess::start_ready_to_drain(env!("CARGO_BIN_EXE_scraper"), &["serve"], &env)
            .await
            .unwrap();

    // Every database round trip now takes a while: reads are slow.
    db.proxy.slow(Duration::from_millis(150));
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

    let draining = scraper.sigterm_with_in_flight(in_flight).await.unwrap();
    assert_eq!(
        draining.statuses().await.unwrap(),
        [vec![200; READS], vec![200; HEALTH_CHECKS]].concat(),
        "no in-flight request was dropped"
    );
    let status = scraper.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
}

//! SIGTERM during traffic (a rolling update) drops no request: the `identity`
//! binary, its PostgreSQL slowed down by a fault proxy so registrations are
//! still running when the signal comes, finishes every one of them, turns
//! `/ready` to 503 while it drains, then closes its port and exits 0.

use std::time::Duration;

use gleaner_identity::keys::generate_dev_key_pem;
use gleaner_identity::startup::MIGRATOR;
use gleaner_testkit::{InFlight, ProxiedDatabase, ServiceProcess, TestRedis};
use serde_json::json;

/// Concurrent registrations in flight at SIGTERM.
const REGISTRATIONS: usize = 12;
/// Other requests (no dependency) in flight at SIGTERM.
const HEALTH_CHECKS: usize = 12;

#[tokio::test]
async fn sigterm_finishes_every_in_flight_request_then_exits_zero() {
    let db = ProxiedDatabase::start(&MIGRATOR).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let key_dir =
        std::env::temp_dir().join(format!("gleaner-drain-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&key_dir).unwrap();
    let key_file = key_dir.join("signing.pem");
    std::fs::write(&key_file, generate_dev_key_pem().unwrap()).unwrap();
    let mut identity = ServiceProcess::start_ready_to_drain(
        env!("CARGO_BIN_EXE_identity"),
        &["serve"],
        &[
            ("DATABASE_URL", db.url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "32".into()),
            ("REDIS_URL", redis.url()),
            ("JWT_SIGNING_KEY_FILE", key_file.display().to_string()),
            ("BCRYPT_COST", "4".into()),
            ("REGISTRATIONS_PER_ADDRESS", "1000".into()),
        ],
    )
    .await
    .unwrap();

    // Every database round trip now takes a while: registrations are slow.
    db.proxy.slow(Duration::from_millis(150));
    let mut in_flight = Vec::new();
    for i in 0..REGISTRATIONS {
        let body = json!({
            "email": format!("drain{i}@example.md"),
            "username": format!("drain{i}"),
            "password": "correct horse battery staple",
        });
        let body = serde_json::to_vec(&body).unwrap();
        in_flight.push(
            InFlight::send(
                identity.addr(),
                "POST",
                "/api/v1/auth/register",
                &[("content-type", "application/json")],
                &body,
            )
            .await
            .unwrap(),
        );
    }
    for _ in 0..HEALTH_CHECKS {
        in_flight.push(
            InFlight::send(identity.addr(), "GET", "/health", &[], b"")
                .await
                .unwrap(),
        );
    }

    let draining = identity.sigterm_with_in_flight(in_flight).await.unwrap();
    let statuses = draining.statuses().await.unwrap();
    let mut expected = vec![201; REGISTRATIONS];
    expected.extend([200; HEALTH_CHECKS]);
    assert_eq!(statuses, expected, "no in-flight request was dropped");
    let status = identity.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");

    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE username LIKE 'drain%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(registered, REGISTRATIONS as i64);
    let _ = std::fs::remove_dir_all(&key_dir);
}

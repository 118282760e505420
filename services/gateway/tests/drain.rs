//! SIGTERM during traffic (a rolling update) drops no request: the `gateway`
//! binary, with requests held by an upstream when the signal comes, turns
//! `/ready` to 503, closes its port to new connections, still delivers every
//! held response once the upstream answers, and exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use gleaner_testkit::{InFlight, ServiceProcess, TestRedis, TestSigner, eventually};
use tokio::sync::watch;

/// Requests held by the upstream at SIGTERM.
const HELD: usize = 16;

/// An upstream that answers `/ready` and holds every other request until released.
struct HoldingUpstream {
    url: String,
    arrived: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

async fn holding_upstream() -> HoldingUpstream {
    let arrived = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);
    let counter = arrived.clone();
    let app = Router::new()
        .route("/ready", get(|| async { "ready" }))
        .fallback(move || {
            let counter = counter.clone();
            let mut released = released.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = released.wait_for(|r| *r).await;
                axum::Json(serde_json::json!({"items": [], "page": 1, "per_page": 20, "total": 0}))
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    HoldingUpstream {
        url,
        arrived,
        release,
    }
}

#[tokio::test]
async fn sigterm_delivers_every_held_response_then_exits_zero() {
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let upstream = holding_upstream().await;
    let mut env = vec![
        ("IDENTITY_URL", upstream.url.clone()),
        ("SCRAPER_URL", upstream.url.clone()),
        ("APP_URL", upstream.url.clone()),
        ("REDIS_URL", redis.url()),
        ("RATE_LIMIT_BURST", "1000".into()),
        ("RATE_LIMIT_PER_SECOND", "1000".into()),
    ];
    env.extend(signer.verifier_env());
    let mut gateway =
        ServiceProcess::start_ready_to_drain(env!("CARGO_BIN_EXE_gateway"), &[], &env)
            .await
            .unwrap();

    let mut in_flight = Vec::new();
    for i in 0..HELD {
        let path = format!("/api/v1/companies?q=held{i}");
        in_flight.push(
            InFlight::send(gateway.addr(), "GET", &path, &[], b"")
                .await
                .unwrap(),
        );
    }
    // Every request has reached the upstream: all are in flight.
    eventually(Duration::from_secs(30), || async {
        (upstream.arrived.load(Ordering::SeqCst) == HELD).then_some(())
    })
    .await
    .expect("every request reaches the upstream");

    // The port closes while the held requests are still in flight.
    let draining = gateway.sigterm_with_in_flight(in_flight).await.unwrap();
    assert_eq!(upstream.arrived.load(Ordering::SeqCst), HELD);

    upstream.release.send_replace(true);
    assert_eq!(
        draining.statuses().await.unwrap(),
        vec![200; HELD],
        "no in-flight request was dropped"
    );
    let status = gateway.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
}

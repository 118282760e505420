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
use serde_json::Value;
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
    gleaner_common::install_crypto_provider();
    let redis = TestRedis::start().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let upstream = holding_upstream().await;
    let mut gateway = ServiceProcess::start(
        env!("CARGO_BIN_EXE_gateway"),
        &[],
        &[
            ("IDENTITY_URL", upstream.url.clone()),
            ("SCRAPER_URL", upstream.url.clone()),
            ("APP_URL", upstream.url.clone()),
            ("JWKS_URL", signer.jwks_url().to_owned()),
            ("JWT_ISSUER", gleaner_testkit::ISSUER.into()),
            ("JWT_AUDIENCE", gleaner_testkit::AUDIENCE.into()),
            ("REDIS_URL", redis.url()),
            ("RATE_LIMIT_BURST", "1000".into()),
            ("RATE_LIMIT_PER_SECOND", "1000".into()),
            ("SHUTDOWN_DELAY", "3s".into()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let r = http
            .get(format!("{}/ready", gateway.base()))
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        (body["status"] == "ready").then_some(())
    })
    .await
    .expect("the gateway becomes ready");

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
    let responses = tokio::spawn(futures::future::join_all(
        in_flight.into_iter().map(InFlight::response),
    ));

    gateway.sigterm().await.unwrap();
    let ready: Value = eventually(Duration::from_secs(10), || async {
        let r = http
            .get(format!("{}/ready", gateway.base()))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(())?;
        r.json().await.ok()
    })
    .await
    .expect("/ready turns 503 on SIGTERM");
    assert_eq!(ready["checks"]["shutdown"], "unavailable", "{ready}");
    // The port closes while the held requests are still in flight.
    eventually(Duration::from_secs(30), || async {
        gateway.refuses_connections().await.then_some(())
    })
    .await
    .expect("new connections are refused once draining");
    assert_eq!(upstream.arrived.load(Ordering::SeqCst), HELD);

    upstream.release.send_replace(true);
    let statuses: Vec<u16> = responses
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every held request gets its response").0)
        .collect();
    assert_eq!(
        statuses,
        vec![200; HELD],
        "no in-flight request was dropped"
    );
    let status = gateway.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
}

//! The gateway with Redis behind a fault proxy: while Redis is cut or silent the
//! gateway keeps serving with its limits kept in memory and `/ready` says
//! `degraded` (still 200); once Redis is back the limits are shared again,
//! without a restart.

mod support;

use std::time::Duration;

use gleaner_common::auth::Role;
use gleaner_testkit::{FaultProxy, TestRedis, eventually};
use secrecy::SecretString;
use support::{TestApp, json, spawn_app_with};

/// fred reconnects with a backoff of up to 5 s; the limiter retries Redis every second.
const RECOVERY: Duration = Duration::from_secs(30);

async fn gateway_through(proxy_url: String, burst: u32) -> TestApp {
    spawn_app_with(move |s| {
        s.redis_url = SecretString::from(proxy_url);
        s.rate_limit_per_second = 0.001;
        s.rate_limit_burst = burst;
    })
    .await
}

async fn redis_check(gw: &TestApp) -> (u16, String, String) {
    let r = gw.get("/ready").await;
    let status = r.status().as_u16();
    let body = json(r).await;
    (
        status,
        body["status"].as_str().unwrap_or_default().to_owned(),
        body["checks"]["redis"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The `gateway_rate_limiter_local` sample (not its HELP line, which starts with "1 while").
async fn local_limiter(gw: &TestApp) -> bool {
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .any(|line| line == "gateway_rate_limiter_local 1")
}

#[tokio::test]
async fn redis_cut_limits_in_memory_and_shares_limits_again_after_restore() {
    let redis = TestRedis::start().await.unwrap();
    let (proxy, url) = FaultProxy::in_front_of(&redis.url()).await.unwrap();
    let gw = gateway_through(url, 2).await;
    let token = gw.token(Role::User);

    proxy.cut().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            gw.get_auth("/api/v1/watchlist", &token)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 429], "the limit holds in memory");
    assert_eq!(
        redis_check(&gw).await,
        (200, "degraded".into(), "degraded".into())
    );
    assert!(local_limiter(&gw).await);

    proxy.restore();
    eventually(RECOVERY, || async {
        (redis_check(&gw).await == (200, "ready".into(), "ok".into())).then_some(())
    })
    .await
    .expect("/ready is ready again");
    // The next requests are counted in Redis again: a fresh user has its full burst there.
    eventually(RECOVERY, || async {
        let fresh = gw.token(Role::User);
        let status = gw.get_auth("/api/v1/watchlist", &fresh).await.status();
        (status == 200 && !local_limiter(&gw).await).then_some(())
    })
    .await
    .expect("limits are shared in Redis again");
}

#[tokio::test]
async fn a_silent_redis_costs_requests_a_bounded_wait_not_a_hang() {
    let redis = TestRedis::start().await.unwrap();
    let (proxy, url) = FaultProxy::in_front_of(&redis.url()).await.unwrap();
    let gw = gateway_through(url, 100).await;
    let token = gw.token(Role::User);

    // Connections stay open and Redis never answers.
    proxy.blackhole();
    for _ in 0..3 {
        let r = gw
            .http
            .get(gw.url("/api/v1/watchlist"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("an answer, not a hang");
        assert_eq!(r.status(), 200);
    }
    assert!(local_limiter(&gw).await);
    assert_eq!(
        redis_check(&gw).await,
        (200, "degraded".into(), "degraded".into())
    );

    proxy.restore();
    eventually(RECOVERY, || async {
        (redis_check(&gw).await.2 == "ok").then_some(())
    })
    .await
    .expect("Redis answers again through the same connections");
}

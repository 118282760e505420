//! The scraper's API with PostgreSQL behind a fault proxy and Redis stopped:
//! while PostgreSQL is cut the company reads are 503 problem+json naming it and
//! they come back unchanged after the restore, without a restart; while Redis is
//! down the public reads go on and only the operator's reads (revocation checks)
//! are 503 naming Redis; a silent database is a 503, not a hang.

use std::sync::Arc;
use std::time::Duration;

use gleaner_common::auth::Role;
use gleaner_demo_site::{DemoConfig, DemoSite};
use gleaner_testkit::{FaultProxy, eventually, fresh_database};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// fred reconnects with a backoff of up to 5 s.
const RECOVERY: Duration = Duration::from_secs(30);

/// A scraper reaching a fresh database through a proxy, with `companies` scraped.
async fn scraped_through_proxy(companies: usize) -> (TestApp, FaultProxy) {
    let db = fresh_database().await.unwrap();
    let (pg, proxied) = FaultProxy::in_front_of(&db.url).await.unwrap();
    let site = Arc::new(
        DemoSite::start(DemoConfig::new(7, companies))
            .await
            .unwrap(),
    );
    let app = spawn_app_with(companies, |p| p, Some((proxied, site))).await;
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    (app, pg)
}

async fn json_of(app: &TestApp, path: &str) -> Option<Value> {
    let r = app.get(path).await;
    (r.status() == StatusCode::OK).then_some(())?;
    r.json().await.ok()
}

async fn ready_check(app: &TestApp, dependency: &str) -> (u16, String) {
    let r = app.get("/ready").await;
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

#[tokio::test]
async fn postgres_cut_reads_are_503_naming_it_and_unchanged_after_restore() {
    let (app, pg) = scraped_through_proxy(5).await;
    let list = json_of(&app, "/api/v1/companies").await.expect("the list");
    assert_eq!(list["total"], 5);
    let idno = list["items"][0]["idno"].as_str().unwrap().to_owned();
    let company = json_of(&app, &format!("/api/v1/companies/{idno}"))
        .await
        .expect("the company");

    pg.cut().await;
    gleaner_testkit::assert_unavailable_naming(app.get("/api/v1/companies").await, "PostgreSQL")
        .await;
    gleaner_testkit::assert_unavailable_naming(
        app.get(&format!("/api/v1/companies/{idno}")).await,
        "PostgreSQL",
    )
    .await;
    assert_eq!(
        ready_check(&app, "postgres").await,
        (503, "unavailable".into())
    );

    pg.restore();
    // The same process answers again, with everything it had.
    let again = eventually(RECOVERY, || json_of(&app, "/api/v1/companies"))
        .await
        .expect("the list answers again");
    assert_eq!(again, list);
    assert_eq!(
        json_of(&app, &format!("/api/v1/companies/{idno}")).await,
        Some(company)
    );
    assert_eq!(ready_check(&app, "postgres").await, (200, "ok".into()));
}

#[tokio::test]
async fn redis_down_public_reads_go_on_and_operator_reads_name_redis() {
    let mut app = spawn_app(3).await;
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    let list = json_of(&app, "/api/v1/companies").await.expect("the list");
    let idno = list["items"][0]["idno"].as_str().unwrap().to_owned();
    let sources = format!("/api/v1/companies/{idno}/sources");
    // Revocation checks need Redis; wait until the service reaches it.
    eventually(RECOVERY, || async {
        (app.get_auth(&sources, &app.token(Role::Operator))
            .await
            .status()
            == StatusCode::OK)
            .then_some(())
    })
    .await
    .expect("operator reads work");

    app.redis.stop();
    assert_eq!(json_of(&app, "/api/v1/companies").await, Some(list));
    gleaner_testkit::assert_unavailable_naming(
        app.get_auth(&sources, &app.token(Role::Operator)).await,
        "Redis",
    )
    .await;
    assert_eq!(
        ready_check(&app, "redis").await,
        (503, "unavailable".into())
    );

    app.redis.restart().await.unwrap();
    eventually(RECOVERY, || async {
        (app.get_auth(&sources, &app.token(Role::Operator))
            .await
            .status()
            == StatusCode::OK)
            .then_some(())
    })
    .await
    .expect("operator reads work again without a restart");
    assert_eq!(ready_check(&app, "redis").await, (200, "ok".into()));
}

#[tokio::test]
async fn a_silent_database_is_a_503_not_a_hang() {
    let (app, pg) = scraped_through_proxy(3).await;
    pg.slow(Duration::from_millis(50));
    assert!(
        json_of(&app, "/api/v1/companies").await.is_some(),
        "slow is still an answer"
    );

    pg.blackhole();
    let r = app
        .http
        .get(app.url("/api/v1/companies"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    pg.restore();
    eventually(RECOVERY, || json_of(&app, "/api/v1/companies"))
        .await
        .expect("the list answers again");
}

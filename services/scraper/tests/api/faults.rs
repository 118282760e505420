use std::time::Duration;

use gleaner_common::auth::Role;
use gleaner_demo_site::{Fault, expected_company};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn the_rate_limit_holds_under_concurrency() {
    let app = spawn_app(20).await;
    let mut spec = app.spec();
    spec.requests_per_second = 10.0;
    spec.concurrency = 16;
    let summary = app.scrape(&spec).await;
    assert_eq!(summary.status, "succeeded");
    let requests = app.site.requests().len();
    assert!(requests >= 40, "{requests}");
    // Measured at the site: no one-second window holds more than the limit (a ceiling).
    let peak = app.site.max_requests_in_window(Duration::from_secs(1));
    assert!(peak <= 10, "peak {peak} requests in one second at 10/s");
}

#[tokio::test]
async fn retries_honour_retry_after_and_stop_at_max_retries() {
    let app = spawn_app(2).await;
    let idno = app.site.companies()[0].idno.clone();
    let mut spec = app.spec();
    spec.respect_robots_txt = false;
    spec.concurrency = 1;
    spec.targets = serde_json::from_value(json!({"idnos": [idno]})).unwrap();
    // Two 429s with Retry-After: 1, then success.
    app.site.fail_next(
        2,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let summary = app.scrape(&spec).await;
    assert_eq!(summary.status, "succeeded");
    assert_eq!(summary.companies_created, 1);
    let log = app.site.requests();
    let detail: Vec<_> = log
        .iter()
        .filter(|r| r.path_and_query == format!("/api/companies/{idno}"))
        .collect();
    assert_eq!(
        detail.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    for pair in detail.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(950),
            "waited {gap:?} despite Retry-After: 1"
        );
    }

    // A document that keeps failing: 1 try + maxRetries retries, then reported.
    let app = spawn_app(2).await;
    let idno = app.site.companies()[1].idno.clone();
    let mut spec = app.spec();
    spec.respect_robots_txt = false;
    spec.max_retries = 2;
    spec.targets = serde_json::from_value(json!({"idnos": [idno]})).unwrap();
    app.site.set_fault_ratio(
        &format!("/api/companies/{idno}"),
        Fault::ServiceUnavailable,
        1,
    );
    let summary = app.scrape(&spec).await;
    let tries = app
        .site
        .requests()
        .iter()
        .filter(|r| r.path_and_query == format!("/api/companies/{idno}"))
        .count();
    assert_eq!(tries, 3);
    assert_eq!(summary.pages_failed, 1);
    let run: serde_json::Value = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}", summary.run_id),
            &app.token(gleaner_common::auth::Role::Operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["errors"][0]["kind"], "http_503");
    assert!(run["errors"][0]["url"].as_str().unwrap().ends_with(&idno));
    // Nothing is written for a company whose document never arrived.
    assert_eq!(app.count("SELECT count(*) FROM companies").await, 0);
}

/// A JSON detail that answers 200 with a truncated body is kept as it came and its
/// parse failure reported, and the company is read from its HTML page in the same run,
/// as when the JSON API does not have it.
#[tokio::test]
async fn a_truncated_json_detail_is_kept_reported_and_read_from_the_html_page() {
    let app = spawn_app(6).await;
    let operator = app.token(Role::Operator);
    let bad = app.site.companies()[1].idno.clone();
    app.site
        .set_fault_ratio(&format!("/api/companies/{bad}"), Fault::MalformedJson, 1);
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.companies_created, 6, "{summary:?}");
    assert_eq!(summary.pages_failed, 1, "the parse failure is reported");
    let stored: (String, Option<String>) = sqlx::query_as(
        "SELECT parse_status, parse_error FROM raw_documents WHERE idno = $1 AND kind = 'company'",
    )
    .bind(&bad)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored.0, "failed");
    assert!(stored.1.unwrap().contains("JSON"));
    let run: Value = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}", summary.run_id),
            &operator,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["errors"].as_array().map(Vec::len), Some(1), "{run}");
    assert_eq!(run["errors"][0]["kind"], "parse");
    assert!(
        run["errors"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/companies/{bad}"))
    );
    let from_page = |got: &Value| {
        let url = got["source"]["url"].as_str().unwrap_or_default().to_owned();
        url.ends_with(&format!("/companies/{bad}")) && !url.contains("/api/")
    };
    let got = app.get_json(&format!("/api/v1/companies/{bad}")).await;
    assert!(from_page(&got), "{got}");
    let truth = expected_company(&app.site.company(&bad).unwrap());
    assert_eq!(strip_meta(got), truth);

    // Still truncated on the next run: reported again, the company stays as it was.
    let again = app.scrape(&app.spec()).await;
    assert_eq!(again.status, "succeeded");
    assert_eq!(again.pages_failed, 1);
    assert_eq!(again.companies_written(), 0, "{again:?}");
    // The site recovers: the JSON detail is read again, and says the same.
    app.site.clear_faults();
    let recovered = app.scrape(&app.spec()).await;
    assert_eq!(recovered.pages_failed, 0);
    assert_eq!(recovered.companies_written(), 0, "{recovered:?}");
    let got = app.get_json(&format!("/api/v1/companies/{bad}")).await;
    assert!(!from_page(&got), "{got}");
    assert_eq!(strip_meta(got), truth);
}

#[tokio::test]
async fn a_5xx_storm_fails_the_run_and_loses_nothing() {
    let app = spawn_app(10).await;
    let first = app.scrape(&app.spec()).await;
    assert_eq!(first.status, "succeeded");
    let docs = app.count("SELECT count(*) FROM raw_documents").await;
    let mut snapshot = Vec::new();
    for c in app.site.companies() {
        snapshot.push(app.get_json(&format!("/api/v1/companies/{}", c.idno)).await);
    }

    app.site
        .set_fault_ratio("/api/", Fault::ServiceUnavailable, 1);
    let mut spec = app.spec();
    spec.max_retries = 1;
    let storm = app.scrape(&spec).await;
    assert_eq!(storm.status, "failed", "{storm:?}");
    assert!(storm.pages_failed > 0);
    assert_eq!(app.count("SELECT count(*) FROM raw_documents").await, docs);
    for (c, before) in app.site.companies().iter().zip(snapshot) {
        let now = app.get_json(&format!("/api/v1/companies/{}", c.idno)).await;
        assert_eq!(now, before, "{} unchanged", c.idno);
    }
    assert_eq!(app.count("SELECT count(*) FROM company_history").await, 0);
}

#[tokio::test]
async fn the_database_going_away_fails_the_run_and_loses_nothing() {
    use std::sync::Arc;

    use gleaner_demo_site::{DemoConfig, DemoSite};
    use gleaner_testkit::TestPostgres;

    let pg = TestPostgres::start().await.unwrap();
    let site = Arc::new(DemoSite::start(DemoConfig::new(7, 30)).await.unwrap());
    let app = spawn_app_with(0, |p| p, Some((pg.url(), site))).await;
    let mut spec = app.spec();
    spec.requests_per_second = 30.0;
    spec.concurrency = 2;
    let run = app.scrape_in_background(&spec);
    let count = |url: String| async move {
        let db = sqlx::PgPool::connect(&url).await.ok()?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
            .fetch_one(&db)
            .await
            .ok()?;
        db.close().await;
        Some(n)
    };
    gleaner_testkit::eventually(Duration::from_secs(30), || async {
        count(pg.url()).await.filter(|n| *n >= 5).map(|_| ())
    })
    .await
    .unwrap();
    pg.stop();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.status, "failed");
    assert!(
        summary
            .failure
            .as_deref()
            .unwrap_or("")
            .contains("database"),
        "{summary:?}"
    );

    pg.restart().await.unwrap();
    let before = count(pg.url()).await.unwrap();
    assert!((5..30).contains(&before), "{before}");
    // The next run finds what was stored and completes the rest.
    let again = gleaner_testkit::eventually(Duration::from_secs(30), || async {
        let s = app.scrape(&spec).await;
        (s.status == "succeeded").then_some(s)
    })
    .await
    .unwrap();
    assert_eq!(again.companies_created as i64, 30 - before);
    for c in app.site.companies() {
        let got = app.get_json(&format!("/api/v1/companies/{}", c.idno)).await;
        assert_eq!(strip_meta(got), expected_company(&c));
    }
}

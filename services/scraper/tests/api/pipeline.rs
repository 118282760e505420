use std::sync::Arc;
use std::time::Duration;

use gleaner_demo_site::{Layout, expected_company, expected_financials};
use gleaner_scraper::source::openmoney::parse::PARSER_VERSION;
use gleaner_scraper::source::openmoney::{OpenMoney, Parsers};
use gleaner_scraper::source::{ParseError, SourceName};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_scrape_reproduces_the_ground_truth_field_by_field() {
    let app = spawn_app(40).await;
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.companies_created, 40);
    assert_eq!(summary.pages_failed, 0);
    for c in app.site.companies() {
        let got = app.get_json(&format!("/api/v1/companies/{}", c.idno)).await;
        assert_eq!(
            strip_meta(got.clone()),
            expected_company(&c),
            "company {}",
            c.idno
        );
        assert_eq!(got["source"]["parser_version"], PARSER_VERSION);
        assert!(
            got["source"]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/api/companies/{}", c.idno))
        );
        let fin = app
            .get_json(&format!("/api/v1/companies/{}/financials", c.idno))
            .await;
        assert_eq!(fin, expected_financials(&c), "financials {}", c.idno);
    }
    // The run row carries the same counters.
    let run: Value = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}", summary.run_id),
            &app.token(gleaner_common::auth::Role::Operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["companies_created"], 40);
    assert_eq!(run["pages_fetched"], summary.pages_fetched);
}

#[tokio::test]
async fn the_html_page_stands_in_when_the_api_has_no_answer() {
    let app = spawn_app(12).await;
    // One company of each page layout the site serves.
    let missing: Vec<_> = [Layout::Cards, Layout::Tables]
        .into_iter()
        .map(|layout| {
            app.site
                .companies()
                .into_iter()
                .find(|c| Layout::for_idno(&c.idno) == layout)
                .expect("both layouts among 12 companies")
        })
        .collect();
    for c in &missing {
        app.site.api_missing(&c.idno);
    }
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded");
    assert_eq!(summary.companies_created, 12);
    for c in &missing {
        let got = app.get_json(&format!("/api/v1/companies/{}", c.idno)).await;
        assert_eq!(strip_meta(got.clone()), expected_company(c));
        assert!(
            got["source"]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/companies/{}", c.idno))
        );
    }
}

#[tokio::test]
async fn unchanged_documents_are_not_stored_twice() {
    let app = spawn_app(15).await;
    let first = app.scrape(&app.spec()).await;
    let docs = app.count("SELECT count(*) FROM raw_documents").await;
    assert_eq!(first.pages_unchanged, 0);
    app.site.clear_requests();
    let second = app.scrape(&app.spec()).await;
    assert_eq!(second.status, "succeeded");
    assert_eq!(second.pages_fetched, first.pages_fetched);
    assert_eq!(second.pages_unchanged, second.pages_fetched, "{second:?}");
    assert_eq!(second.companies_created + second.companies_updated, 0);
    assert_eq!(app.count("SELECT count(*) FROM raw_documents").await, docs);
    // Re-fetches were conditional.
    let detail_requests: Vec<_> = app
        .site
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/companies/"))
        .collect();
    assert_eq!(detail_requests.len(), 15);
    assert!(
        detail_requests
            .iter()
            .all(|r| r.conditional && r.status == 304)
    );
    assert!(detail_requests.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("GleanerBot/"))
    }));
}

#[tokio::test]
async fn history_records_exactly_the_changed_fields() {
    let app = spawn_app(10).await;
    app.scrape(&app.spec()).await;
    let target = app.site.companies()[2].clone();
    app.site.mutate(&target.idno, |c| {
        c.full_name = "Nouă Denumire SRL".into();
        c.address.city = "Cahul".into();
    });
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.companies_updated, 1);
    assert_eq!(summary.companies_created, 0);
    let history = app
        .get_json(&format!("/api/v1/companies/{}/history", target.idno))
        .await;
    assert_eq!(history["total"], 2);
    let mut fields: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["address.city", "name"]);
    let name = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["field"] == "name")
        .unwrap();
    assert_eq!(name["old"], expected_company(&target)["name"]);
    assert_eq!(name["new"], "Nouă Denumire SRL");
    assert_eq!(name["run_id"], summary.run_id.as_str());
    // Other companies have no history.
    let other = app
        .get_json(&format!(
            "/api/v1/companies/{}/history",
            app.site.companies()[0].idno
        ))
        .await;
    assert_eq!(other["total"], 0);
    // The change is announced through the outbox, once.
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM scraper_outbox WHERE event_type = 'company.changed'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["idno"], target.idno.as_str());
    assert_eq!(events[0]["changes"].as_array().unwrap().len(), 2);
    // The relay of the running service publishes it to the events stream.
    let redis = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&app.redis.url()).unwrap(),
    )
    .build()
    .unwrap();
    fred::interfaces::ClientLike::init(&redis).await.unwrap();
    let published = gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let entries: Vec<(String, std::collections::HashMap<String, String>)> =
            fred::interfaces::StreamsInterface::xrange(&redis, &app.stream, "-", "+", None)
                .await
                .ok()?;
        (!entries.is_empty()).then_some(entries)
    })
    .await
    .unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1["type"], "company.changed");
    let payload: Value = serde_json::from_str(&published[0].1["payload"]).unwrap();
    assert_eq!(payload["idno"], target.idno.as_str());
    assert_eq!(payload["company_name"], "Nouă Denumire SRL");
    assert_eq!(payload["run_id"], summary.run_id.as_str());
}

fn buggy_company_parser(_: &[u8]) -> Result<gleaner_scraper::company::CompanyRecord, ParseError> {
    Err(ParseError::Field(
        "parser bug: cannot read this shape".into(),
    ))
}

#[tokio::test]
async fn a_parser_fix_is_applied_by_re_transforming_stored_documents() {
    let buggy = Parsers {
        version: 0,
        // Neither the JSON detail nor the page that stands in for it is read.
        company_json: buggy_company_parser,
        company_html: buggy_company_parser,
        ..Parsers::default()
    };
    let app = spawn_app_with(
        8,
        move |p| {
            p.with_source(
                SourceName::Openmoney,
                Arc::new(OpenMoney::with_parsers(buggy)),
            )
        },
        None,
    )
    .await;
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.companies_created, 0);
    assert_eq!(summary.pages_failed, 16, "{summary:?}");
    assert_eq!(
        summary.status, "succeeded",
        "financials and list pages still worked"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM raw_documents WHERE parse_status = 'failed'")
            .await,
        16
    );
    let requests_before = app.site.requests().len();

    // The fixed service, same database, same site: re-transform, no fetching.
    let reuse = (app.db_url.clone(), app.site.clone());
    drop(app);
    let fixed = spawn_app_with(0, |p| p, Some(reuse)).await;
    let r = fixed
        .post_auth(
            "/api/v1/transform",
            &fixed.token(gleaner_common::auth::Role::Operator),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let run_id = r.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = gleaner_testkit::eventually(Duration::from_secs(20), || async {
        let run: Value = fixed
            .get_auth(
                &format!("/api/v1/scrape-runs/{run_id}"),
                &fixed.token(gleaner_common::auth::Role::Operator),
            )
            .await
            .json()
            .await
            .ok()?;
        (run["status"] == "succeeded").then_some(run)
    })
    .await
    .unwrap();
    assert_eq!(run["companies_created"], 8);
    assert_eq!(run["pages_fetched"], 0);
    assert_eq!(
        fixed.site.requests().len(),
        requests_before,
        "nothing fetched"
    );
    for c in fixed.site.companies() {
        let got = fixed
            .get_json(&format!("/api/v1/companies/{}", c.idno))
            .await;
        assert_eq!(strip_meta(got.clone()), expected_company(&c));
        assert_eq!(got["source"]["parser_version"], PARSER_VERSION);
        assert_eq!(
            fixed
                .get_json(&format!("/api/v1/companies/{}/financials", c.idno))
                .await,
            expected_financials(&c)
        );
    }
    assert_eq!(
        fixed
            .count("SELECT count(*) FROM raw_documents WHERE parse_status = 'failed'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_run_killed_midway_and_run_again_loses_and_duplicates_nothing() {
    let app = spawn_app(30).await;
    let mut spec = app.spec();
    spec.requests_per_second = 40.0;
    spec.concurrency = 4;
    let killed = app.scrape_in_background(&spec);
    // Let it store some of the ~60 documents, then kill it.
    gleaner_testkit::eventually(Duration::from_secs(20), || async {
        (app.count("SELECT count(*) FROM companies").await >= 5).then_some(())
    })
    .await
    .unwrap();
    killed.abort();
    let _ = killed.await;
    let partial = app.count("SELECT count(*) FROM companies").await;
    assert!(partial < 30, "killed before the end ({partial})");

    let summary = app.scrape(&spec).await;
    assert_eq!(summary.status, "succeeded");
    assert_eq!(app.count("SELECT count(*) FROM companies").await, 30);
    assert_eq!(summary.companies_created as i64, 30 - partial);
    for c in app.site.companies() {
        let got = app.get_json(&format!("/api/v1/companies/{}", c.idno)).await;
        assert_eq!(strip_meta(got), expected_company(&c));
    }
    // One stored copy per document, one history-free record per company.
    assert_eq!(
        app.count("SELECT count(*) - count(DISTINCT (url, sha256)) FROM raw_documents")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM company_history").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM raw_documents WHERE parse_status <> 'parsed'")
            .await,
        0
    );
}

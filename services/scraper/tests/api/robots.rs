//! robots.txt: what it disallows for our agent is skipped on purpose, counted apart
//! from failures, and never fails a run.

use gleaner_common::auth::Role;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn robots_txt_is_honoured_for_our_agent_and_skips_are_not_failures() {
    let app = spawn_app(5).await;
    app.site.set_robots_txt(
        "User-agent: GleanerBot\nDisallow: /api/fin-data-v1/\n\nUser-agent: *\nDisallow: /\n",
    );
    let summary = app.scrape(&app.spec()).await;
    // Our group allows companies but not financials; `*` (which would forbid all) is not ours.
    assert_eq!(summary.status, "succeeded");
    assert_eq!(summary.companies_created, 5);
    assert!(
        app.site
            .requests()
            .iter()
            .all(|r| !r.path_and_query.starts_with("/api/fin-data-v1/"))
    );
    assert_eq!(app.count("SELECT count(*) FROM financials").await, 0);
    assert_eq!(
        (summary.pages_skipped, summary.pages_failed),
        (5, 0),
        "{summary:?}"
    );
    let run: Value = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}", summary.run_id),
            &app.token(Role::Operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["pages_skipped"], 5, "{run}");
    assert_eq!(run["pages_failed"], 0, "{run}");
    assert_eq!(run["errors"], json!([]), "skipping is not an error");
    let openapi = app.get_json("/openapi.json").await;
    assert!(
        openapi["components"]["schemas"]["ScrapeRun"]["properties"]["pages_skipped"].is_object(),
        "pages_skipped is described"
    );

    // Without our own group, `*` applies: everything is skipped, and a run that obeys
    // robots.txt does not fail for it.
    let app = spawn_app(3).await;
    app.site.set_robots_txt("User-agent: *\nDisallow: /\n");
    let summary = app.scrape(&app.spec()).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(
        (
            summary.companies_created,
            summary.pages_skipped,
            summary.pages_failed
        ),
        (0, 1, 0)
    );
    let requested: Vec<String> = app
        .site
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(requested, ["/robots.txt"]);
    // With respectRobotsTxt false, nothing applies.
    let mut spec = app.spec();
    spec.respect_robots_txt = false;
    let all = app.scrape(&spec).await;
    assert_eq!((all.companies_created, all.pages_skipped), (3, 0));
}

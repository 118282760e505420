use reqwest::StatusCode;

use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn ops_endpoints_and_every_route_described_in_openapi() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let ready = body(ready).await.to_string();
    for dependency in ["postgres", "redis", "scraper"] {
        assert!(ready.contains(dependency), "{dependency} in {ready}");
    }
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);

    let spec = body(app.get("/openapi.json").await).await;
    let paths = spec["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/api/v1/scrape-jobs", &["post", "get"][..]),
        (
            "/api/v1/scrape-jobs/{name}",
            &["get", "patch", "delete"][..],
        ),
        ("/api/v1/scrape-jobs/{name}/runs", &["post"][..]),
        ("/api/v1/scrape-runs", &["get"][..]),
        ("/api/v1/scrape-runs/{id}", &["get"][..]),
        ("/api/v1/scrape-runs/{id}/events", &["get"][..]),
        ("/api/v1/watchlist", &["get"][..]),
        ("/api/v1/watchlist/{idno}", &["put", "delete"][..]),
        ("/api/v1/notifications", &["get"][..]),
        ("/api/v1/notifications/read", &["post"][..]),
        ("/api/v1/webhooks", &["post", "get"][..]),
        ("/api/v1/webhooks/{id}", &["delete"][..]),
        ("/api/v1/webhooks/{id}/deliveries", &["get"][..]),
        ("/api/v1/webhooks/{id}/test", &["post"][..]),
    ] {
        for method in methods {
            let op = &paths[path][*method];
            assert!(op.is_object(), "{method} {path} is described");
            assert!(
                op["description"].is_string() || op["summary"].is_string(),
                "{method} {path}"
            );
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
        }
    }
}

//! The standard middleware stack end to end: one request in, with a
//! `traceparent`, gives a server span in the same trace labelled with the
//! route template, a request id, problem+json errors and route-labelled metrics.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{Ops, ReadinessCheck, with_standard_layers};
use gleaner_common::{ApiError, Path};
use prometheus::Registry;
use tower::ServiceExt;

async fn thing(Path(id): Path<u32>) -> Result<String, ApiError> {
    if id == 0 {
        return Err(ApiError::not_found("no thing 0"));
    }
    Ok(format!("thing {id}"))
}

fn app(registry: &Registry) -> Router {
    let metrics = HttpMetrics::register("test", registry).unwrap();
    let ops = Ops {
        registry: registry.clone(),
        checks: vec![],
        openapi: Arc::new(serde_json::json!({"openapi": "3.1.0"})),
    };
    with_standard_layers(
        Router::new().route("/api/v1/things/{id}", get(thing)),
        ops,
        metrics,
    )
}

#[tokio::test]
async fn errors_are_problems_and_metrics_use_the_route_template() {
    let registry = Registry::new();
    let app = app(&registry);
    let response = app
        .clone()
        .oneshot(
            Request::get("/api/v1/things/0")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["instance"], "/api/v1/things/0");
    assert_eq!(problem["request_id"], request_id.as_str());
    // A path that does not parse is a 404 too, not a 400 or 500.
    let response = app
        .clone()
        .oneshot(
            Request::get("/api/v1/things/abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/v1/things/{id}",service="test",status="404"} 2"#),
        "{text}"
    );
    assert!(!text.contains("things/0"));
}

/// Every label value of the HTTP metrics, one string per series.
fn http_series(registry: &Registry) -> std::collections::BTreeSet<String> {
    registry
        .gather()
        .iter()
        .filter(|family| family.name().starts_with("http_"))
        .flat_map(|family| {
            family.get_metric().iter().map(|m| {
                let labels: Vec<String> = m
                    .get_label()
                    .iter()
                    .map(|l| format!("{}={}", l.name(), l.value()))
                    .collect();
                format!("{} {}", family.name(), labels.join(","))
            })
        })
        .collect()
}

async fn send(app: &Router, method: &str, uri: &str) -> StatusCode {
    app.clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn made_up_methods_and_paths_create_no_new_series() {
    let registry = Registry::new();
    let app = app(&registry);
    // One request of each kind a client controls: a made-up method on a known route
    // and on an unknown path, and a standard method on an unknown path.
    assert_eq!(
        send(&app, "BREW", "/api/v1/things/1").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        send(&app, "BREW", "/nowhere/1").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&app, "GET", "/nowhere/1").await, StatusCode::NOT_FOUND);
    let before = http_series(&registry);
    assert!(
        before.contains(
            "http_requests_total method=_OTHER,route=/api/v1/things/{id},service=test,status=405"
        ),
        "{before:#?}"
    );
    assert!(
        before
            .contains("http_requests_total method=_OTHER,route=unmatched,service=test,status=404"),
        "{before:#?}"
    );

    for (i, method) in ["PROPFIND", "XYZZY", "get", "GET2", "M-SEARCH", "A_B.C~D!"]
        .into_iter()
        .enumerate()
    {
        send(&app, method, &format!("/api/v1/things/{}", i + 2)).await;
        send(&app, method, &format!("/random/{method}/{i}")).await;
        send(&app, "GET", &format!("/other/{method}/{i}")).await;
    }
    let after = http_series(&registry);
    assert_eq!(before, after, "no request added a series");
    for series in &after {
        for made_up in [
            "PROPFIND", "XYZZY", "get", "GET2", "BREW", "random", "other",
        ] {
            assert!(!series.contains(made_up), "{series}");
        }
    }
    let text = gleaner_common::telemetry::encode_metrics(&registry).unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="_OTHER",route="/api/v1/things/{id}",service="test",status="405"} 7"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="_OTHER",route="unmatched",service="test",status="404"} 7"#),
        "{text}"
    );
}

#[tokio::test]
async fn ready_names_the_failing_dependency_but_not_why() {
    let registry = Registry::new();
    let metrics = HttpMetrics::register("test", &registry).unwrap();
    let secret = "password authentication failed for user \"scraper\" at db.internal:5432";
    let ops = Ops {
        registry: registry.clone(),
        checks: vec![
            ReadinessCheck::new("postgres", move || async move { Err(secret.to_string()) }),
            ReadinessCheck::new("redis", || async { Ok(()) }),
        ],
        openapi: Arc::new(serde_json::json!({"openapi": "3.1.0"})),
    };
    let app = with_standard_layers(Router::new(), ops, metrics);
    let response = app
        .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "unavailable", "checks": {"postgres": "unavailable", "redis": "ok"}})
    );
    for leak in ["password", "scraper", "db.internal", "5432"] {
        assert!(!text.contains(leak), "{text}");
    }
}

//! The standard middleware stack end to end: one request in, with a
//! `traceparent`, gives a server span in the same trace labelled with the
//! route template, a request id, problem+json errors and route-labelled metrics.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{Ops, with_standard_layers};
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

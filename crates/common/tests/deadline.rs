//! A request whose handler waits on a dependency that never answers is answered
//! 503 problem+json at the request deadline, and counted and identified like any
//! other request.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::observe::{HttpMetrics, Observe, observe_http};
use prometheus::Registry;
use tower::ServiceExt;

fn app(deadline: Duration, registry: &Registry) -> Router {
    let observe = Observe {
        metrics: HttpMetrics::register("test", registry).unwrap(),
        deadline: Some(deadline),
    };
    Router::new()
        .route("/silent", get(std::future::pending::<&'static str>))
        .layer(axum::middleware::from_fn_with_state(observe, observe_http))
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_503_problem() {
    let registry = Registry::new();
    let response = app(Duration::from_millis(50), &registry)
        .oneshot(Request::get("/silent").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["request_id"], request_id.as_str());
    assert!(
        problem["detail"].as_str().unwrap().contains("unavailable"),
        "{problem}"
    );
    // Counted under its route and status, as every request is.
    let counted = registry
        .gather()
        .into_iter()
        .find(|family| family.name() == "http_requests_total")
        .map(|family| {
            family
                .get_metric()
                .iter()
                .filter(|m| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == "route" && l.value() == "/silent")
                        && m.get_label()
                            .iter()
                            .any(|l| l.name() == "status" && l.value() == "503")
                })
                .map(|m| m.get_counter().get_value())
                .sum::<f64>()
        })
        .unwrap_or(0.0);
    assert_eq!(counted, 1.0);
}

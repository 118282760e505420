//! A request whose handler waits on a dependency that never answers is answered
//! 503 problem+json at the request deadline.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::server::enforce_deadline;
use tower::ServiceExt;

fn app(deadline: Duration) -> Router {
    Router::new()
        .route("/silent", get(std::future::pending::<&'static str>))
        .layer(axum::middleware::from_fn_with_state(
            deadline,
            enforce_deadline,
        ))
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_503_problem() {
    let response = app(Duration::from_millis(50))
        .oneshot(Request::get("/silent").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 503);
    assert!(
        problem["detail"].as_str().unwrap().contains("unavailable"),
        "{problem}"
    );
}

//! A request answered before its handler reads the body (here a JSON route sent the
//! wrong `Content-Type`, answered 415 by the extractor) must not cost the client its
//! answer or its connection when the body arrives a moment after the head, as many
//! clients and every proxy send it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{Ops, serve, with_standard_layers};
use gleaner_testkit::RawConnection;
use prometheus::Registry;

async fn echo(
    gleaner_common::Json(value): gleaner_common::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    axum::Json(value)
}

async fn start() -> std::net::SocketAddr {
    let registry = Registry::new();
    let metrics = HttpMetrics::register("test", &registry).unwrap();
    let ops = Ops {
        registry,
        checks: vec![],
        openapi: Arc::new(serde_json::json!({"openapi": "3.1.0"})),
    };
    let router = with_standard_layers(
        Router::new().route("/api/v1/things", post(echo)),
        ops,
        metrics,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, std::future::pending()));
    addr
}

/// The head of a `POST /api/v1/things` with this body type and declared length.
fn post_head(content_type: &str, length: usize) -> Vec<u8> {
    format!(
        "POST /api/v1/things HTTP/1.1\r\nhost: test\r\ncontent-type: {content_type}\r\n\
         content-length: {length}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn an_early_answer_waits_for_a_small_body_and_keeps_the_connection() {
    let addr = start().await;
    let mut client = RawConnection::connect(addr).await.unwrap();
    client.send(&post_head("text/plain", 13)).await.unwrap();
    // Long enough for the server to have answered on the head alone.
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.send(br#"{"name": "a"}"#).await.unwrap();
    let refused = client.read_response().await.unwrap();
    assert_eq!(refused.status, 415, "{}", refused.head);
    assert!(
        refused.head.contains("application/problem+json"),
        "{}",
        refused.head
    );

    // The body was read, so the connection is still good for the next request.
    let request = [
        post_head("application/json", 13),
        br#"{"name": "b"}"#.to_vec(),
    ]
    .concat();
    client.send(&request).await.unwrap();
    let echoed = client.read_response().await.unwrap();
    assert_eq!(echoed.status, 200, "{}", echoed.head);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&echoed.body).unwrap(),
        serde_json::json!({"name": "b"})
    );
}

#[tokio::test]
async fn a_body_cut_short_is_a_clean_400_or_a_closed_connection_never_a_hang() {
    let addr = start().await;
    let mut client = RawConnection::connect(addr).await.unwrap();
    let request = [post_head("application/json", 100), br#"{"name""#.to_vec()].concat();
    client.send(&request).await.unwrap();
    // Half-close: the rest of the declared body will never come.
    client.finish_sending().await.unwrap();
    match client.read_response().await {
        Ok(response) => assert_eq!(response.status, 400, "{}", response.head),
        Err(error) => assert!(error.to_string().contains("closed"), "{error}"),
    }
}

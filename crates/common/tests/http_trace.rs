//! One request in, with a `traceparent`, gives a server span in the same
//! trace, named and labelled with the route template. Alone in its test
//! binary: it installs a thread-local subscriber, and tracing's callsite
//! cache is shared by every thread of the process.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{Ops, with_standard_layers};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use prometheus::Registry;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

fn app(registry: &Registry) -> Router {
    let metrics = HttpMetrics::register("test", registry).unwrap();
    let ops = Ops {
        registry: registry.clone(),
        checks: vec![],
        openapi: Arc::new(serde_json::json!({"openapi": "3.1.0"})),
    };
    with_standard_layers(
        Router::new().route("/api/v1/things/{id}", get(|| async { "thing" })),
        ops,
        metrics,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_is_one_span_of_the_callers_trace() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let registry = Registry::new();
    let response = app(&registry)
        .oneshot(
            Request::get("/api/v1/things/42")
                .header(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                )
                .header("x-request-id", "req-7")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-7");
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "GET /api/v1/things/{id}")
        .unwrap_or_else(|| {
            panic!(
                "no server span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|a| a.key.as_str() == k)
            .map(|a| a.value.to_string())
    };
    assert_eq!(attr("http.route").as_deref(), Some("/api/v1/things/{id}"));
    assert_eq!(attr("request_id").as_deref(), Some("req-7"));
}

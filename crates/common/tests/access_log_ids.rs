//! The access log line of a request carries the ids that tie it to its trace: the
//! caller's trace id, this request's span id (the one exported to the trace backend),
//! the request id, the route and the status. Alone in its test binary: it installs a
//! thread-local subscriber, and tracing's callsite cache is shared by every thread.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{Ops, with_standard_layers};
use gleaner_common::telemetry::json_layer;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use prometheus::Registry;
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_access_line_names_the_trace_the_span_and_the_request() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(json_layer("test", move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let registry = Registry::new();
    let metrics = HttpMetrics::register("test", &registry).unwrap();
    let ops = Ops {
        registry: registry.clone(),
        checks: vec![],
        openapi: Arc::new(serde_json::json!({"openapi": "3.1.0"})),
    };
    let app = with_standard_layers(
        Router::new().route("/api/v1/things/{id}", get(|| async { "thing" })),
        ops,
        metrics,
    );
    let response = app
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
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /api/v1/things/{id}")
        .expect("the server span");

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap_or_else(|| panic!("no access line in {text}"));
    assert_eq!(access["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(
        access["span_id"],
        server.span_context.span_id().to_string(),
        "the span exported for this request"
    );
    assert_eq!(access["request_id"], "req-7");
    assert_eq!(access["http.route"], "/api/v1/things/{id}");
    assert_eq!(access["status"], 200);
    assert_eq!(access["http.response.status_code"], 200);
}

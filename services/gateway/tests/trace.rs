//! One request through the gateway stays one trace: the gateway's server
//! span continues the caller's trace, and its upstream call (a client span,
//! child of the server span) is what the upstream sees as its parent.
//! Alone in its test binary: it installs the process-wide subscriber.

mod support;

use gleaner_common::auth::Role;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use support::spawn_app;
use tracing_subscriber::layer::SubscriberExt;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

#[tokio::test]
async fn the_upstream_call_is_a_child_of_the_gateway_span_in_the_callers_trace() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let gw = spawn_app().await;
    let response = gw
        .http
        .get(gw.url("/api/v1/users/me"))
        .bearer_auth(gw.token(Role::User))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("x-request-id", "trace-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-test-1");

    let seen = gw.identity.requests().pop().unwrap();
    assert_eq!(seen.headers["x-request-id"], "trace-test-1");
    let traceparent = &seen.headers["traceparent"];
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], TRACE_ID, "the same trace");
    let upstream_parent = parts[2];
    assert_ne!(
        upstream_parent, CALLER_SPAN,
        "the gateway is a hop of its own"
    );

    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name && s.span_context.trace_id().to_string() == TRACE_ID)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} span in {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let server = find("GET /api/v1/users/**");
    let client = find("GET identity");
    assert_eq!(server.parent_span_id.to_string(), CALLER_SPAN);
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    assert_eq!(client.span_context.span_id().to_string(), upstream_parent);
}

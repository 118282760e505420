//! `init` without `OTEL_SDK_DISABLED`: every span has a W3C trace id, an incoming
//! `traceparent` continues its trace, and the next hop gets ours. Alone in its test
//! binary: it installs the process-wide subscriber.

use gleaner_telemetry::{
    LogFormat, TraceMode, init_with_mode, inject_current_context, set_parent_from_headers,
    trace_ids,
};

#[test]
fn spans_carry_w3c_trace_context_in_and_out() {
    let _guard = init_with_mode("test", LogFormat::Json, TraceMode::Local).unwrap();
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    let span = tracing::info_span!("request");
    set_parent_from_headers(&span, &incoming);
    let (trace_id, span_id) = trace_ids(&span);
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    let _entered = span.enter();
    let mut outgoing = http::HeaderMap::new();
    inject_current_context(&mut outgoing);
    assert_eq!(
        outgoing["traceparent"],
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id}-01").as_str()
    );

    let fresh = tracing::info_span!("job");
    let (trace_id, _) = trace_ids(&fresh);
    assert_eq!(trace_id.len(), 32, "a span with no parent starts a trace");

    assert!(
        init_with_mode("test", LogFormat::Json, TraceMode::Local).is_err(),
        "a second init says a subscriber is installed"
    );
}

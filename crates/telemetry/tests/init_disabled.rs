//! `OTEL_SDK_DISABLED=true`: no OpenTelemetry SDK, so spans carry no trace ids and an
//! incoming `traceparent` is not continued; logs still work and the W3C propagator is
//! still the one installed. Alone in its test binary: it installs the process-wide
//! subscriber.

use gleaner_telemetry::{
    LogFormat, TraceMode, init_with_mode, inject_context, set_parent_from_traceparent, trace_ids,
};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::trace::{SpanId, TraceId};

#[test]
fn disabled_means_no_spans_exported_or_continued() {
    let _guard = init_with_mode("test", LogFormat::Pretty, TraceMode::Disabled).unwrap();
    let span = tracing::info_span!("run");
    set_parent_from_traceparent(
        &span,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    assert_eq!(trace_ids(&span), (String::new(), String::new()));

    // The propagator is W3C's even so.
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut outgoing = http::HeaderMap::new();
    inject_context(
        &opentelemetry::Context::new().with_remote_span_context(remote),
        &mut outgoing,
    );
    assert_eq!(
        outgoing["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
}

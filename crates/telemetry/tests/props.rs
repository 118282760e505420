//! Property tests for the trace context a caller sends (`traceparent`,
//! `tracestate`) or a run inherits (`TRACEPARENT`): any bytes are read without a
//! panic; a well-formed W3C context is continued, anything else starts a trace
//! of our own.

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tracing_subscriber::layer::SubscriberExt;

use gleaner_telemetry::{
    TraceContext, TraceMode, set_parent_from_headers, set_parent_from_traceparent, trace_ids,
};

/// 256 cases; failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Run `f` with the OpenTelemetry layer and the W3C propagator, as `init` sets them up.
fn with_otel<T>(f: impl FnOnce() -> T) -> T {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("props")));
    tracing::subscriber::with_default(subscriber, f)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A version-00 `traceparent` as W3C Trace Context level 1 defines it.
fn is_valid_v00(traceparent: &str) -> bool {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let [version, trace_id, parent_id, flags] = parts[..] else {
        return false;
    };
    version == "00"
        && is_lower_hex(trace_id, 32)
        && trace_id != "0".repeat(32)
        && is_lower_hex(parent_id, 16)
        && parent_id != "0".repeat(16)
        && is_lower_hex(flags, 2)
}

/// A hex field of about `len` digits: right, too short or long, upper case,
/// all zeros, not hex.
fn arb_hex(len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::string::string_regex(&format!("[0-9a-f]{{{len}}}")).expect("a regex"),
        1 => Just("0".repeat(len)),
        1 => proptest::string::string_regex(&format!("[0-9A-F]{{{len}}}")).expect("a regex"),
        1 => proptest::string::string_regex(&format!("[0-9a-f]{{0,{}}}", len + 2)).expect("a regex"),
        1 => proptest::string::string_regex(&format!("[ -~]{{{len}}}")).expect("a regex"),
    ]
}

/// `traceparent` values: well-formed, nearly well-formed, other versions, junk.
fn arb_traceparent() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![
        6 => Just("00".to_owned()),
        1 => Just("ff".to_owned()),
        1 => Just("01".to_owned()),
        1 => "[ -~]{0,3}",
    ];
    let structured = (
        version,
        arb_hex(32),
        arb_hex(16),
        arb_hex(2),
        prop::option::weighted(0.1, "-[ -~]{0,10}"),
    )
        .prop_map(|(v, t, p, f, extra)| format!("{v}-{t}-{p}-{f}{}", extra.unwrap_or_default()));
    prop_oneof![
        4 => structured.prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..80),
        1 => "[ -~]{0,80}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any `traceparent` and `tracestate` bytes: the span has a valid trace
    /// id, the caller's when the `traceparent` is well-formed, a new one when
    /// it is not.
    #[test]
    fn a_traceparent_is_continued_only_when_well_formed(
        traceparent in arb_traceparent(),
        tracestate in prop::option::of(prop::collection::vec(any::<u8>(), 0..600)),
    ) {
        let mut headers = http::HeaderMap::new();
        let Ok(value) = http::HeaderValue::from_bytes(&traceparent) else {
            return Ok(());
        };
        headers.insert("traceparent", value);
        if let Some(state) = tracestate.and_then(|s| http::HeaderValue::from_bytes(&s).ok()) {
            headers.insert("tracestate", state);
        }
        let text = String::from_utf8_lossy(&traceparent).into_owned();
        let (trace_id, span_id) = with_otel(|| {
            let span = tracing::info_span!("request");
            set_parent_from_headers(&span, &headers);
            trace_ids(&span)
        });
        prop_assert!(is_lower_hex(&trace_id, 32) && trace_id != "0".repeat(32), "{trace_id:?}");
        prop_assert!(is_lower_hex(&span_id, 16) && span_id != "0".repeat(16), "{span_id:?}");
        let given = text.split('-').nth(1).unwrap_or_default();
        if is_valid_v00(&text) {
            prop_assert_eq!(trace_id, given, "{:?} was not continued", text);
        } else if !is_lower_hex(given, 32) || given == "0".repeat(32) {
            prop_assert_ne!(trace_id, given, "{:?} was continued", text);
        }
    }

    /// The `TRACEPARENT` a run is handed (any text) gives the run's span a
    /// valid trace: the parent's when it is one we wrote.
    #[test]
    fn a_run_joins_the_traceparent_it_is_handed(
        seed in any::<u8>(),
        junk in prop::option::of("[ -~]{0,60}"),
    ) {
        let parent = TraceContext::random();
        let handed = junk.unwrap_or_else(|| parent.traceparent());
        let (trace_id, _) = with_otel(|| {
            let span = tracing::info_span!("run", seed);
            set_parent_from_traceparent(&span, &handed);
            trace_ids(&span)
        });
        prop_assert!(is_lower_hex(&trace_id, 32));
        if handed == parent.traceparent() {
            prop_assert_eq!(trace_id, parent.trace_id_hex());
        }
    }

    /// Any values of the `OTEL_*` variables choose a mode without a panic;
    /// only `OTEL_SDK_DISABLED=true` (any case, any padding) turns the SDK off.
    #[test]
    fn otel_variables_choose_a_mode(
        disabled in prop::option::of(prop_oneof![Just(" TRUE ".to_owned()), Just("true".to_owned()), ".{0,8}"]),
        exporter in prop::option::of(prop_oneof![Just("none".to_owned()), ".{0,8}"]),
        endpoint in prop::option::of(".{0,20}"),
    ) {
        let mode = TraceMode::from_env(|name| match name {
            "OTEL_SDK_DISABLED" => disabled.clone(),
            "OTEL_TRACES_EXPORTER" => exporter.clone(),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => endpoint.clone(),
            _ => None,
        });
        let off = disabled.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        prop_assert_eq!(mode == TraceMode::Disabled, off);
    }
}

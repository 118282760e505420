//! W3C trace context: continuing a caller's trace, handing ours on, and the
//! `TRACEPARENT` a child process (a scrape run) joins.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, global};
use rand::RngCore;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace id and span id of a tracing span, as hex (empty when none).
pub fn trace_ids(span: &tracing::Span) -> (String, String) {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if sc.is_valid() {
        (sc.trace_id().to_string(), sc.span_id().to_string())
    } else {
        (String::new(), String::new())
    }
}

/// Make `span` a child of the remote context in `headers` (W3C `traceparent`).
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Write the current span's trace context into outgoing `headers`.
pub fn inject_current_context(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    inject_context(&cx, headers);
}

/// Write `cx` as `traceparent`/`tracestate` into `headers`.
pub fn inject_context(cx: &Context, headers: &mut http::HeaderMap) {
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut HeaderInjector(headers)));
}

/// Make `span` a child of a `traceparent` string (e.g. from the `TRACEPARENT` env).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(traceparent) {
        headers.insert("traceparent", v);
        set_parent_from_headers(span, &headers);
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context of `span` when OpenTelemetry tracks it, else a fresh one, so a
/// child process always gets a valid `TRACEPARENT` and the logs always a `trace_id`.
pub fn trace_context(span: &tracing::Span) -> TraceContext {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if sc.is_valid() {
        TraceContext {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
        }
    } else {
        TraceContext::random()
    }
}

/// A W3C trace context: a trace id and the id of the span that is the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id (never all zero).
    pub trace_id: [u8; 16],
    /// 8-byte span id (never all zero).
    pub span_id: [u8; 8],
}

impl TraceContext {
    /// A new random trace.
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        while trace_id == [0; 16] {
            rng.fill_bytes(&mut trace_id);
        }
        while span_id == [0; 8] {
            rng.fill_bytes(&mut span_id);
        }
        TraceContext { trace_id, span_id }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// `00-<trace id>-<span id>-01` (sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", hex(&self.trace_id), hex(&self.span_id))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// A subscriber with the OpenTelemetry layer, for this thread only.
    fn with_otel<T>(f: impl FnOnce() -> T) -> T {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn incoming_traceparent_continues_the_trace_and_propagates_onwards() {
        with_otel(|| {
            let mut incoming = http::HeaderMap::new();
            incoming.insert(
                "traceparent",
                http::HeaderValue::from_static(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
            );
            let span = tracing::info_span!("request");
            set_parent_from_headers(&span, &incoming);
            let (trace_id, span_id) = trace_ids(&span);
            assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(span_id.len(), 16);
            assert_ne!(
                span_id, "00f067aa0ba902b7",
                "a new span, child of the caller's"
            );
            let _entered = span.enter();
            let mut outgoing = http::HeaderMap::new();
            inject_current_context(&mut outgoing);
            let traceparent = outgoing["traceparent"].to_str().unwrap_or_default();
            assert!(
                traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{traceparent}"
            );
            assert!(
                traceparent.contains(&span_id),
                "the next hop's parent is this span"
            );
            assert_eq!(
                trace_context(&span).traceparent(),
                format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id}-01"),
                "a child process joins this span"
            );
        });
    }

    #[test]
    fn a_traceparent_from_the_environment_is_the_parent() {
        with_otel(|| {
            let span = tracing::info_span!("run");
            set_parent_from_traceparent(
                &span,
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            );
            assert_eq!(trace_ids(&span).0, "0af7651916cd43dd8448eb211c80319c");
            let other = tracing::info_span!("run");
            set_parent_from_traceparent(&other, "not a traceparent");
            let (trace_id, _) = trace_ids(&other);
            assert_eq!(trace_id.len(), 32);
            assert_ne!(trace_id, "0af7651916cd43dd8448eb211c80319c");
        });
    }

    #[test]
    fn without_a_traceparent_a_new_trace_starts() {
        with_otel(|| {
            let span = tracing::info_span!("request");
            set_parent_from_headers(&span, &http::HeaderMap::new());
            let (trace_id, _) = trace_ids(&span);
            assert_eq!(trace_id.len(), 32);
            assert_ne!(trace_id, "0".repeat(32));
        });
    }

    #[test]
    fn without_otel_a_span_still_gets_a_valid_context() {
        let t = trace_context(&tracing::Span::none());
        assert_ne!(t.trace_id, [0; 16]);
        assert_ne!(t.span_id, [0; 8]);
    }

    #[test]
    fn traceparent_is_w3c() {
        let t = TraceContext::random();
        let tp = t.traceparent();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
        assert!(
            tp.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(parts[1], t.trace_id_hex());
        assert_eq!(parts[2], t.span_id_hex());
        assert_ne!(TraceContext::random(), t);
    }
}

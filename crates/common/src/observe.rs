//! HTTP observation: the request span (request id, trace ids, route), the
//! `http_requests_total` / `http_request_duration_seconds` metrics keyed by
//! the matched route template, and one access-log line per request.
//!
//! Every label is bounded whatever a client sends: `service` is a constant,
//! `method` one of the standard methods or `_OTHER`, `route` a route template
//! or `unmatched`, `status` a status code the service itself chose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;

use crate::request_context;
use crate::telemetry;

/// Label used when no route matched (404s), so raw paths never become labels.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Label and span attribute for a method outside the standard set (OpenTelemetry's name).
pub const OTHER_METHOD: &str = "_OTHER";

/// The `method` label of `method`: the standard methods by name, anything else `_OTHER`,
/// so made-up methods cannot create new series.
pub fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => OTHER_METHOD,
    }
}

/// The route template of a request no axum route matched but the service
/// routed itself (the gateway's route table): inserted as a request extension
/// before [`observe_http`] runs, it becomes the `route` label.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

/// A request's route template, as [`observe_http`] found it.
enum Route {
    Matched(MatchedPath),
    Label(Arc<str>),
    Unmatched,
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Route::Matched(matched) => matched.as_str(),
            Route::Label(label) => label,
            Route::Unmatched => UNMATCHED_ROUTE,
        }
    }
}

/// The two HTTP metrics every service exports.
#[derive(Clone)]
pub struct HttpMetrics {
    service: Arc<str>,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Create and register the HTTP metrics in `registry`.
    pub fn register(service: &str, registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served"),
            &["service", "method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency from first byte in to response headers out",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["service", "method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            service: service.into(),
            requests,
            duration,
        })
    }
}

/// What [`observe_http`] needs.
#[derive(Clone)]
pub struct Observe {
    /// Where requests are counted and timed.
    pub metrics: HttpMetrics,
    /// How long the rest of the stack may take to produce a response head before the
    /// request is answered 503 ([`crate::server::REQUEST_DEADLINE`] in the services;
    /// `None` in the gateway, which bounds each upstream call itself). A small body
    /// is read first, within it ([`crate::server::read_small_body`]).
    pub deadline: Option<Duration>,
}

/// Middleware: the request id ([`request_context::begin`]), the span, the deadline,
/// then metrics and the access log. One middleware, not four, as it runs on every
/// request: axum boxes each layer's future and clones its service per request. A
/// request the deadline cuts short is counted and logged like any other.
pub async fn observe_http(
    State(observe): State<Observe>,
    mut req: Request,
    next: Next,
) -> Response {
    let metrics = &observe.metrics;
    let start = Instant::now();
    let (request_id_value, ctx) = request_context::begin(&mut req);
    let method = method_label(req.method());
    // Both kinds of template are shared strings: taking one copies no text.
    let route = match req.extensions().get::<MatchedPath>() {
        Some(matched) => Route::Matched(matched.clone()),
        None => match req.extensions().get::<RouteLabel>() {
            Some(label) => Route::Label(label.0.clone()),
            None => Route::Unmatched,
        },
    };
    let route = route.as_str();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.request.method_original = tracing::field::Empty,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %ctx.request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if method == OTHER_METHOD {
        // A method is an ASCII token; a long one is cut so it cannot bloat every log line.
        let original = req.method().as_str();
        span.record(
            "http.request.method_original",
            original.get(..32).unwrap_or(original),
        );
    }
    telemetry::set_parent_from_headers(&span, req.headers());
    let (trace_id, span_id) = telemetry::trace_ids(&span);
    record_trace_ids(&span, &trace_id, &span_id);

    let mut response = match observe.deadline {
        None => request_context::scope(ctx, next.run(req).instrument(span.clone())).await,
        Some(deadline) => {
            let bounded = within_deadline(deadline, req, next);
            request_context::scope(ctx, bounded.instrument(span.clone())).await
        }
    };
    response
        .headers_mut()
        .insert(request_context::X_REQUEST_ID.clone(), request_id_value);

    let status = response.status();
    let elapsed = start.elapsed();
    span.record("http.response.status_code", status.as_u16());
    metrics
        .requests
        .with_label_values(&[&*metrics.service, method, route, status.as_str()])
        .inc();
    metrics
        .duration
        .with_label_values(&[&*metrics.service, method, route])
        .observe(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // Probes and scrapes every few seconds would drown the access log.
        if matches!(route, "/health" | "/ready" | "/metrics") && status.is_success() {
            tracing::debug!(status = status.as_u16(), latency_ms, "request completed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request completed");
        }
    });
    response
}

/// Read a small body, then run the rest of the stack; 503 problem+json when that takes
/// longer than `deadline`: the backstop for a dependency that accepts work and never
/// answers.
async fn within_deadline(deadline: Duration, request: Request, next: Next) -> Response {
    let work = async move {
        match crate::server::read_small_body(request).await {
            Ok(request) => next.run(request).await,
            Err(error) => error.into_response(),
        }
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(response) => response,
        Err(_) => crate::ApiError::unavailable(
            "a dependency",
            anyhow::anyhow!(
                "no response within the request deadline of {} ms",
                deadline.as_millis()
            ),
        )
        .into_response(),
    }
}

/// Record both ids in one call: each record makes the JSON log layer parse and
/// write the span's fields again, and this one runs on every request.
fn record_trace_ids(span: &tracing::Span, trace_id: &str, span_id: &str) {
    let Some(fields) = span.metadata().map(|m| m.fields()) else {
        return; // a disabled span records nothing
    };
    if let (Some(trace), Some(span_field)) = (fields.field("trace_id"), fields.field("span_id")) {
        let values: [(&tracing::field::Field, Option<&dyn tracing::field::Value>); 2] =
            [(&trace, Some(&trace_id)), (&span_field, Some(&span_id))];
        span.record_all(&fields.value_set(&values));
    }
}

//! Fault injection: what the site can be told to get wrong, the rules that pick the
//! requests that get it, and the middleware that applies faults and logs every request.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::control::{DemoControl, RequestRecord, lock};
use crate::data::Rng;
use crate::routes::message;

/// A misbehaviour the site can be told to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: retry_after_secs`.
    TooManyRequests {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// 503.
    ServiceUnavailable,
    /// 500.
    ServerError,
    /// Sleep `secs` seconds, then answer normally.
    Timeout {
        /// Delay before answering.
        secs: u64,
    },
    /// 200 with the real body cut in half (never valid JSON), `application/json`.
    MalformedJson,
    /// 200 with pseudo-random bytes (invalid UTF-8).
    Garbage,
}

/// A fault for every `every_nth` request whose path starts with `prefix`.
#[derive(Debug)]
pub(crate) struct FaultRule {
    prefix: String,
    fault: Fault,
    every_nth: u64,
    seen: u64,
}

/// The faults still to come: the queued ones first, then the ratio rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    next: VecDeque<Fault>,
    rules: Vec<FaultRule>,
}

/// The fault controls.
impl DemoControl {
    /// The next `n` requests (other than `/health` and `/ready`) get `fault`.
    /// Calls queue up: `fail_next(2, A); fail_next(1, B)` gives A, A, B.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut f = lock(&self.inner.faults);
        f.next.extend(std::iter::repeat_n(fault, n));
    }

    /// Every `every_nth` request whose path starts with `path_prefix` gets `fault`
    /// (the nth, 2nth, ...; `1` means every one). Replaces an earlier rule for the
    /// same prefix; `every_nth == 0` removes it. `fail_next` faults go first.
    pub fn set_fault_ratio(&self, path_prefix: &str, fault: Fault, every_nth: u64) {
        let mut f = lock(&self.inner.faults);
        f.rules.retain(|r| r.prefix != path_prefix);
        if every_nth > 0 {
            f.rules.push(FaultRule {
                prefix: path_prefix.to_owned(),
                fault,
                every_nth,
                seen: 0,
            });
        }
    }

    /// Forget every queued fault and ratio rule.
    pub fn clear_faults(&self) {
        let mut f = lock(&self.inner.faults);
        f.next.clear();
        f.rules.clear();
    }
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut f = lock(&self.inner.faults);
        if let Some(fault) = f.next.pop_front() {
            return Some(fault);
        }
        let mut hit = None;
        for rule in f.rules.iter_mut().filter(|r| path.starts_with(&r.prefix)) {
            rule.seen += 1;
            if hit.is_none() && rule.seen % rule.every_nth == 0 {
                hit = Some(rule.fault.clone());
            }
        }
        hit
    }
}

/// Middleware: applies the fault due for the request, if any, then logs what was answered.
pub(crate) async fn faults_and_log(
    State(ctl): State<DemoControl>,
    req: Request,
    next: Next,
) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let conditional = req.headers().contains_key(header::IF_NONE_MATCH)
        || req.headers().contains_key(header::IF_MODIFIED_SINCE);

    let fault = if path == "/health" || path == "/ready" {
        None
    } else {
        ctl.take_fault(&path)
    };
    let response = match &fault {
        None => next.run(req).await,
        Some(f) => apply_fault(&ctl, f, &path, req, next).await,
    };
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        path = %path_and_query,
        status,
        user_agent = user_agent.as_deref().unwrap_or(""),
        conditional,
        fault = fault.as_ref().map_or_else(|| "none".to_owned(), |f| format!("{f:?}")),
        elapsed_ms = at.elapsed().as_millis() as u64,
        "request"
    );
    ctl.record(RequestRecord {
        at,
        method,
        path_and_query,
        status,
        user_agent,
        conditional,
    });
    response
}

async fn apply_fault(
    ctl: &DemoControl,
    fault: &Fault,
    path: &str,
    req: Request,
    next: Next,
) -> Response {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let mut r = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            r
        }
        Fault::ServiceUnavailable => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Fault::ServerError => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Fault::Timeout { secs } => {
            tokio::time::sleep(Duration::from_secs(*secs)).await;
            next.run(req).await
        }
        Fault::MalformedJson => {
            let full = axum::body::to_bytes(next.run(req).await.into_body(), 64 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let body = if full.len() >= 2 {
                full.slice(..full.len() / 2)
            } else {
                axum::body::Bytes::from_static(b"{\"data\":[{\"id\":")
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Fault::Garbage => {
            let n = ctl.inner.garbage_counter.fetch_add(1, Ordering::Relaxed);
            let mut rng = Rng::new(0x6A7B_A6E0, n, 7);
            let mut bytes = Vec::with_capacity(1024);
            bytes.push(0xFF); // never valid UTF-8
            while bytes.len() < 1024 {
                bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            let ct = if path.starts_with("/api/") {
                "application/json"
            } else {
                "text/html; charset=utf-8"
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
    }
}

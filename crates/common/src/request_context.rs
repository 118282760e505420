//! Per-request context (request id, path) visible to error rendering and logs.
//!
//! The request-id middleware runs the rest of the request inside a task-local
//! scope, so an `ApiError` can fill `request_id` and `instance` without every
//! handler passing them around.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Header carrying the request id in and out.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the rest of the request may want to know about itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The kept or generated request id.
    pub request_id: String,
    /// The request path (problem `instance`).
    pub path: String,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being served on this task, if any.
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Whether a client-supplied id is sane: 1..=128 chars of `[A-Za-z0-9._-]`.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Middleware: keep a sane `X-Request-Id` or generate one, pass it on to the
/// handler (request header and extension), and return it on the response.
pub async fn propagate_request_id(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let ctx = RequestContext {
        request_id: request_id.clone(),
        path: req.uri().path().to_string(),
    };
    req.extensions_mut().insert(ctx.clone());
    let mut response = CONTEXT.scope(ctx, next.run(req)).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids() {
        assert!(is_sane_request_id("abc-123_x.y"));
        assert!(is_sane_request_id(&"a".repeat(128)));
        assert!(!is_sane_request_id(&"a".repeat(129)));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id("a\nb"));
        assert!(!is_sane_request_id("ä"));
    }
}

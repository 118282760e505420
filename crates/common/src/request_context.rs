//! Per-request context (request id, path) visible to error rendering and logs.
//!
//! `observe_http` runs the rest of each request inside a task-local
//! scope, so an `ApiError` can fill `request_id` and `instance` without every
//! handler passing them around.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};

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

/// Keep a sane `X-Request-Id` or generate one, and pass it on to the handler (the
/// request header; [`current`] in the handler's task). Returns the header value for
/// the response and the context to run the request in ([`scope`]).
pub fn begin(req: &mut Request) -> (HeaderValue, RequestContext) {
    let kept = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(is_sane_request_id))
        .cloned();
    let value = match kept {
        Some(value) => value,
        None => {
            // A version 4 UUID from the thread's random generator (no system call).
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            let mut text = [0u8; uuid::fmt::Simple::LENGTH];
            HeaderValue::from_str(id.simple().encode_lower(&mut text))
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        }
    };
    let request_id = value.to_str().unwrap_or_default().to_owned();
    req.headers_mut()
        .insert(X_REQUEST_ID.clone(), value.clone());
    let ctx = RequestContext {
        request_id,
        path: req.uri().path().to_string(),
    };
    (value, ctx)
}

/// Run `work` with `ctx` as the [`current`] request's context.
pub async fn scope<F: Future>(ctx: RequestContext, work: F) -> F::Output {
    CONTEXT.scope(ctx, work).await
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

//! The body of an answer: its status read, the body streamed under the size cap, the
//! headers worth keeping kept.

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, LAST_MODIFIED};

use super::retry::{Attempt, is_retryable, retry_after};
use super::{Fetched, Fetcher, MAX_BODY_BYTES, Outcome};

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Fetcher {
    /// What an answer comes to: a document, a verdict, or a reason to try again.
    pub(super) async fn read(&self, mut response: reqwest::Response) -> Attempt {
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        if status == StatusCode::NOT_MODIFIED {
            return Attempt::Done(Outcome::NotModified);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Attempt::Done(Outcome::NotFound);
        }
        if is_retryable(status) {
            return Attempt::Retry {
                kind: format!("http_{}", status.as_u16()),
                message: format!("HTTP {}", status.as_u16()),
                retry_after: retry_after(response.headers()),
            };
        }
        if !status.is_success() {
            return Attempt::Done(Outcome::Failed {
                kind: format!("http_{}", status.as_u16()),
                message: format!("HTTP {}", status.as_u16()),
            });
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Attempt::Done(Outcome::Failed {
                            kind: "too_large".into(),
                            message: format!("body over {MAX_BODY_BYTES} bytes"),
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "reading the body failed");
                    let (kind, message) = if e.is_timeout() {
                        ("timeout", "timed out reading the body")
                    } else {
                        ("body", "the body could not be read")
                    };
                    return Attempt::Retry {
                        kind: kind.into(),
                        message: message.into(),
                        retry_after: None,
                    };
                }
            }
        }
        self.metrics.bytes(&self.source, body.len());
        let kept: serde_json::Map<String, serde_json::Value> = [
            "content-type",
            "content-encoding",
            "etag",
            "last-modified",
            "cache-control",
            "date",
        ]
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.to_string(), serde_json::Value::String(v.to_string())))
        })
        .collect();
        Attempt::Done(Outcome::Fetched(Fetched {
            status: status.as_u16(),
            content_type: header_str(&headers, CONTENT_TYPE),
            etag: header_str(&headers, ETAG),
            last_modified: header_str(&headers, LAST_MODIFIED),
            headers: serde_json::Value::Object(kept),
            body: Bytes::from(body),
        }))
    }
}

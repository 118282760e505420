//! Retries: a request tried again on a timeout, a broken connection or body, or a
//! retryable status (408, 425, 429, 5xx), with exponential backoff and jitter, and
//! never sooner than the server's `Retry-After` (capped at 5 minutes).

use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, RETRY_AFTER};

use super::{Fetcher, Outcome, Validators, host_key};
use crate::egress::refusal_in;
use crate::source::DocumentKind;

/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What one request came to.
pub(super) enum Attempt {
    Done(Outcome),
    Retry {
        kind: String,
        message: String,
        retry_after: Option<Duration>,
    },
}

/// Seconds from a `Retry-After` header (delta-seconds or HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64;
    Some(Duration::from_secs(secs))
}

/// What a failed request comes to: its kind, and a message that never carries the
/// underlying error's text (it names addresses and ports of whatever answered).
fn failed_request(e: &reqwest::Error) -> Attempt {
    if let Some(refusal) = refusal_in(e) {
        return Attempt::Done(Outcome::Failed {
            kind: "refused_by_policy".into(),
            message: refusal.to_string(),
        });
    }
    let (kind, message) = if e.is_timeout() {
        ("timeout", "timed out")
    } else if e.is_redirect() {
        return Attempt::Done(Outcome::Failed {
            kind: "redirect".into(),
            message: "too many redirects".into(),
        });
    } else if e.is_connect() {
        ("connect", "could not connect")
    } else if e.is_body() || e.is_decode() {
        ("body", "the body could not be read")
    } else {
        ("request", "the request failed")
    };
    Attempt::Retry {
        kind: kind.into(),
        message: message.into(),
        retry_after: None,
    }
}

pub(super) fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error()
}

impl Fetcher {
    pub(super) async fn fetch_with_retries(
        &self,
        url: &url::Url,
        kind: DocumentKind,
        validators: &Validators,
    ) -> Outcome {
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(self.politeness.min_backoff)
            .with_max_delay(Duration::from_secs(60))
            .with_jitter()
            .with_max_times(self.politeness.max_retries as usize)
            .build();
        loop {
            match self.attempt(url, kind, validators).await {
                Attempt::Done(outcome) => return outcome,
                Attempt::Retry {
                    kind: why,
                    message,
                    retry_after,
                } => {
                    let Some(backoff) = delays.next() else {
                        return Outcome::Failed { kind: why, message };
                    };
                    let wait =
                        retry_after.map_or(backoff, |ra| ra.min(MAX_RETRY_AFTER).max(backoff));
                    tracing::debug!(url = %url, reason = %why, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One request: wait for the host's rate limit and a slot, send, read.
    async fn attempt(
        &self,
        url: &url::Url,
        kind: DocumentKind,
        validators: &Validators,
    ) -> Attempt {
        let Ok(_slot) = self.in_flight.acquire().await else {
            return Attempt::Done(Outcome::Failed {
                kind: "cancelled".into(),
                message: "fetcher closed".into(),
            });
        };
        self.limiter.until_ready(&host_key(url)).await;
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut headers = HeaderMap::new();
        gleaner_common::telemetry::inject_current_context(&mut headers);
        request = request.headers(headers);
        let started = Instant::now();
        let result = request.send().await;
        let outcome = match result {
            Err(e) => {
                tracing::debug!(url = %url, error = %e, "request failed");
                failed_request(&e)
            }
            Ok(response) => self.read(response).await,
        };
        self.metrics
            .fetch_duration(&self.source, kind.as_str(), started.elapsed());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 422] {
            assert!(!is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}

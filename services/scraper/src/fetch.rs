//! Extract: polite HTTP fetching. Per-host rate limit (a ceiling under any
//! concurrency), a cap on requests in flight, robots.txt, retries with
//! exponential backoff and jitter honouring `Retry-After`, conditional
//! requests, timeouts, a body size cap.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

use crate::metrics::ScraperMetrics;
use crate::parse::DocumentKind;

/// Our User-Agent; robots.txt groups are matched on its product token.
pub const USER_AGENT: &str = concat!(
    "GleanerBot/",
    env!("CARGO_PKG_VERSION"),
    " (+https://gleaner.dev/bot)"
);
/// The robots.txt product token.
pub const ROBOTS_AGENT: &str = "GleanerBot";
/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Fraction of `requestsPerSecond` actually used.
const PACING: f64 = 0.9;
/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How politely to fetch.
#[derive(Debug, Clone)]
pub struct Politeness {
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests per second per host.
    pub requests_per_second: f64,
    /// Retries per document.
    pub max_retries: u32,
    /// Honour robots.txt.
    pub respect_robots_txt: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// First retry delay (doubles each time, with jitter).
    pub min_backoff: Duration,
}

impl Default for Politeness {
    fn default() -> Self {
        Self {
            concurrency: 4,
            requests_per_second: 2.0,
            max_retries: 3,
            respect_robots_txt: true,
            request_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
        }
    }
}

/// Validators of the stored copy, for a conditional request.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    /// `ETag` of the stored copy.
    pub etag: Option<String>,
    /// `Last-Modified` of the stored copy.
    pub last_modified: Option<String>,
}

/// A document as received.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// HTTP status (2xx).
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// Headers worth keeping.
    pub headers: serde_json::Value,
    /// The body, decompressed.
    pub body: Bytes,
}

/// What fetching a document came to.
#[derive(Debug)]
pub enum Outcome {
    /// 2xx with a body.
    Fetched(Fetched),
    /// 304: the stored copy is current.
    NotModified,
    /// 404 or 410.
    NotFound,
    /// robots.txt forbids it.
    Disallowed,
    /// Gave up: `kind` is `http_<status>`, `timeout`, `network`, `too_large`, ...
    Failed {
        /// Short machine-readable reason.
        kind: String,
        /// Human-readable detail.
        message: String,
    },
}

enum Attempt {
    Done(Outcome),
    Retry {
        kind: String,
        message: String,
        retry_after: Option<Duration>,
    },
}

enum RobotsRules {
    AllowAll,
    DenyAll,
    Rules(Box<texting_robots::Robot>),
}

/// The polite fetcher of one run.
pub struct Fetcher {
    client: reqwest::Client,
    politeness: Politeness,
    limiter: DefaultKeyedRateLimiter<String>,
    in_flight: Semaphore,
    robots: Mutex<HashMap<String, Arc<RobotsRules>>>,
    metrics: ScraperMetrics,
    source: String,
}

/// The HTTP client every run uses.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(5))
        .gzip(true)
        .brotli(true)
        .pool_max_idle_per_host(64)
        .build()
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

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error()
}

fn host_key(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Fetcher {
    /// A fetcher with `politeness`, counting into `metrics` for `source`.
    pub fn new(
        politeness: Politeness,
        metrics: ScraperMetrics,
        source: &str,
    ) -> anyhow::Result<Self> {
        // A ceiling: one request per period, no burst. Paced at 90% of the
        // limit so that scheduling and network jitter between us and the
        // site never squeeze more than the limit into one second there.
        let period =
            Duration::from_secs_f64(1.0 / (PACING * politeness.requests_per_second.max(0.001)));
        let quota = Quota::with_period(period)
            .ok_or_else(|| anyhow::anyhow!("requestsPerSecond gives a zero period"))?
            .allow_burst(NonZeroU32::MIN);
        Ok(Self {
            client: http_client(politeness.request_timeout)?,
            limiter: RateLimiter::keyed(quota),
            in_flight: Semaphore::new(politeness.concurrency.max(1)),
            robots: Mutex::new(HashMap::new()),
            politeness,
            metrics,
            source: source.to_string(),
        })
    }

    /// Fetch `url` politely; `validators` make it conditional.
    pub async fn fetch(&self, url: &str, kind: DocumentKind, validators: &Validators) -> Outcome {
        let parsed = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                return Outcome::Failed {
                    kind: "invalid_url".into(),
                    message: e.to_string(),
                };
            }
        };
        let span = tracing::info_span!("fetch", url = %url, kind = kind.as_str(), status = tracing::field::Empty);
        async {
            if self.politeness.respect_robots_txt && !self.allowed(&parsed).await {
                self.count(kind, "disallowed");
                return Outcome::Disallowed;
            }
            let outcome = self.fetch_with_retries(&parsed, kind, validators).await;
            let label = match &outcome {
                Outcome::Fetched(_) => "fetched",
                Outcome::NotModified => "not_modified",
                Outcome::NotFound => "not_found",
                Outcome::Disallowed => "disallowed",
                Outcome::Failed { .. } => "failed",
            };
            self.count(kind, label);
            outcome
        }
        .instrument(span)
        .await
    }

    fn count(&self, kind: DocumentKind, outcome: &str) {
        self.metrics.document(&self.source, kind.as_str(), outcome);
    }

    async fn fetch_with_retries(
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
        self.limiter.until_key_ready(&host_key(url)).await;
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
            Err(e) if e.is_timeout() => Attempt::Retry {
                kind: "timeout".into(),
                message: format!("timed out: {e}"),
                retry_after: None,
            },
            Err(e) => Attempt::Retry {
                kind: "network".into(),
                message: e.to_string(),
                retry_after: None,
            },
            Ok(response) => self.read(response).await,
        };
        self.metrics
            .fetch_duration(&self.source, kind.as_str(), started.elapsed());
        outcome
    }

    async fn read(&self, mut response: reqwest::Response) -> Attempt {
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
                message: format!("HTTP {status}"),
                retry_after: retry_after(response.headers()),
            };
        }
        if !status.is_success() {
            return Attempt::Done(Outcome::Failed {
                kind: format!("http_{}", status.as_u16()),
                message: format!("HTTP {status}"),
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
                Err(e) if e.is_timeout() => {
                    return Attempt::Retry {
                        kind: "timeout".into(),
                        message: format!("timed out reading the body: {e}"),
                        retry_after: None,
                    };
                }
                Err(e) => {
                    return Attempt::Retry {
                        kind: "network".into(),
                        message: format!("reading the body: {e}"),
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

    /// Whether robots.txt of the URL's host lets us fetch it (RFC 9309:
    /// a missing robots.txt allows everything, an unreachable one nothing).
    async fn allowed(&self, url: &url::Url) -> bool {
        let key = host_key(url);
        let rules = {
            let mut cache = self.robots.lock().await;
            match cache.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(self.load_robots(url).await);
                    cache.insert(key, r.clone());
                    r
                }
            }
        };
        match rules.as_ref() {
            RobotsRules::AllowAll => true,
            RobotsRules::DenyAll => false,
            RobotsRules::Rules(robot) => robot.allowed(url.as_str()),
        }
    }

    async fn load_robots(&self, url: &url::Url) -> RobotsRules {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        let outcome = self
            .fetch_with_retries(
                &robots_url,
                DocumentKind::CompanyList,
                &Validators::default(),
            )
            .await;
        match outcome {
            Outcome::Fetched(doc) => {
                match texting_robots::Robot::new(ROBOTS_AGENT, &doc.body) {
                    Ok(robot) => RobotsRules::Rules(Box::new(robot)),
                    // Unparseable robots.txt: treat as absent.
                    Err(_) => RobotsRules::AllowAll,
                }
            }
            Outcome::NotFound => RobotsRules::AllowAll,
            Outcome::Failed { kind, .. } if kind.starts_with("http_4") => RobotsRules::AllowAll,
            _ => {
                tracing::warn!(url = %robots_url, "robots.txt unreachable: not fetching from this host");
                RobotsRules::DenyAll
            }
        }
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

    #[test]
    fn user_agent_names_the_bot() {
        assert!(USER_AGENT.starts_with("GleanerBot/"));
    }
}

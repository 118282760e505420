//! Extract: polite HTTP fetching. Per-host rate limit (a ceiling under any
//! concurrency), a cap on requests in flight, robots.txt, retries with
//! exponential backoff and jitter honouring `Retry-After`, conditional
//! requests, timeouts, a body size cap. Every request goes only where the egress
//! policy allows (see [`crate::egress`]); a failure is reported by its kind and HTTP
//! status, never by the socket error's text, so run reports cannot map a network.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

use crate::egress::{Egress, refusal_in};
use crate::limit::HostLimiter;
use crate::metrics::ScraperMetrics;
use crate::source::DocumentKind;

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
    /// Gave up: `kind` is `refused_by_policy`, `http_<status>`, `timeout`, `connect`,
    /// `body`, `redirect`, `too_large`, `invalid_url` or `request`.
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
    limiter: Arc<HostLimiter>,
    in_flight: Semaphore,
    robots: Mutex<HashMap<String, Arc<RobotsRules>>>,
    metrics: ScraperMetrics,
    source: String,
    egress: Egress,
}

/// The HTTP client every run uses: it connects, and follows redirects, only where
/// `egress` allows.
pub fn http_client(timeout: Duration, egress: &Egress) -> reqwest::Result<reqwest::Client> {
    egress
        .client_builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
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
    /// A fetcher with `politeness`, going only where `egress` allows, counting into
    /// `metrics` for `source`.
    pub fn new(
        politeness: Politeness,
        egress: &Egress,
        metrics: ScraperMetrics,
        source: &str,
    ) -> anyhow::Result<Self> {
        // A ceiling for this process alone; a sharded run replaces it (`with_limiter`).
        let limiter =
            HostLimiter::local(politeness.requests_per_second, 1, metrics.clone(), source)
                .map_err(|e| anyhow::anyhow!("requestsPerSecond: {e}"))?;
        Ok(Self {
            client: http_client(politeness.request_timeout, egress)?,
            limiter: Arc::new(limiter),
            in_flight: Semaphore::new(politeness.concurrency.max(1)),
            robots: Mutex::new(HashMap::new()),
            politeness,
            metrics,
            source: source.to_string(),
            egress: egress.clone(),
        })
    }

    /// Count requests against `limiter` (the ceiling shared by the shards of a run).
    pub fn with_limiter(mut self, limiter: Arc<HostLimiter>) -> Self {
        self.limiter = limiter;
        self
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
        if let Err(refusal) = self.egress.check_url(&parsed) {
            self.count(kind, "failed");
            return Outcome::Failed {
                kind: "refused_by_policy".into(),
                message: refusal.to_string(),
            };
        }
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

    mod egress {
        use std::net::{IpAddr, SocketAddr};

        use axum::response::Redirect;
        use axum::routing::get;
        use reqwest::dns::{Addrs, Name, Resolve, Resolving};

        use super::*;

        /// Resolves every name to one address, as a hostile or rebound DNS answer would.
        struct ResolvesTo(IpAddr);

        impl Resolve for ResolvesTo {
            fn resolve(&self, _: Name) -> Resolving {
                let addr = SocketAddr::new(self.0, 0);
                Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) })
            }
        }

        fn fetcher(hosts: &str, networks: &str, resolves_to: IpAddr) -> Fetcher {
            gleaner_common::install_crypto_provider();
            let egress = Egress::new(gleaner_scrapejob::egress::policy(hosts, networks).unwrap())
                .with_resolver(Arc::new(ResolvesTo(resolves_to)));
            let politeness = Politeness {
                max_retries: 0,
                respect_robots_txt: false,
                requests_per_second: 1000.0,
                request_timeout: Duration::from_secs(10),
                ..Politeness::default()
            };
            Fetcher::new(politeness, &egress, ScraperMetrics::unregistered(), "test").unwrap()
        }

        /// A loopback listener that must never see a connection.
        fn untouched_listener() -> (std::net::TcpListener, u16) {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            (listener, port)
        }

        fn assert_never_connected(listener: &std::net::TcpListener) {
            // A connection would have been established (and queued) before the fetch ended.
            match listener.accept() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => panic!("something connected: {other:?}"),
            }
        }

        async fn serve(router: axum::Router) -> u16 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move { axum::serve(listener, router).await });
            port
        }

        async fn fetch(fetcher: &Fetcher, url: &str) -> Outcome {
            fetcher
                .fetch(url, DocumentKind::Company, &Validators::default())
                .await
        }

        fn refused(outcome: &Outcome) -> &str {
            match outcome {
                Outcome::Failed { kind, message } if kind == "refused_by_policy" => message,
                other => panic!("expected refused_by_policy, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn allowed_name_resolving_to_metadata_private_or_loopback_is_refused_unconnected() {
            for addr in [
                "169.254.169.254",
                "10.0.0.1",
                "127.0.0.1",
                "::1",
                "fd00:ec2::254",
            ] {
                let (listener, port) = untouched_listener();
                let fetcher = fetcher("site.test", "", addr.parse().unwrap());
                let outcome = fetch(&fetcher, &format!("http://site.test:{port}/api")).await;
                let message = refused(&outcome);
                assert!(message.contains(addr), "{addr}: {message}");
                assert_never_connected(&listener);
            }
        }

        #[tokio::test]
        async fn allowed_name_resolving_into_an_allowed_network_is_fetched() {
            let port = serve(axum::Router::new().route("/api", get(|| async { "ok" }))).await;
            let fetcher = fetcher("site.test", "127.0.0.0/8", "127.0.0.1".parse().unwrap());
            match fetch(&fetcher, &format!("http://site.test:{port}/api")).await {
                Outcome::Fetched(doc) => assert_eq!(&doc.body[..], b"ok"),
                other => panic!("expected the document, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn ip_literal_and_unlisted_hosts_are_refused_before_sending() {
            let (listener, port) = untouched_listener();
            // Allowed network, but the host is not listed.
            let fetcher = fetcher("site.test", "127.0.0.0/8", "127.0.0.1".parse().unwrap());
            refused(&fetch(&fetcher, &format!("http://127.0.0.1:{port}/")).await);
            refused(&fetch(&fetcher, &format!("http://localhost:{port}/")).await);
            // Listed, but a non-public address outside the allowed networks.
            let fetcher = fetcher_listing_loopback();
            refused(&fetch(&fetcher, &format!("http://127.0.0.1:{port}/")).await);
            refused(&fetch(&fetcher, "http://169.254.169.254/latest/meta-data/").await);
            assert_never_connected(&listener);
        }

        fn fetcher_listing_loopback() -> Fetcher {
            fetcher(
                "127.0.0.1,169.254.169.254",
                "",
                "127.0.0.1".parse().unwrap(),
            )
        }

        #[tokio::test]
        async fn redirects_to_disallowed_hosts_or_addresses_are_refused() {
            let (listener, target) = untouched_listener();
            let router = axum::Router::new()
                .route(
                    "/to-unlisted",
                    get(move || async move {
                        Redirect::temporary(&format!("http://localhost:{target}/"))
                    }),
                )
                .route(
                    "/to-metadata",
                    get(|| async { Redirect::temporary("http://169.254.169.254/latest/") }),
                )
                .route(
                    "/to-rebound-name",
                    get(move || async move {
                        Redirect::temporary(&format!("http://rebound.test:{target}/"))
                    }),
                )
                .route(
                    "/to-allowed",
                    get(|| async { Redirect::temporary("/landing") }),
                )
                .route("/landing", get(|| async { "landed" }));
            let port = serve(router).await;
            let fetcher = fetcher(
                "127.0.0.1,169.254.169.254,rebound.test",
                "127.0.0.1/32",
                "127.0.0.2".parse().unwrap(),
            );
            for path in ["/to-unlisted", "/to-metadata", "/to-rebound-name"] {
                let outcome = fetch(&fetcher, &format!("http://127.0.0.1:{port}{path}")).await;
                refused(&outcome);
            }
            assert_never_connected(&listener);
            match fetch(&fetcher, &format!("http://127.0.0.1:{port}/to-allowed")).await {
                Outcome::Fetched(doc) => assert_eq!(&doc.body[..], b"landed"),
                other => panic!("a same-host redirect is followed, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn failures_name_their_kind_not_the_socket_error() {
            // A port nothing listens on: bind, then close.
            let port = untouched_listener().1;
            let fetcher = fetcher("site.test", "127.0.0.0/8", "127.0.0.1".parse().unwrap());
            match fetch(&fetcher, &format!("http://site.test:{port}/")).await {
                Outcome::Failed { kind, message } => {
                    assert_eq!(kind, "connect");
                    assert_eq!(message, "could not connect");
                }
                other => panic!("expected a connect failure, got {other:?}"),
            }
            let router = axum::Router::new().route(
                "/",
                get(|| async { (axum::http::StatusCode::FORBIDDEN, "secret internal page") }),
            );
            let port = serve(router).await;
            match fetch(&fetcher, &format!("http://site.test:{port}/")).await {
                Outcome::Failed { kind, message } => {
                    assert_eq!((kind.as_str(), message.as_str()), ("http_403", "HTTP 403"));
                }
                other => panic!("expected an HTTP failure, got {other:?}"),
            }
        }
    }
}

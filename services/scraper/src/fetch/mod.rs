//! Extract: polite HTTP fetching. Per-host rate limit (a ceiling under any
//! concurrency), a cap on requests in flight, robots.txt, retries with
//! exponential backoff and jitter honouring `Retry-After`, conditional
//! requests, timeouts, a body size cap. Every request goes only where the egress
//! policy allows (see [`crate::egress`]); a failure is reported by its kind and HTTP
//! status, never by the socket error's text, so run reports cannot map a network.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod body;
mod retry;
mod robots;

use bytes::Bytes;
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

use crate::egress::Egress;
use crate::limit::HostLimiter;
use crate::metrics::ScraperMetrics;
use crate::source::DocumentKind;

/// Our User-Agent; robots.txt groups are matched on its product token.
pub const USER_AGENT: &str = concat!(
    "GleanerBot/",
    env!("CARGO_PKG_VERSION"),
    " (+https://gleaner.dev/bot)"
);
/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub use retry::retry_after;
pub use robots::ROBOTS_AGENT;
use robots::{Robots, RobotsRules};

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
    /// robots.txt forbids it: not fetched, on purpose (not a failure).
    Disallowed,
    /// Gave up: `kind` is `refused_by_policy`, `http_<status>`, `timeout`, `connect`,
    /// `body`, `redirect`, `too_large`, `invalid_url`, `request` or `robots_unavailable`
    /// (the host's robots.txt could not be fetched, so nothing is fetched from it).
    Failed {
        /// Short machine-readable reason.
        kind: String,
        /// Human-readable detail.
        message: String,
    },
}

impl Outcome {
    /// Every `outcome` label of `scraper_documents_fetched_total`.
    pub const LABELS: [&'static str; 5] = [
        "fetched",
        "not_modified",
        "not_found",
        "disallowed",
        "failed",
    ];

    /// Its `outcome` label.
    pub fn label(&self) -> &'static str {
        let [fetched, not_modified, not_found, disallowed, failed] = Self::LABELS;
        match self {
            Outcome::Fetched(_) => fetched,
            Outcome::NotModified => not_modified,
            Outcome::NotFound => not_found,
            Outcome::Disallowed => disallowed,
            Outcome::Failed { .. } => failed,
        }
    }
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

fn host_key(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
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
            if self.politeness.respect_robots_txt {
                match self.robots(&parsed).await {
                    Robots::Allowed => {}
                    Robots::Disallowed => {
                        self.count(kind, Outcome::Disallowed.label());
                        return Outcome::Disallowed;
                    }
                    Robots::Unavailable => {
                        let failed = Outcome::Failed {
                            kind: "robots_unavailable".into(),
                            message:
                                "robots.txt could not be fetched: nothing is fetched from this host"
                                    .into(),
                        };
                        self.count(kind, failed.label());
                        return failed;
                    }
                }
            }
            let outcome = self.fetch_with_retries(&parsed, kind, validators).await;
            self.count(kind, outcome.label());
            outcome
        }
        .instrument(span)
        .await
    }

    fn count(&self, kind: DocumentKind, outcome: &str) {
        self.metrics.document(&self.source, kind.as_str(), outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Forwarding a request to its upstream: edge auth, the rate limit, header
//! hygiene, streaming bodies both ways, and upstream failures as problem+json.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{self, Authority, PathAndQuery, Scheme};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use gleaner_common::ApiError;
use gleaner_common::auth::{AccessClaims, TokenError, TokenVerifier, bearer_token};
use gleaner_common::client_addr::{ClientAddr, TrustedProxies};
use gleaner_common::server::{BODY_LIMIT_BYTES, declared_length, read_small_body};
use gleaner_common::telemetry::inject_current_context;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tracing::Instrument as _;

use crate::edge::ResolvedRoute;
use crate::headers::{forwarded_headers, rate_limit_headers, remove_hop_by_hop};
use crate::limiter::{EdgeLimiter, Scope};
use crate::metrics::GatewayMetrics;
use crate::route_table::{Access, RouteTable};

/// The pooled HTTP/1.1 client to the upstreams.
pub type UpstreamClient = Client<HttpConnector, Body>;

/// An upstream service: its name and base URL.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `identity`, `scraper` or `app`.
    pub name: Arc<str>,
    /// `http://host:port`, no trailing slash.
    pub base: Arc<str>,
    /// The base's scheme and authority, when it has no path of its own.
    pub origin: Option<(Scheme, Authority)>,
    /// The `Host` its requests carry.
    pub host: HeaderValue,
}

impl Upstream {
    /// Where a request for `path_and_query` goes on this upstream.
    fn uri(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, ApiError> {
        let refused = || ApiError::bad_request("the request target cannot be forwarded");
        match &self.origin {
            Some((scheme, authority)) => {
                let mut parts = uri::Parts::default();
                parts.scheme = Some(scheme.clone());
                parts.authority = Some(authority.clone());
                parts.path_and_query = Some(
                    path_and_query
                        .cloned()
                        .unwrap_or_else(|| PathAndQuery::from_static("/")),
                );
                Uri::from_parts(parts).map_err(|_| refused())
            }
            None => {
                let pq = path_and_query.map_or("/", PathAndQuery::as_str);
                format!("{}{pq}", self.base).parse().map_err(|_| refused())
            }
        }
    }
}

/// What the proxy handler needs (shared behind an `Arc`: axum clones a handler's
/// state for every request).
pub struct Proxy {
    /// Which upstream serves what.
    pub table: Arc<RouteTable>,
    /// Upstreams by name.
    pub upstreams: Arc<HashMap<Arc<str>, Upstream>>,
    /// Pooled keep-alive client.
    pub client: UpstreamClient,
    /// Access-token verification at the edge.
    pub verifier: Arc<TokenVerifier>,
    /// Rate limits.
    pub limiter: Arc<EdgeLimiter>,
    /// Proxies in front of the gateway.
    pub trusted: TrustedProxies,
    /// How long an upstream has to send its response headers.
    pub timeout: Duration,
    /// Gateway metrics.
    pub metrics: GatewayMetrics,
}

/// How long an unused upstream connection stays in the pool. The pool looks for
/// expired connections once per this period, so one is closed 20 to 40 s after its
/// last use: after a burst the gateway and the services give their connections'
/// buffers back within a minute.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// A pooled HTTP/1.1 keep-alive client with a connect timeout.
pub fn upstream_client(connect_timeout: Duration) -> UpstreamClient {
    pooled_client(connect_timeout, UPSTREAM_IDLE_TIMEOUT)
}

fn pooled_client(connect_timeout: Duration, idle_timeout: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(idle_timeout)
        // Without a timer the idle timeout is only checked when a connection is
        // taken out again, so after a burst hundreds of idle connections (and
        // their buffers, on both ends) stayed open until the next one.
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_max_idle_per_host(512)
        .build(connector)
}

/// A request the table routes nowhere: 405 with `Allow` when the path is routed for other
/// methods, else 404.
fn not_routed(table: &RouteTable, path: &str) -> Response {
    let allowed = table.allowed_methods(path);
    if allowed.is_empty() {
        return ApiError::not_found("no such resource").into_response();
    }
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this resource",
    )
    .into_response();
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// Fallback handler: everything the gateway does not answer itself.
pub async fn proxy(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    match forward(&proxy, peer, req).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn forward(proxy: &Proxy, peer: SocketAddr, req: Request) -> Result<Response, ApiError> {
    // A small body is read before the gateway answers (401, 404, 429) or forwards:
    // an early answer then never races a body still arriving, and the upstream gets
    // head and body together, so its own early answers (415) do not race either.
    let req = match tokio::time::timeout(proxy.timeout, read_small_body(req)).await {
        Ok(req) => req?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ));
        }
    };
    let (mut parts, body) = req.into_parts();
    let route = match parts.extensions.remove::<ResolvedRoute>() {
        Some(ResolvedRoute(route)) => Some(route),
        None => proxy
            .table
            .resolve(&parts.method, parts.uri.path())
            .cloned(),
    };
    let Some(route) = route else {
        return Ok(not_routed(&proxy.table, parts.uri.path()));
    };
    let upstream = proxy
        .upstreams
        .get(&route.upstream)
        .cloned()
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "route to unknown upstream {}",
                route.upstream
            ))
        })?;

    if declared_length(&parts.headers).is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
        return Err(body_too_large());
    }

    let client = ClientAddr::resolve(peer.ip(), &parts.headers, proxy.trusted);
    let (claims, token_error) = match bearer_token(&parts) {
        None => (None, None),
        Some(token) => match proxy.verifier.verify(token).await {
            Ok(claims) => (Some(claims), None),
            Err(error) => (None, Some(error)),
        },
    };
    let (scope, key) = match &claims {
        Some(AccessClaims { sub, .. }) => {
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            (
                Scope::User,
                sub.hyphenated().encode_lower(&mut text).to_owned(),
            )
        }
        None => (Scope::Address, client.limit_key()),
    };
    let decision = proxy.limiter.check(scope, &key).await;
    if !decision.allowed {
        proxy
            .metrics
            .rate_limited
            .with_label_values(&[scope.as_str()])
            .inc();
        let mut response = ApiError::too_many_requests(
            decision.retry_after_secs(),
            "too many requests; retry after the time in Retry-After",
        )
        .into_response();
        rate_limit_headers(response.headers_mut(), &decision);
        return Ok(response);
    }
    if route.access == Access::Bearer && claims.is_none() {
        let error = match token_error {
            Some(TokenError::Unavailable(cause)) => {
                ApiError::unavailable("token verification", anyhow::anyhow!(cause))
            }
            Some(other) => ApiError::from(other),
            None => ApiError::unauthorized("a bearer access token is required"),
        };
        let mut response = error.into_response();
        rate_limit_headers(response.headers_mut(), &decision);
        return Ok(response);
    }

    let uri = upstream.uri(parts.uri.path_and_query())?;
    let original_host = parts.headers.get(header::HOST).cloned();
    remove_hop_by_hop(&mut parts.headers);
    parts.headers.insert(header::HOST, upstream.host.clone());
    forwarded_headers(
        &mut parts.headers,
        peer,
        original_host,
        proxy.trusted,
        &parts.uri,
    );
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;

    let too_large = Arc::new(AtomicBool::new(false));
    // A request without a body (most are GETs) is sent without one, and a body of a
    // known length within the limit (one read ahead, or one hyper holds to its
    // `Content-Length`) as it is: wrapped in the limiting stream its length would be
    // unknown, and HTTP/1.1 would send it chunked.
    let body = if body.is_end_stream() {
        Body::empty()
    } else if body
        .size_hint()
        .exact()
        .is_some_and(|n| n <= BODY_LIMIT_BYTES as u64)
    {
        body
    } else {
        limited(body, too_large.clone())
    };
    let span = tracing::info_span!(
        "upstream.request",
        otel.name = %format!("{} {}", parts.method, upstream.name),
        otel.kind = "client",
        upstream = %upstream.name,
        http.request.method = %parts.method,
    );
    span.in_scope(|| inject_current_context(&mut parts.headers));
    let request = Request::from_parts(parts, body);

    let sent = tokio::time::timeout(proxy.timeout, proxy.client.request(request))
        .instrument(span)
        .await;
    let upstream_error = |kind: &'static str| {
        proxy
            .metrics
            .upstream_errors
            .with_label_values(&[&*upstream.name, kind])
            .inc();
    };
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(_)) if too_large.load(Ordering::SeqCst) => return Err(body_too_large()),
        Ok(Err(error)) if error.is_connect() => {
            upstream_error("connect");
            return Err(ApiError::unavailable(
                &format!("the {} service", upstream.name),
                error,
            ));
        }
        Ok(Err(error)) => {
            upstream_error("protocol");
            tracing::warn!(upstream = %upstream.name, error = %error, "upstream failed");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the {} service sent no valid response", upstream.name),
            ));
        }
        Err(_) => {
            upstream_error("timeout");
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the {} service did not answer within {}s",
                    upstream.name,
                    proxy.timeout.as_secs_f64()
                ),
            ));
        }
    };
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    rate_limit_headers(&mut parts.headers, &decision);
    Ok(Response::from_parts(parts, Body::new(body)))
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {BODY_LIMIT_BYTES} bytes"),
    )
}

/// The body, streamed, failing (and raising `too_large`) once it passes the limit.
fn limited(body: Body, too_large: Arc<AtomicBool>) -> Body {
    let mut seen = 0usize;
    Body::from_stream(body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len();
        if seen > BODY_LIMIT_BYTES {
            too_large.store(true, Ordering::SeqCst);
            return Err(axum::Error::new(std::io::Error::other(
                "request body over the limit",
            )));
        }
        Ok(chunk)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_upstream_connection_is_closed_by_the_pool_without_another_request() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        // An upstream that answers one keep-alive request, then waits for the
        // gateway's side to close the connection.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            // EOF or a reset: the pool closed the idle connection on its own.
            socket.read(&mut buf).await.unwrap_or(0)
        });

        let client = pooled_client(Duration::from_secs(2), Duration::from_millis(200));
        let response = client
            .request(
                Request::get(format!("http://{addr}/"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // Read to the end, so the connection goes back to the pool (a body dropped
        // half-read would close it).
        let body = axum::body::to_bytes(Body::new(response.into_body()), 16)
            .await
            .unwrap();
        assert_eq!(&body[..], b"ok");
        // The client is kept (its pool holds the connection) and sends nothing more.
        // A deadline, not a timing assertion: without the pool's timer the connection
        // stayed open until the next request, and this waited in vain.
        let read = tokio::time::timeout(Duration::from_secs(30), upstream)
            .await
            .expect("the idle connection was never closed")
            .unwrap();
        assert_eq!(read, 0);
        drop(client);
    }
}

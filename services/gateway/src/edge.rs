//! What the gateway adds to every response and request at the edge: the
//! route label of proxied requests, security headers, CORS.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use gleaner_common::client_addr::TrustedProxies;
use gleaner_common::observe::RouteLabel;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::route_table::{Route, RouteTable};

/// The route table entry [`edge`] found for a request (a request extension,
/// which only the gateway itself can set).
#[derive(Debug, Clone)]
pub struct ResolvedRoute(pub Route);

/// What [`edge`] needs: the route table and the proxies trusted in front.
#[derive(Clone)]
pub struct Edge {
    /// Where each proxied path goes.
    pub table: Arc<RouteTable>,
    /// How many proxies in front are trusted (for `X-Forwarded-Proto`).
    pub trusted: TrustedProxies,
}

/// Middleware, outermost (outside CORS and the metrics); one middleware rather than
/// two, as it runs on every request:
/// - label a proxied request with its route table pattern, so metrics and spans
///   never carry raw paths, and hand the entry on to the proxy;
/// - on the response: `nosniff`, no framing, no referrer; HSTS only when the
///   request reached a trusted proxy in front over TLS (the gateway itself speaks
///   plain HTTP, so a browser talking to it directly must not be told to insist on
///   HTTPS).
pub async fn edge(State(edge): State<Edge>, mut req: Request, next: Next) -> Response {
    if let Some(route) = edge.table.resolve(req.method(), req.uri().path()) {
        let label = RouteLabel(route.pattern().clone());
        let resolved = ResolvedRoute(route.clone());
        req.extensions_mut().insert(label);
        // The proxy forwards by this entry rather than looking the path up again.
        req.extensions_mut().insert(resolved);
    }
    let over_tls = edge.trusted.0 > 0
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let set = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if over_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// CORS for the configured origins; `None` when there are none.
pub fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .map(|o| {
            if !(o.starts_with("http://") || o.starts_with("https://")) {
                anyhow::bail!("CORS_ALLOWED_ORIGINS: {o:?} is not an http(s) origin");
            }
            HeaderValue::from_str(o)
                .map_err(|_| anyhow::anyhow!("CORS_ALLOWED_ORIGINS: {o:?} is not a valid origin"))
        })
        .collect::<anyhow::Result<_>>()?;
    if origins.is_empty() {
        return Ok(None);
    }
    let exposed = [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ]
    .map(HeaderName::from_static);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers(exposed)
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

//! Building and running the gateway (tests start it on port 0).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::http::HeaderValue;
use axum::routing::get;
use gleaner_common::auth::TokenVerifier;
use gleaner_common::client_addr::TrustedProxies;
use gleaner_common::error::method_not_allowed_fallback;
use gleaner_common::observe::{HttpMetrics, Observe, observe_http};
use gleaner_common::ratelimit::Quota;
use gleaner_common::server;
use gleaner_common::telemetry::{health, metrics_response};
use prometheus::Registry;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::docs::{self, Docs};
use crate::edge;
use crate::limiter::EdgeLimiter;
use crate::metrics::GatewayMetrics;
use crate::proxy::{self, Proxy, Upstream};
use crate::ready::{self, ReadyChecks};
use crate::route_table::RouteTable;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "gateway";

/// The gateway's own OpenAPI document (the services' are at `/openapi/{service}.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gleaner gateway",
        description = "The single entry point. Every /api/v1 path is served by the service \
                       that owns it; their documents are listed next to this one in /docs."
    ),
    paths(ready::ready, docs::upstream_openapi),
    tags((name = "ops"), (name = "docs"))
)]
pub struct ApiDoc;

/// A built, not yet running, gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    edge: edge::Edge,
    cors: Option<tower_http::cors::CorsLayer>,
}

impl Application {
    /// Build everything and bind the listener; fails on bad settings.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let upstreams = vec![
            upstream("identity", "IDENTITY_URL", &settings.identity_url)?,
            upstream("scraper", "SCRAPER_URL", &settings.scraper_url)?,
            upstream("app", "APP_URL", &settings.app_url)?,
        ];
        let names: Vec<&str> = upstreams.iter().map(|u| &*u.name).collect();
        let table = Arc::new(
            RouteTable::parse(&settings.routes, &names)
                .map_err(|e| anyhow::anyhow!("GATEWAY_ROUTES: {e}"))?,
        );
        let quota = Quota::new(settings.rate_limit_per_second, settings.rate_limit_burst)
            .map_err(|e| anyhow::anyhow!("RATE_LIMIT_PER_SECOND/RATE_LIMIT_BURST: {e}"))?;
        let cors = edge::cors(&settings.cors_allowed_origins)?;
        let trusted = TrustedProxies(settings.trusted_proxies);

        let redis = gleaner_common::redis::connect(settings.redis_url.expose_secret(), 4).await?;
        let registry = Registry::new();
        let http_metrics = HttpMetrics::register(SERVICE, &registry)?;
        let metrics = GatewayMetrics::register(&registry)?;
        let http = reqwest::Client::builder()
            .connect_timeout(settings.upstream_connect_timeout)
            .build()
            .context("building the HTTP client")?;
        let verifier = Arc::new(TokenVerifier::with_jwks(
            &settings.jwks_url(),
            http.clone(),
            &settings.jwt_issuer,
            &settings.jwt_audience,
            None,
        ));
        let limiter = Arc::new(EdgeLimiter::new(
            redis.clone(),
            quota,
            settings.rate_limit_lease,
            metrics.clone(),
        ));
        let proxy_state = Proxy {
            table: table.clone(),
            upstreams: Arc::new(
                upstreams
                    .iter()
                    .map(|u| (u.name.clone(), u.clone()))
                    .collect::<HashMap<_, _>>(),
            ),
            client: proxy::upstream_client(settings.upstream_connect_timeout),
            verifier,
            limiter,
            trusted,
            timeout: settings.upstream_timeout,
            metrics,
        };
        let ready_checks = ReadyChecks {
            upstreams: upstreams.clone().into(),
            http: http.clone(),
            redis,
        };
        let openapi =
            Arc::new(serde_json::to_value(ApiDoc::openapi()).context("serializing OpenAPI")?);

        let docs = Router::new()
            .route("/docs", get(docs::docs_root))
            .route("/docs/", get(docs::docs_index))
            .route("/docs/{*file}", get(docs::docs_file))
            .route("/openapi/{file}", get(docs::upstream_openapi))
            .with_state(Docs::new(upstreams, http, table.clone()));
        let ops = Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready::ready))
            .with_state(ready_checks)
            .route(
                "/metrics",
                get(move || {
                    let registry = registry.clone();
                    async move { metrics_response(&registry) }
                }),
            )
            .route(
                "/openapi.json",
                get(move || {
                    let openapi = openapi.clone();
                    async move { axum::Json(openapi.as_ref().clone()) }
                }),
            );
        let observe = Observe {
            metrics: http_metrics,
            deadline: None,
        };
        let router = Router::new()
            .merge(ops)
            .merge(docs)
            .fallback(proxy::proxy)
            .with_state(Arc::new(proxy_state))
            .method_not_allowed_fallback(method_not_allowed_fallback)
            .layer(axum::middleware::from_fn_with_state(observe, observe_http));
        let listener = server::bind(&settings.listen_addr).await?;
        Ok(Self {
            listener,
            router,
            edge: edge::Edge { table, trusted },
            cors,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serve until `shutdown` resolves, then drain requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Outside the router: these need no route, and inside it axum would box each
        // once more per request. The edge goes first, so the route label it sets is
        // there for the metrics inside.
        let service = tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(self.edge, edge::edge))
            .option_layer(self.cors)
            .service(self.router);
        server::serve(self.listener, service, shutdown).await
    }
}

gleaner_common::impl_service!(Application, Settings);

fn upstream(name: &str, setting: &str, url: &str) -> anyhow::Result<Upstream> {
    if !url.starts_with("http://") {
        anyhow::bail!(
            "{setting}: {url:?}: the gateway reaches the services over plain http:// inside the cluster"
        );
    }
    let parsed = url
        .parse::<http::Uri>()
        .map_err(|e| anyhow::anyhow!("{setting}: {url:?} is not a valid URL: {e}"))?;
    // A base without a path: a request's own path and query go to it unparsed.
    let origin = match (parsed.scheme(), parsed.authority(), parsed.path()) {
        (Some(scheme), Some(authority), "" | "/") if parsed.query().is_none() => {
            Some((scheme.clone(), authority.clone()))
        }
        _ => None,
    };
    // The Host every request to it carries, as the HTTP client would write it (the
    // port only when it is not the scheme's default), made once here rather than
    // formatted again for each request.
    let hostname = parsed
        .host()
        .with_context(|| format!("{setting}: {url:?} has no host"))?;
    let host = match parsed.port_u16() {
        Some(port) if port != 80 => format!("{hostname}:{port}"),
        _ => hostname.to_owned(),
    };
    let host = HeaderValue::from_str(&host)
        .with_context(|| format!("{setting}: {url:?}: the host is not a valid Host header"))?;
    Ok(Upstream {
        name: name.into(),
        base: url.trim_end_matches('/').into(),
        origin,
        host,
    })
}

//! Assembling a service: ops endpoints, the standard middleware stack,
//! serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio::net::TcpListener;

use crate::error::{method_not_allowed_fallback, not_found_fallback};
use crate::observe::{HttpMetrics, observe_http};
use crate::request_context::propagate_request_id;

/// Default request body limit (contract §3): 1 MiB.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named dependency check for `/ready`.
#[derive(Clone)]
pub struct ReadinessCheck {
    name: &'static str,
    check: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl ReadinessCheck {
    /// A check from a name and an async closure.
    pub fn new<F, Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            check: Arc::new(move || Box::pin(f())),
        }
    }

    /// PostgreSQL answers `SELECT 1`.
    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Redis answers `PING`.
    pub fn redis(client: fred::clients::Pool) -> Self {
        Self::new("redis", move || {
            let client = client.clone();
            async move { crate::redis::ping(&client).await.map_err(|e| e.to_string()) }
        })
    }
}

/// Everything the ops endpoints need.
#[derive(Clone)]
pub struct Ops {
    /// Prometheus registry served at `/metrics`.
    pub registry: Registry,
    /// Dependencies checked by `/ready`.
    pub checks: Vec<ReadinessCheck>,
    /// The service's OpenAPI document, served at `/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
}

impl Ops {
    /// Ops for a service: its metrics, its dependency checks and its OpenAPI document.
    pub fn new(
        registry: Registry,
        checks: Vec<ReadinessCheck>,
        openapi: &utoipa::openapi::OpenApi,
    ) -> serde_json::Result<Self> {
        Ok(Self {
            registry,
            checks,
            openapi: Arc::new(serde_json::to_value(openapi)?),
        })
    }
}

/// `/health`, `/ready`, `/metrics`, `/openapi.json`.
pub fn ops_router(ops: Ops) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(ops)
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Run every check with a timeout; 503 naming the failing ones.
pub async fn run_checks(checks: &[ReadinessCheck]) -> (bool, serde_json::Value) {
    let results = futures::future::join_all(checks.iter().map(|c| async move {
        let outcome = tokio::time::timeout(Duration::from_secs(2), (c.check)()).await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(_) => Err("timed out after 2s".to_string()),
        };
        (c.name, outcome)
    }))
    .await;
    let mut ok = true;
    let mut map = serde_json::Map::new();
    for (name, outcome) in results {
        match outcome {
            Ok(()) => {
                map.insert(name.into(), json!("ok"));
            }
            Err(e) => {
                ok = false;
                map.insert(name.into(), json!(format!("unavailable: {e}")));
            }
        }
    }
    (ok, serde_json::Value::Object(map))
}

async fn ready(State(ops): State<Ops>) -> Response {
    let (ok, checks) = run_checks(&ops.checks).await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ok {"ready"} else {"unavailable"}, "checks": checks});
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let mut buf = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&ops.registry.gather(), &mut buf) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            buf,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}

async fn openapi(State(ops): State<Ops>) -> Response {
    axum::Json(ops.openapi.as_ref().clone()).into_response()
}

/// Wrap a service's API router with ops endpoints and the standard stack:
/// problem+json fallbacks, 1 MiB body limit, request ids, span, metrics.
pub fn with_standard_layers(api: Router, ops: Ops, metrics: HttpMetrics) -> Router {
    api.merge(ops_router(ops))
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn_with_state(metrics, observe_http))
        .layer(axum::middleware::from_fn(propagate_request_id))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}

/// Serve `router` on `listener` until `shutdown` resolves, then drain.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Bind a TCP listener, naming the setting on failure.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LISTEN_ADDR={addr}: cannot bind: {e}"))
}

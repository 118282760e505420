//! Assembling a service: ops endpoints, the standard middleware stack,
//! serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use futures::StreamExt as _;
pub use gleaner_telemetry::shutdown_signal;
use gleaner_telemetry::{CheckStatus, LogSettings, Readiness, health, metrics_response};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{method_not_allowed_fallback, not_found_fallback};
use crate::observe::{HttpMetrics, Observe, observe_http};

/// A service's application: built from its settings, it serves until told to stop.
pub trait Service: Sized {
    /// What `serve` reads from flags and the environment.
    type Settings;
    /// Connect to dependencies and bind the listener.
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>>;
    /// The bound port.
    fn port(&self) -> u16;
    /// Serve until `shutdown` resolves, then drain.
    fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = std::io::Result<()>>;
}

/// Implement [`Service`] for `$app` built from `$settings`, through its inherent
/// `build`, `port` and `run_until_stopped` (the shape every service's `startup` has).
#[macro_export]
macro_rules! impl_service {
    ($app:ty, $settings:ty) => {
        impl $crate::server::Service for $app {
            type Settings = $settings;

            fn build(
                settings: $settings,
            ) -> impl ::std::future::Future<Output = ::anyhow::Result<Self>> {
                <$app>::build(settings)
            }

            fn port(&self) -> u16 {
                <$app>::port(self)
            }

            fn run_until_stopped(
                self,
                shutdown: impl ::std::future::Future<Output = ()> + Send + 'static,
            ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> {
                <$app>::run_until_stopped(self, shutdown)
            }
        }
    };
}

/// The `serve` command of every service: install telemetry, build the application
/// (logging "cannot start" with the cause when that fails), serve until SIGTERM/Ctrl-C,
/// then drain (see [`signal_then_drain`]).
pub async fn run_service<S: Service>(
    service: &str,
    log: LogSettings,
    settings: S::Settings,
) -> anyhow::Result<()> {
    let _guard = gleaner_telemetry::init(service, log.log_format)?;
    let delay = shutdown_delay_from_env()?;
    let app = S::build(settings).await.inspect_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "cannot start");
    })?;
    tracing::info!(port = app.port(), "{service} listening");
    app.run_until_stopped(signal_then_drain(delay)).await?;
    tracing::info!("{service} stopped");
    Ok(())
}

/// Set once this process received its shutdown signal (only [`run_service`] sets it,
/// so services started inside tests never see it).
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Whether the process is shutting down: `/ready` answers 503 and responses
/// carry `Connection: close`, so load balancers and pooling clients move away
/// before the listener closes.
pub fn is_draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// `SHUTDOWN_DELAY` (`0s` when unset): how long a process keeps accepting
/// connections after SIGTERM while `/ready` already answers 503.
pub fn shutdown_delay_from_env() -> anyhow::Result<Duration> {
    let name = crate::settings::env::SHUTDOWN_DELAY;
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(Duration::ZERO),
        Err(e) => Err(anyhow::anyhow!("{name}: {e}")),
        Ok(value) => humantime::parse_duration(value.trim())
            .with_context(|| format!("{name}={value:?} is not a duration such as 5s")),
    }
}

/// Resolves `delay` after SIGTERM/Ctrl-C; from the signal on, [`is_draining`]. The
/// server then stops accepting and finishes what is in flight ([`serve`]).
pub async fn signal_then_drain(delay: Duration) {
    shutdown_signal().await;
    DRAINING.store(true, Ordering::Relaxed);
    if !delay.is_zero() {
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "readiness is now 503; still accepting connections for the shutdown delay"
        );
        tokio::time::sleep(delay).await;
    }
}

/// Default request body limit: 1 MiB (larger bodies are refused with 413).
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

/// How long `/ready` waits for one dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Run every check with a timeout. Why a check failed is logged, never
/// returned: a driver's error text names hosts, users and versions.
pub async fn run_checks(checks: &[ReadinessCheck]) -> Readiness {
    let results = futures::future::join_all(checks.iter().map(|c| async move {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, (c.check)()).await {
            Ok(Ok(())) => CheckStatus::Ok,
            Ok(Err(error)) => {
                tracing::warn!(dependency = c.name, %error, "readiness check failed");
                CheckStatus::Unavailable
            }
            Err(_) => {
                tracing::warn!(
                    dependency = c.name,
                    timeout_ms = CHECK_TIMEOUT.as_millis() as u64,
                    "readiness check timed out"
                );
                CheckStatus::Unavailable
            }
        };
        (c.name, outcome)
    }))
    .await;
    Readiness::from_checks(results)
}

/// The `/ready` answer of a process that is shutting down: 503, naming `shutdown`.
pub fn draining_readiness() -> Readiness {
    Readiness::from_checks([("shutdown", CheckStatus::Unavailable)])
}

async fn ready(State(ops): State<Ops>) -> Response {
    if is_draining() {
        return draining_readiness().into_response();
    }
    run_checks(&ops.checks).await.into_response()
}

async fn metrics(State(ops): State<Ops>) -> Response {
    metrics_response(&ops.registry)
}

async fn openapi(State(ops): State<Ops>) -> Response {
    axum::Json(ops.openapi.as_ref().clone()).into_response()
}

/// How long a request may take to produce its response head (a streamed body
/// may then take as long as it needs) before it is answered 503: the backstop for
/// a dependency that accepts work and never answers. Shorter than the gateway's
/// upstream timeout (30 s), so a client sees which service gave up.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// Request bodies declaring at most this many bytes are read in full before the
/// handler runs (see [`read_small_body`]).
pub const READ_AHEAD_BYTES: u64 = 64 * 1024;

/// The body length a request declares in `Content-Length`, when it declares one.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Read a body declared at most [`READ_AHEAD_BYTES`] long before anything answers
/// the request.
///
/// A handler that answers before reading the body (a wrong `Content-Type`, a missing
/// token, a rate limit) leaves it unread, and the server then closes the connection.
/// When the body is still on its way, the closed socket answers it with a reset, and
/// a reset can destroy the answer in the client's receive buffer before the client
/// reads it: the client (or the gateway, which then reports 502) sees a dropped
/// connection instead of a 415 or a 401. Reading a small body first leaves the
/// connection clean and reusable. Bodies without a declared length, or longer,
/// are streamed to the handler as before.
pub async fn read_small_body(request: Request) -> Result<Request, crate::ApiError> {
    match declared_length(request.headers()) {
        Some(length) if length > 0 && length <= READ_AHEAD_BYTES => {}
        _ => return Ok(request),
    }
    let (parts, body) = request.into_parts();
    // The declared length bounds what hyper yields; the limit is a second guard.
    let bytes = axum::body::to_bytes(body, READ_AHEAD_BYTES as usize)
        .await
        .map_err(|error| {
            tracing::debug!(%error, "request body could not be read");
            crate::ApiError::bad_request("the request body could not be read in full")
        })?;
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Wrap a service's API router with ops endpoints and the standard stack:
/// problem+json fallbacks and one middleware for the request id, span, request
/// deadline, metrics and access log ([`observe_http`]). The body limit is applied by
/// [`serve`], outside the router.
pub fn with_standard_layers(api: Router, ops: Ops, metrics: HttpMetrics) -> Router {
    let observe = Observe {
        metrics,
        deadline: Some(REQUEST_DEADLINE),
    };
    api.merge(ops_router(ops))
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(axum::middleware::from_fn_with_state(observe, observe_http))
}

/// A service's whole router: its API with the ops endpoints (metrics from `registry`,
/// readiness from `checks`, its OpenAPI document) inside the standard stack.
pub fn standard_router(
    api: Router,
    registry: Registry,
    checks: Vec<ReadinessCheck>,
    openapi: &utoipa::openapi::OpenApi,
    metrics: HttpMetrics,
) -> anyhow::Result<Router> {
    let ops = anyhow::Context::context(Ops::new(registry, checks, openapi), "serializing OpenAPI")?;
    Ok(with_standard_layers(api, ops, metrics))
}

/// How long [`serve`] waits for in-flight requests once the listener is closed,
/// before it stops anyway (a stream a client never ends must not hold a pod past its
/// `terminationGracePeriodSeconds`, 30 in the chart).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serve `service` on `listener` until `shutdown` resolves; then stop accepting,
/// let in-flight requests finish (at most [`DRAIN_TIMEOUT`]) and return.
///
/// `service` is a service's [`Router`], or a router wrapped in layers that need no
/// route (the gateway's edge). Around it go, as plain tower layers (not through
/// [`Router::layer`], which would box them once more per request), the body limit
/// ([`BODY_LIMIT_BYTES`]) and what changes while draining.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let streams_end = CancellationToken::new();
    let end_streams = streams_end.clone();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("listener closed; finishing in-flight requests");
        end_streams.cancel();
        signalled.notify_one();
    };
    let service = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            streams_end,
            while_draining,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .service(service);
    // Responses go out as soon as they are written: without TCP_NODELAY a response
    // whose body is written after its head (a streamed or proxied one) can wait for
    // the client's delayed acknowledgement of the head.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    let server = axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service),
    )
    .with_graceful_shutdown(shutdown)
    .into_future();
    tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!(
                timeout_s = DRAIN_TIMEOUT.as_secs(),
                "requests still in flight after the drain timeout; stopping anyway"
            );
            Ok(())
        }
    }
}

/// What changes once the listener has closed (one middleware, as it runs on every
/// request):
/// - every client is asked to close its connection after this response, so none
///   reuses a pooled connection after the listener closes;
/// - a Server-Sent Events stream, which never finishes by itself, is ended cleanly
///   between two chunks: the client sees the stream end, reconnects (to another pod)
///   with `Last-Event-ID` and misses nothing, and the drain is not held up until
///   [`DRAIN_TIMEOUT`]. An event cut short by this is discarded by the client (an
///   event counts only once its blank line has arrived) and sent again after the
///   reconnect. Other responses are never cut.
async fn while_draining(
    State(streams_end): State<CancellationToken>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !is_event_stream(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let chunks = body
        .into_data_stream()
        .take_until(streams_end.cancelled_owned());
    Response::from_parts(parts, axum::body::Body::from_stream(chunks))
}

fn is_event_stream(response: &Response) -> bool {
    crate::extract::media_type(response.headers())
        .is_some_and(|essence| essence.eq_ignore_ascii_case("text/event-stream"))
}

/// Bind a TCP listener, naming the setting on failure.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "{}={addr}: cannot bind: {e}",
            crate::settings::env::LISTEN_ADDR
        )
    })
}

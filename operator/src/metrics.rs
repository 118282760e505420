//! Prometheus metrics (names listed in the README's Metrics section) and the /health, /ready, /metrics server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gleaner_telemetry::{CheckStatus, Readiness, encode_metrics, health, metrics_response};
use kube::runtime::reflector::Store;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::crd::{Phase, ScrapeJob};

/// `operator_reconciles_total{result}` of a reconcile that succeeded.
const RECONCILE_SUCCESS: &str = "success";
/// `operator_reconciles_total{result}` of a reconcile that failed.
const RECONCILE_ERROR: &str = "error";

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    duration: Histogram,
    scrapejobs: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers `operator_reconciles_total{result}`, `operator_reconcile_duration_seconds`
    /// and `operator_scrapejobs{phase}` in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "operator_reconciles_total",
                "Reconciles of ScrapeJobs, by result",
            ),
            &["result"],
        )
        .expect("static metric definition");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "operator_reconcile_duration_seconds",
                "Time spent reconciling one ScrapeJob",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("static metric definition");
        let scrapejobs = IntGaugeVec::new(
            Opts::new(
                "operator_scrapejobs",
                "ScrapeJobs known to the operator, by phase",
            ),
            &["phase"],
        )
        .expect("static metric definition");
        for m in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(scrapejobs.clone()),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        // Every label value exists from the start at 0, so an error rate or a phase count
        // reads 0 on a dashboard rather than "no data" until the first occurrence.
        for result in [RECONCILE_SUCCESS, RECONCILE_ERROR] {
            reconciles.with_label_values(&[result]);
        }
        for phase in Phase::ALL {
            scrapejobs.with_label_values(&[phase.as_str()]);
        }
        Metrics {
            registry,
            reconciles,
            duration,
            scrapejobs,
        }
    }

    /// Starts timing a reconcile; the duration is observed when the timer drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        ReconcileTimer {
            start: Instant::now(),
            histogram: self.duration.clone(),
        }
    }

    /// Counts a reconcile that succeeded.
    pub fn reconcile_succeeded(&self) {
        self.reconciles
            .with_label_values(&[RECONCILE_SUCCESS])
            .inc();
    }

    /// Counts a reconcile that failed.
    pub fn reconcile_failed(&self) {
        self.reconciles.with_label_values(&[RECONCILE_ERROR]).inc();
    }

    /// Sets `operator_scrapejobs{phase}` from the ScrapeJobs in the store (no status: Pending).
    pub fn count_phases<'a>(&self, jobs: impl IntoIterator<Item = &'a ScrapeJob>) {
        let mut counts = [0i64; Phase::ALL.len()];
        for sj in jobs {
            let phase = sj
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .unwrap_or(Phase::Pending);
            if let Some(i) = Phase::ALL.iter().position(|p| *p == phase) {
                counts[i] += 1;
            }
        }
        for (phase, count) in Phase::ALL.iter().zip(counts) {
            self.scrapejobs
                .with_label_values(&[phase.as_str()])
                .set(count);
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        encode_metrics(&self.registry).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot encode metrics");
            String::new()
        })
    }
}

/// Observes a reconcile's duration when dropped.
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// What the HTTP server shows.
#[derive(Clone, Default)]
pub struct ServerState {
    /// The metrics.
    pub metrics: Metrics,
    /// The controller's ScrapeJob store, once this replica leads.
    pub store: Arc<OnceLock<Store<ScrapeJob>>>,
    /// Set once the operator can talk to the API server.
    pub ready: Arc<AtomicBool>,
}

/// `/health`, `/ready` and `/metrics`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The readiness check of the operator's one dependency, named in the `/ready` body.
pub const KUBERNETES_API_CHECK: &str = "kubernetes-api";

async fn ready(State(state): State<ServerState>) -> Response {
    let kubernetes = if state.ready.load(Ordering::Relaxed) {
        CheckStatus::Ok
    } else {
        CheckStatus::Unavailable
    };
    Readiness::from_checks([(KUBERNETES_API_CHECK, kubernetes)]).into_response()
}

async fn metrics(State(state): State<ServerState>) -> Response {
    if let Some(store) = state.store.get() {
        let jobs = store.state();
        state.metrics.count_phases(jobs.iter().map(|j| j.as_ref()));
    }
    metrics_response(&state.metrics.registry)
}

/// Serves the router on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics server listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::crd::{ScrapeJobSpec, ScrapeJobStatus, Targets};

    #[test]
    fn every_bounded_series_exists_at_zero_before_anything_happens() {
        let text = Metrics::new().render();
        for series in [
            r#"operator_reconciles_total{result="success"} 0"#,
            r#"operator_reconciles_total{result="error"} 0"#,
            "operator_reconcile_duration_seconds_count 0",
        ] {
            assert!(
                text.lines().any(|l| l == series),
                "{series} missing:\n{text}"
            );
        }
        for phase in Phase::ALL {
            let series = format!(r#"operator_scrapejobs{{phase="{}"}} 0"#, phase.as_str());
            assert!(
                text.lines().any(|l| l == series),
                "{series} missing:\n{text}"
            );
        }
    }

    #[test]
    fn renders_contract_metric_names() {
        let m = Metrics::new();
        m.reconcile_succeeded();
        m.reconcile_failed();
        drop(m.reconcile_timer());
        let mut sj = ScrapeJob::new("a", ScrapeJobSpec::with_targets(Targets::default()));
        let pending = sj.clone();
        sj.status = Some(ScrapeJobStatus {
            phase: Some(Phase::Running),
            ..ScrapeJobStatus::default()
        });
        m.count_phases([&sj, &pending, &pending]);
        let text = m.render();
        assert!(
            text.contains(r#"operator_reconciles_total{result="success"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"operator_reconciles_total{result="error"} 1"#));
        assert!(text.contains("operator_reconcile_duration_seconds_count 1"));
        assert!(text.contains(r#"operator_scrapejobs{phase="Running"} 1"#));
        assert!(text.contains(r#"operator_scrapejobs{phase="Pending"} 2"#));
        assert!(text.contains(r#"operator_scrapejobs{phase="Suspended"} 0"#));
    }

    async fn get(state: &ServerState, path: &str) -> (StatusCode, serde_json::Value) {
        use tower::ServiceExt;
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn ready_names_the_kubernetes_api_until_it_answers() {
        let state = ServerState::default();
        let (status, body) = get(&state, "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({"status": "unavailable", "checks": {"kubernetes-api": "unavailable"}})
        );
        state.ready.store(true, Ordering::Relaxed);
        let (status, body) = get(&state, "/ready").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!({"status": "ready", "checks": {"kubernetes-api": "ok"}})
        );
        let (status, body) = get(&state, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"status": "ok"}));
    }
}

//! Building and running the scraper service (tests start it on port 0).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::outbox::OutboxRelay;
use gleaner_common::server::{self, ReadinessCheck};
use prometheus::Registry;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::egress::Egress;
use crate::metrics::ScraperMetrics;
use crate::pipeline::Pipeline;
use crate::routes::{self, ApiDoc};
use crate::state::AppState;
use crate::store::OUTBOX_TABLE;

/// Embedded migrations of the scraper database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/scraper");

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "scraper";

/// A built, not yet running, scraper service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Build everything and bind; `customize` may adjust the pipeline (tests).
    pub async fn build_with(
        settings: Settings,
        customize: impl FnOnce(Pipeline) -> Pipeline,
    ) -> anyhow::Result<Self> {
        let db = gleaner_common::db::lazy_pool(
            settings.database_url.expose_secret(),
            settings.database_max_connections,
        )?;
        let redis = gleaner_common::redis::connect(settings.redis_url.expose_secret(), 2).await?;
        let registry = Registry::new();
        let http_metrics = HttpMetrics::register(SERVICE, &registry)?;
        let metrics = ScraperMetrics::register(&registry)?;
        let verifier = Arc::new(settings.verifier.verifier(redis.clone())?);
        let relay = OutboxRelay::new(
            db.clone(),
            redis.clone(),
            OUTBOX_TABLE,
            SERVICE,
            &settings.events_stream,
        );
        let egress = Egress::new(settings.egress.policy());
        let pipeline = customize(Pipeline::new(db.clone(), metrics).with_egress(egress));
        let state = AppState {
            db: db.clone(),
            pipeline,
            verifier,
            relay,
            runs: TaskTracker::new(),
            stop: CancellationToken::new(),
        };
        let router = server::standard_router(
            routes::router().with_state(state.clone()),
            registry,
            vec![ReadinessCheck::postgres(db), ReadinessCheck::redis(redis)],
            &ApiDoc::openapi(),
            http_metrics,
        )?;
        let listener = server::bind(&settings.listen_addr).await?;
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    /// Build with the standard pipeline.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, |p| p).await
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown`; then cancel running scrapes (they end as
    /// `cancelled`), wait for them, and stop the relay.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(self.state.relay.clone().run(relay_stop.clone()));
        let db = self.state.db.clone();
        // Runs of a process that died are failed so they do not look alive forever.
        let reaper_stop = relay_stop.clone();
        let reaper = tokio::spawn(async move {
            loop {
                if let Err(e) = crate::store::runs::fail_stale(&db, 300).await {
                    tracing::debug!(error = %e, "stale run check failed");
                }
                tokio::select! {
                    () = reaper_stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            }
        });
        let result = server::serve(self.listener, self.router, shutdown).await;
        self.state.stop.cancel();
        self.state.runs.close();
        self.state.runs.wait().await;
        relay_stop.cancel();
        let _ = relay.await;
        let _ = reaper.await;
        result
    }
}

gleaner_common::impl_service!(Application, Settings);

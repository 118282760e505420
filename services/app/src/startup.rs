//! Building and running the application (tests start it on port 0).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::server::{self, ReadinessCheck};
use prometheus::Registry;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::events::EventConsumer;
use crate::jobs::JobBackend;
use crate::jobs::database::DatabaseJobs;
use crate::jobs::kube::KubeJobs;
use crate::jobs::scheduler::Scheduler;
use crate::routes::{self, ApiDoc};
use crate::scraper::ScraperClient;
use crate::service_auth::{ServiceCredentials, ServiceToken};
use crate::state::AppState;
use crate::webhooks::delivery::{DeliveryMetrics, DeliveryWorker};
use crate::webhooks::target;

/// Embedded migrations of the app database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/app");

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "app";

/// A built, not yet running, app service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    consumer: EventConsumer,
    scheduler: Option<Scheduler>,
    webhooks: DeliveryWorker,
    stop: CancellationToken,
}

impl Application {
    /// Build everything and bind the listener; fails on bad settings.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let credentials = match (&settings.identity_url, &settings.admin.password) {
            (Some(identity_url), Some(password)) => ServiceCredentials::Login {
                identity_url: identity_url.clone(),
                username: settings.admin.email.clone(),
                password: password.clone(),
            },
            _ => ServiceCredentials::None,
        };
        Self::build_with(settings, credentials, None).await
    }

    /// As `build`, with the credentials the app acts with on its own and, when given, the
    /// Kubernetes client to keep jobs with (tests give a token and a fake API server).
    pub async fn build_with(
        settings: Settings,
        credentials: ServiceCredentials,
        kube: Option<kube::Client>,
    ) -> anyhow::Result<Self> {
        let db = gleaner_common::db::lazy_pool(
            settings.database_url.expose_secret(),
            settings.database_max_connections,
        )?;
        let redis_url = settings.redis_url.expose_secret();
        let redis = gleaner_common::redis::connect(redis_url, 2).await?;
        // Stream reads block: they get a connection of their own.
        let stream_redis = gleaner_common::redis::connect(redis_url, 1).await?;
        let registry = Registry::new();
        let http_metrics = HttpMetrics::register(SERVICE, &registry)?;
        let webhook_metrics = DeliveryMetrics::register(&registry)?;
        let verifier = Arc::new(settings.verifier.verifier(redis.clone())?);
        let scraper = ScraperClient::new(&settings.scraper_url)?;
        let service = ServiceToken::new(credentials)?;
        let kube = match kube {
            Some(client) => Some(client),
            None if settings.uses_kubernetes() => Some(kube::Client::try_default().await.context(
                "APP_JOBS_BACKEND: no Kubernetes configuration (in-cluster or KUBECONFIG)",
            )?),
            None => None,
        };
        let scraper_egress = Arc::new(settings.scraper_egress());
        let (jobs, scheduler): (Arc<dyn JobBackend>, Option<Scheduler>) = match kube {
            Some(client) => {
                let namespace = settings
                    .scrapejobs_namespace
                    .clone()
                    .unwrap_or_else(|| client.default_namespace().to_owned());
                tracing::info!(%namespace, "scrape jobs are ScrapeJob resources");
                (
                    Arc::new(KubeJobs::new(client, &namespace, scraper_egress.clone())),
                    None,
                )
            }
            None => {
                let jobs = DatabaseJobs::new(db.clone(), scraper.clone(), scraper_egress.clone());
                let scheduler = Scheduler::new(
                    db.clone(),
                    jobs.clone(),
                    scraper.clone(),
                    service,
                    settings.scheduler_interval,
                );
                (Arc::new(jobs), Some(scheduler))
            }
        };
        let consumer = EventConsumer {
            db: db.clone(),
            redis: stream_redis,
            stream: settings.events_stream.clone(),
            group: settings.consumer_group.clone(),
            consumer: settings.consumer(),
            claim_idle: settings.claim_idle,
        };
        let webhook_egress = Arc::new(settings.webhooks.egress());
        let webhooks = DeliveryWorker::new(
            db.clone(),
            webhook_egress.clone(),
            target::client(webhook_egress.clone(), Arc::new(target::SystemResolver))
                .context("the webhook HTTP client")?,
            webhook_metrics,
            settings.webhooks.concurrency,
            settings.webhooks.poll_interval,
        );
        let state = AppState {
            db: db.clone(),
            jobs,
            scraper_egress,
            scraper: scraper.clone(),
            verifier,
            run_events_poll: settings.run_events_poll,
            webhook_egress,
        };
        let scraper_check = scraper.clone();
        let router = server::standard_router(
            routes::router().with_state(state.clone()),
            registry,
            vec![
                ReadinessCheck::postgres(db),
                ReadinessCheck::redis(redis),
                ReadinessCheck::new("scraper", move || {
                    let scraper = scraper_check.clone();
                    async move { scraper.ready().await }
                }),
            ],
            &ApiDoc::openapi(),
            http_metrics,
        )?;
        let listener = server::bind(&settings.listen_addr).await?;
        Ok(Self {
            listener,
            router,
            state,
            consumer,
            scheduler,
            webhooks,
            stop: CancellationToken::new(),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Shared state (tests reach into it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The scheduler of the database backend (tests run its rounds at chosen times).
    pub fn scheduler(&self) -> Option<&Scheduler> {
        self.scheduler.as_ref()
    }

    /// The webhook delivery worker (tests run more of them, or single attempts).
    pub fn webhooks(&self) -> &DeliveryWorker {
        &self.webhooks
    }

    /// Serve until `shutdown` resolves, then drain requests and stop background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let consumer = tokio::spawn(self.consumer.run(self.stop.clone()));
        let scheduler = self
            .scheduler
            .map(|s| tokio::spawn(s.run(self.stop.clone())));
        let webhooks = tokio::spawn(self.webhooks.run(self.stop.clone()));
        let result = server::serve(self.listener, self.router, shutdown).await;
        self.stop.cancel();
        let _ = consumer.await;
        let _ = webhooks.await;
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        result
    }
}

gleaner_common::impl_service!(Application, Settings);

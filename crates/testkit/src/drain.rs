//! The rolling-update check every service's drain test makes, step by step:
//! a service binary started with a short shutdown delay and waited on until it
//! is ready; requests written to it whole ([`InFlight`]); SIGTERM; `/ready`
//! turning 503 naming `shutdown` while it drains; its port closing to new
//! connections; then every in-flight request's response. What is specific to a
//! service (its settings, the requests, the statuses and rows it must end with)
//! stays in its test.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::task::JoinHandle;

use crate::{FaultProxy, InFlight, ServiceProcess, eventually, fresh_database};

/// What a drain test adds to a service's own settings: a shutdown delay long
/// enough that a loaded machine still sees `/ready` at 503 before the port
/// closes, and no trace export.
const DRAIN_ENV: [(&str, &str); 2] = [("SHUTDOWN_DELAY", "3s"), ("OTEL_SDK_DISABLED", "true")];
/// How long a started service has to report itself ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after SIGTERM `/ready` may take to turn 503.
const UNREADY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after SIGTERM the port may take to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh database with a service's migrations applied, which the service
/// reaches through a fault proxy (so a test can slow it down and keep requests
/// in flight) while the test reads it directly.
pub struct ProxiedDatabase {
    /// A pool straight to the database, for the test's own reads.
    pub pool: PgPool,
    /// The proxy between the service and the database.
    pub proxy: FaultProxy,
    /// The database's URL through the proxy: the service's `DATABASE_URL`.
    pub url: String,
}

impl ProxiedDatabase {
    /// Create the database, run `migrator` on it and put a proxy in front.
    pub async fn start(migrator: &Migrator) -> anyhow::Result<Self> {
        let db = fresh_database().await?;
        let pool = PgPool::connect(&db.url)
            .await
            .context("connecting to the test database")?;
        migrator
            .run(&pool)
            .await
            .context("migrating the test database")?;
        let (proxy, url) = FaultProxy::in_front_of(&db.url).await?;
        Ok(Self { pool, proxy, url })
    }
}

impl ServiceProcess {
    /// [`ServiceProcess::start`] for a drain test: `env` plus a 3 s shutdown
    /// delay and no trace export, and it returns once `/ready` says ready.
    pub async fn start_ready_to_drain(
        binary: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut env = env.to_vec();
        env.extend(DRAIN_ENV.map(|(name, value)| (name, value.to_owned())));
        let service = Self::start(binary, args, &env).await?;
        service.wait_ready().await?;
        Ok(service)
    }

    /// Wait until `/ready` answers 200 with `"status": "ready"` (every
    /// dependency up, none degraded).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/ready", self.base());
        eventually(READY_TIMEOUT, || async {
            let r = http.get(&url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            let body: Value = r.json().await.ok()?;
            (body["status"] == "ready").then_some(())
        })
        .await
        .context("the service did not become ready")
    }

    /// Send SIGTERM with `in_flight` requests already written, and follow the
    /// drain: `/ready` turns 503 naming `shutdown` (so load balancers stop
    /// sending here), then the port refuses new connections. The in-flight
    /// responses are read meanwhile; [`Draining::statuses`] has them.
    pub async fn sigterm_with_in_flight(
        &self,
        in_flight: Vec<InFlight>,
    ) -> anyhow::Result<Draining> {
        let responses = tokio::spawn(futures::future::join_all(
            in_flight.into_iter().map(InFlight::response),
        ));
        self.sigterm().await?;
        let http = reqwest::Client::new();
        let url = format!("{}/ready", self.base());
        let ready: Value = eventually(UNREADY_TIMEOUT, || async {
            let r = http.get(&url).send().await.ok()?;
            (r.status() == 503).then_some(())?;
            r.json().await.ok()
        })
        .await
        .context("/ready did not turn 503 on SIGTERM")?;
        if ready["checks"]["shutdown"] != "unavailable" {
            bail!("/ready is 503 on SIGTERM but does not name the shutdown: {ready}");
        }
        eventually(CLOSE_TIMEOUT, || async {
            self.refuses_connections().await.then_some(())
        })
        .await
        .context("new connections were still accepted after the drain")?;
        Ok(Draining { responses })
    }
}

/// The responses of the requests in flight at SIGTERM, still arriving.
pub struct Draining {
    responses: JoinHandle<Vec<anyhow::Result<(u16, String)>>>,
}

impl Draining {
    /// Every in-flight request's status code, in the order they were sent;
    /// an error names the first request that got no response (was dropped).
    pub async fn statuses(self) -> anyhow::Result<Vec<u16>> {
        let responses = self.responses.await.context("reading the responses")?;
        responses
            .into_iter()
            .enumerate()
            .map(|(i, response)| {
                response
                    .map(|(status, _body)| status)
                    .with_context(|| format!("in-flight request {i} got no response"))
            })
            .collect()
    }
}

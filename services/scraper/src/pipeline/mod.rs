//! A run: Extract each document politely, Load it raw, then Transform it.
//! Also the re-transform of stored documents, with no fetching.
//!
//! What to fetch and how to read it comes from the run's [`Source`]; the pipeline
//! itself knows no site.
//!
//! A sharded run (`scraper run --shard i/N`, or the pods of an Indexed Job) is N
//! processes with one run id. Which targets a shard takes is decided only by
//! [`Shard::owns_page`] and [`Shard::owns_idno`]: shard `i` fetches list pages `from + i`,
//! `from + i + N`, ... and scrapes every company they list, except a company also named
//! in `targets.idnos`, which is skipped on the list page and scraped by the shard that
//! owns its IDNO's hash (whatever page lists it). So every company is scraped once, by
//! one shard. All shards count their requests to a host against one limit
//! ([`crate::limit`]) and their work into their own row of the run ([`crate::run`]).

mod extract;
mod transform;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::Pool;
use gleaner_scrapejob::Shard;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::egress::Egress;
use crate::fetch::{Fetcher, Politeness};
use crate::limit::HostLimiter;
use crate::metrics::ScraperMetrics;
use crate::run::{Ending, NewRun, Run};
use crate::source::{Source, SourceName, Sources};
use crate::spec::RunSpec;
use extract::Scrape;

/// The summary of a finished run (stdout and `/dev/termination-log` of `scraper run`).
pub use gleaner_scrapejob::RunSummary;

/// Runs scrapes and transforms against one database.
#[derive(Clone)]
pub struct Pipeline {
    db: PgPool,
    metrics: ScraperMetrics,
    sources: Sources,
    /// Base of retry backoff (tests shorten it).
    min_backoff: Duration,
    /// Time limit of one request (tests shorten it).
    request_timeout: Duration,
    /// Where runs may connect.
    egress: Egress,
    /// Where the shards of a run share their per-host rate limit.
    redis: Option<Pool>,
}

impl Pipeline {
    /// A pipeline with the built-in sources and the default egress policy.
    pub fn new(db: PgPool, metrics: ScraperMetrics) -> Self {
        Self {
            db,
            metrics,
            sources: Sources::builtin(),
            min_backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
            egress: Egress::default(),
            redis: None,
        }
    }

    /// Share each run's per-host rate limit through `redis` (with every other process
    /// running a shard of the same run).
    pub fn with_redis(mut self, redis: Pool) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Connect only where `egress` allows.
    pub fn with_egress(mut self, egress: Egress) -> Self {
        self.egress = egress;
        self
    }

    /// Where runs may connect (specs are checked against it when accepted).
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// Read specs naming `name` with `adapter` (tests: another site, older or broken parsers).
    pub fn with_source(mut self, name: SourceName, adapter: Arc<dyn Source>) -> Self {
        self.sources.register(name, adapter);
        self
    }

    /// Shorter retry backoff (tests).
    pub fn with_min_backoff(mut self, d: Duration) -> Self {
        self.min_backoff = d;
        self
    }

    /// Shorter time limit per request (tests).
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Run a scrape to the end. A run id that exists is resumed.
    pub async fn scrape(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        self.scrape_shard(run_id, job, spec, Shard::WHOLE, cancel)
            .await
    }

    /// Run one shard of a scrape to the end; the summary is this shard's. A run id
    /// that exists is resumed (the shard skips what it finished before).
    pub async fn scrape_shard(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        shard: Shard,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("scrape.run", run_id = %run_id, job = %job, shard = %shard, trace_id = tracing::field::Empty);
        let (trace_id, _) = gleaner_common::telemetry::trace_ids(&span);
        span.record("trace_id", trace_id.as_str());
        // Boxed: the future of a whole run is deep.
        Box::pin(self.scrape_in_span(run_id, job, spec, shard, cancel))
            .instrument(span)
            .await
    }

    /// The per-host limit of one shard of `run_id`.
    fn host_limiter(
        &self,
        run_id: Uuid,
        spec: &RunSpec,
        shard: Shard,
    ) -> anyhow::Result<Option<HostLimiter>> {
        let rate = spec.requests_per_second;
        let source = spec.source.as_str();
        let metrics = self.metrics.clone();
        let limiter = match &self.redis {
            Some(redis) => Some(HostLimiter::shared(
                redis.clone(),
                run_id,
                rate,
                shard.count(),
                metrics,
                source,
            )),
            None if !shard.is_whole() => {
                Some(HostLimiter::local(rate, shard.count(), metrics, source))
            }
            None => None,
        };
        limiter
            .transpose()
            .map_err(|e| anyhow::anyhow!("requestsPerSecond: {e}"))
    }

    async fn scrape_in_span(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        shard: Shard,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let source = self.sources.get(spec.source)?;
        let mut fetcher = Fetcher::new(
            Politeness {
                concurrency: spec.concurrency as usize,
                requests_per_second: spec.requests_per_second,
                max_retries: spec.max_retries,
                respect_robots_txt: spec.respect_robots_txt,
                request_timeout: self.request_timeout,
                min_backoff: self.min_backoff,
            },
            &self.egress,
            self.metrics.clone(),
            spec.source.as_str(),
        )?;
        if let Some(limiter) = self.host_limiter(run_id, spec, shard)? {
            fetcher = fetcher.with_limiter(Arc::new(limiter));
        }
        let new = NewRun::scrape(run_id, job, spec)?;
        let run = Run::start(&self.db, &self.metrics, new, shard).await?;
        if run.succeeded_before() {
            // Its counts stand; it fetches nothing again (what it finished is no longer
            // listed once the run has succeeded).
            tracing::info!("this shard of the run succeeded before; nothing to do");
            return Ok(run.finish(Ending::Completed).await);
        }
        let scrape = Scrape {
            run: &run,
            source: source.as_ref(),
            fetcher: &fetcher,
            spec,
        };
        let work = self.scrape_targets(&scrape);
        let ending = tokio::select! {
            r = tokio::time::timeout(spec.timeout(), work) => match r {
                Ok(Ok(())) => Ending::Completed,
                Ok(Err(e)) => Ending::Aborted(format!("the database failed: {e}")),
                Err(_) => Ending::Aborted(format!("timed out after {}s", spec.timeout_seconds)),
            },
            () = cancel.cancelled() => Ending::Cancelled,
        };
        Ok(run.finish(ending).await)
    }

    /// Re-run the transform of `source` over stored documents (the newest copy of each
    /// URL, optionally fetched since `since` or of one company). No fetching.
    pub async fn retransform(
        &self,
        run_id: Uuid,
        source: SourceName,
        since: Option<DateTime<Utc>>,
        idno: Option<&str>,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("transform.run", run_id = %run_id);
        async {
            let adapter = self.sources.get(source)?;
            let new = NewRun::transform(run_id, source, since, idno);
            let run = Run::start(&self.db, &self.metrics, new, Shard::WHOLE).await?;
            let ending = match self
                .transform_all(&run, adapter.as_ref(), since, idno)
                .await
            {
                Ok(()) => Ending::Completed,
                Err(e) => Ending::Aborted(format!("the database failed: {e}")),
            };
            Ok(run.finish(ending).await)
        }
        .instrument(span)
        .await
    }
}

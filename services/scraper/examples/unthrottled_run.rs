//! One run against a local site with the politeness limits lifted, to measure what the
//! pipeline itself can do (`scripts/bench-scraper.sh`). A ScrapeJob spec caps
//! `requestsPerSecond`; this benchmark driver is the one place that runs past the cap, and
//! only towards loopback.
//!
//! Environment: `DATABASE_URL`, `SCRAPEJOB_SPEC` (its `requestsPerSecond` is ignored),
//! `TERMINATION_LOG` (where the summary goes). For one shard of a run, as
//! `scripts/bench-scale.sh` starts them: `JOB_COMPLETION_INDEX` and `SCRAPE_SHARDS`, and the
//! same `SCRAPE_RUN_ID` (a UUID) in every shard.

use anyhow::Context as _;
use gleaner_scrapejob::{Shard, env};
use gleaner_scraper::egress::{Egress, EgressSettings};
use gleaner_scraper::metrics::ScraperMetrics;
use gleaner_scraper::pipeline::Pipeline;
use gleaner_scraper::spec::{RunSpec, field_errors};
use gleaner_scraper::startup::MIGRATOR;
use tokio_util::sync::CancellationToken;

/// Far above what two cores can fetch, parse and store: no pacing at all in practice.
const UNLIMITED_REQUESTS_PER_SECOND: f64 = 1_000_000.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let spec_json = std::env::var(env::SCRAPEJOB_SPEC).context("SCRAPEJOB_SPEC")?;
    let mut spec: RunSpec = serde_json::from_str(&spec_json).context("SCRAPEJOB_SPEC")?;
    let errors = field_errors(&spec);
    anyhow::ensure!(errors.is_empty(), "SCRAPEJOB_SPEC is invalid: {errors:?}");
    spec.requests_per_second = UNLIMITED_REQUESTS_PER_SECOND;
    let db_url = std::env::var(env::DATABASE_URL).context("DATABASE_URL")?;
    let db = gleaner_common::db::lazy_pool(&db_url, (spec.concurrency + 2).min(32))?;
    MIGRATOR.run(&db).await.context("cannot migrate")?;
    let pipeline = Pipeline::new(db, ScraperMetrics::unregistered())
        .with_egress(Egress::new(EgressSettings::local().policy()));
    let var = |name: &str| std::env::var(name).ok();
    let shard = Shard::from_env_values(
        var(env::JOB_COMPLETION_INDEX).as_deref(),
        var(env::SCRAPE_SHARDS).as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("shard: {e}"))?;
    let run_id = match var(env::SCRAPE_RUN_ID) {
        Some(id) => uuid::Uuid::parse_str(&id).context("SCRAPE_RUN_ID is not a UUID")?,
        None if shard.is_whole() => uuid::Uuid::new_v4(),
        None => anyhow::bail!("the shards of a run need the same SCRAPE_RUN_ID"),
    };
    let summary = pipeline
        .scrape_shard(run_id, "bench", &spec, shard, CancellationToken::new())
        .await?;
    let line = summary.to_line();
    println!("{line}");
    let path = std::env::var(env::TERMINATION_LOG).unwrap_or_else(|_| "summary.json".into());
    std::fs::write(&path, &line).with_context(|| format!("cannot write {path}"))?;
    std::process::exit(summary.status.exit_code());
}

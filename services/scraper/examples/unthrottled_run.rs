//! One run against a local site with the politeness limits lifted, to measure what the
//! pipeline itself can do (`scripts/bench-scraper.sh`). A ScrapeJob spec caps
//! `requestsPerSecond`; this benchmark driver is the one place that runs past the cap, and
//! only towards loopback.
//!
//! Environment: `DATABASE_URL`, `SCRAPEJOB_SPEC` (its `requestsPerSecond` is ignored),
//! `TERMINATION_LOG` (where the summary goes).

use anyhow::Context as _;
use gleaner_scrapejob::env;
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
    let summary = pipeline
        .scrape(
            uuid::Uuid::new_v4(),
            "bench",
            &spec,
            CancellationToken::new(),
        )
        .await?;
    let line = summary.to_line();
    println!("{line}");
    let path = std::env::var(env::TERMINATION_LOG).unwrap_or_else(|_| "summary.json".into());
    std::fs::write(&path, &line).with_context(|| format!("cannot write {path}"))?;
    std::process::exit(summary.status.exit_code());
}

//! Re-transform every stored document of the openmoney source, as `POST /api/v1/transform`
//! does, without the HTTP service around it (`scripts/bench-scale.sh` times it and samples
//! its memory while it runs).
//!
//! Environment: `DATABASE_URL`; the summary is printed as one JSON line.

use anyhow::Context as _;
use gleaner_scrapejob::env;
use gleaner_scraper::metrics::ScraperMetrics;
use gleaner_scraper::pipeline::Pipeline;
use gleaner_scraper::source::SourceName;
use gleaner_scraper::startup::MIGRATOR;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let db_url = std::env::var(env::DATABASE_URL).context("DATABASE_URL")?;
    let db = gleaner_common::db::lazy_pool(&db_url, 4)?;
    MIGRATOR.run(&db).await.context("cannot migrate")?;
    let summary = Pipeline::new(db, ScraperMetrics::unregistered())
        .retransform(uuid::Uuid::new_v4(), SourceName::Openmoney, None, None)
        .await?;
    println!("{}", summary.to_line());
    std::process::exit(summary.status.exit_code());
}

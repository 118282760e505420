//! `scraper`: serve the companies API, run one scrape (a Kubernetes Job), or migrate.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gleaner_common::server::run_service;
use gleaner_common::settings::MigrateSettings;
use gleaner_common::telemetry;
use gleaner_scraper::config::{RunSettings, Settings};
use gleaner_scraper::egress::Egress;
use gleaner_scraper::metrics::ScraperMetrics;
use gleaner_scraper::pipeline::Pipeline;
use gleaner_scraper::spec::RunSpec;
use gleaner_scraper::startup::{Application, MIGRATOR, SERVICE};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "scraper", version, about = "Gleaner scraper service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<Settings>),
    /// Run one scrape to the end and exit (0 when it succeeded).
    Run(Box<RunSettings>),
    /// Apply database migrations and exit.
    Migrate(MigrateSettings),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(settings) => {
            run_service::<Application>(SERVICE, settings.log, *settings).await?
        }
        Command::Run(settings) => {
            let _guard = telemetry::init(SERVICE, settings.log.log_format)?;
            std::process::exit(run(*settings).await?);
        }
        Command::Migrate(settings) => settings.run(SERVICE, &MIGRATOR).await?,
    }
    Ok(())
}

/// How long a run waits for Redis at the start.
const REDIS_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// One run (or one shard of it), as a Kubernetes Job runs it; returns the exit code.
async fn run(settings: RunSettings) -> anyhow::Result<i32> {
    let spec: RunSpec =
        serde_json::from_str(&settings.spec).context("SCRAPEJOB_SPEC is not a valid spec")?;
    let mut errors = gleaner_scraper::spec::field_errors(&spec);
    let egress = Egress::new(settings.egress.policy());
    egress.check_spec(&spec, &mut errors);
    if !errors.is_empty() {
        let list: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        anyhow::bail!("SCRAPEJOB_SPEC is invalid: {}", list.join("; "));
    }
    let shard = settings
        .shard()
        .map_err(|e| anyhow::anyhow!("shard: {e}"))?;
    if spec.shards > 1 && spec.shards != shard.count() {
        anyhow::bail!(
            "spec.shards is {} but this process is shard {shard} (set --shard i/{} or SCRAPE_SHARDS={})",
            spec.shards,
            spec.shards,
            spec.shards
        );
    }
    let run_id = match settings.run_id.as_deref() {
        Some(id) => run_id_from(id)?,
        None if shard.is_whole() => uuid::Uuid::new_v4(),
        None => anyhow::bail!(
            "shard {shard}: the shards of a run need the same SCRAPE_RUN_ID (or --run-id)"
        ),
    };
    let db = gleaner_common::db::lazy_pool(
        settings.database_url.expose_secret(),
        (spec.concurrency + 2).min(32),
    )?;
    MIGRATOR
        .run(&db)
        .await
        .context("DATABASE_URL: cannot reach or migrate the database")?;
    let mut pipeline = Pipeline::new(db, ScraperMetrics::unregistered()).with_egress(egress);
    if let Some(url) = &settings.redis_url {
        let redis = gleaner_common::redis::connect(url.expose_secret(), 2).await?;
        // Shards share the limit from the first request when Redis answers in time;
        // until it does, this shard keeps to its share of the rate.
        use fred::interfaces::ClientLike as _;
        if tokio::time::timeout(REDIS_CONNECT_WAIT, redis.wait_for_connect())
            .await
            .is_err()
        {
            tracing::warn!(
                "REDIS_URL: Redis does not answer yet; limiting requests in memory until it does"
            );
        }
        pipeline = pipeline.with_redis(redis);
    }
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        gleaner_common::server::shutdown_signal().await;
        on_signal.cancel();
    });
    let span = tracing::info_span!("scraper.job", job = %settings.job);
    if let Some(tp) = &settings.traceparent {
        telemetry::set_parent_from_traceparent(&span, tp);
    }
    let summary = {
        use tracing::Instrument;
        pipeline
            .scrape_shard(run_id, &settings.job, &spec, shard, cancel)
            .instrument(span)
            .await?
    };
    let line = summary.to_line();
    println!("{line}");
    if let Err(e) = std::fs::write(&settings.termination_log, &line) {
        tracing::debug!(path = %settings.termination_log.display(), error = %e, "no termination log written");
    }
    Ok(summary.status.exit_code())
}

/// The operator's run ids are short hex; any string maps to a stable UUID.
fn run_id_from(id: &str) -> anyhow::Result<uuid::Uuid> {
    if let Ok(u) = uuid::Uuid::parse_str(id) {
        return Ok(u);
    }
    anyhow::ensure!(
        !id.is_empty() && id.len() <= 64,
        "SCRAPE_RUN_ID must be 1 to 64 characters"
    );
    Ok(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("gleaner:run:{id}").as_bytes(),
    ))
}

//! `demo-site`: serve the generated openmoney stand-in.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use gleaner_demo_site::{DEFAULT_ROBOTS_TXT, DemoConfig, DemoControl, serve};
use gleaner_telemetry::settings::env;
use gleaner_telemetry::{LogSettings, shutdown_signal};
use tokio::net::TcpListener;

/// Offline stand-in for openmoney.md (JSON API and HTML pages from generated data).
#[derive(Debug, Parser)]
#[command(name = "demo-site", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Number of generated companies.
    #[arg(long, env = "DEMO_COMPANIES", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    companies: u64,
    /// Seed of the generated data.
    #[arg(long, env = "DEMO_SEED", default_value_t = 42)]
    seed: u64,
    /// Body of /robots.txt.
    #[arg(long, env = "DEMO_ROBOTS_TXT", default_value = DEFAULT_ROBOTS_TXT)]
    robots_txt: String,
    /// Log settings.
    #[command(flatten)]
    log: LogSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = gleaner_telemetry::init("demo-site", args.log.log_format)?;
    let config = DemoConfig {
        seed: args.seed,
        companies: usize::try_from(args.companies).context("DEMO_COMPANIES")?,
        robots_txt: args.robots_txt,
        listen: args.listen,
    };
    let control = DemoControl::new(&config);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding LISTEN_ADDR {}", config.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        companies = config.companies,
        seed = config.seed,
        "demo site listening"
    );
    serve(listener, control, shutdown_signal()).await?;
    tracing::info!("demo site stopped");
    Ok(())
}

//! `gateway`: serve Gleaner's single entry point.

use clap::Parser;
use gleaner_common::server::run_service;
use gleaner_gateway::config::Settings;
use gleaner_gateway::startup::{Application, SERVICE};

#[derive(Parser)]
#[command(name = "gateway", version, about = "Gleaner gateway")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let settings = Cli::parse().settings;
    run_service::<Application>(SERVICE, settings.log, settings).await
}

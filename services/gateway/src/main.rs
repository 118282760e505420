//! `gateway`: serve Gleaner's single entry point.

use clap::Parser;
use gleaner_common::telemetry;
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
    let _guard = telemetry::init(SERVICE, settings.log_format)?;
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot start");
            return Err(e);
        }
    };
    tracing::info!(port = app.port(), "gateway listening");
    app.run_until_stopped(gleaner_common::server::shutdown_signal())
        .await?;
    tracing::info!("gateway stopped");
    Ok(())
}

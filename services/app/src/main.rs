//! `app`: serve the app API, or run migrations.

use clap::{Parser, Subcommand};
use gleaner_app::config::Settings;
use gleaner_app::startup::{Application, MIGRATOR, SERVICE};
use gleaner_common::server::run_service;
use gleaner_common::settings::MigrateSettings;

#[derive(Parser)]
#[command(name = "app", version, about = "Gleaner app service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API, the scheduler and the event consumer.
    Serve(Box<Settings>),
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
        Command::Migrate(settings) => settings.run(SERVICE, &MIGRATOR).await?,
    }
    Ok(())
}

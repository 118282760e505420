//! `app`: serve the app API, or run migrations.

use clap::{Parser, Subcommand};
use gleaner_app::config::Settings;
use gleaner_app::startup::{Application, MIGRATOR, SERVICE};
use gleaner_common::telemetry;
use secrecy::{ExposeSecret, SecretString};

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
    Migrate {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: SecretString,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(settings) => {
            let _guard = telemetry::init(SERVICE, settings.log_format)?;
            let app = match Application::build(*settings).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot start");
                    return Err(e);
                }
            };
            tracing::info!(port = app.port(), "app listening");
            app.run_until_stopped(gleaner_common::server::shutdown_signal())
                .await?;
            tracing::info!("app stopped");
        }
        Command::Migrate { database_url } => {
            gleaner_common::db::migrate(database_url.expose_secret(), &MIGRATOR).await?;
            println!("app database migrated");
        }
    }
    Ok(())
}

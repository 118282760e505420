//! `identity`: serve the identity API, run migrations, or create a signing key.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gleaner_common::server::run_service;
use gleaner_common::settings::MigrateSettings;
use gleaner_identity::config::Settings;
use gleaner_identity::keys::{generate_dev_key_pem, generate_key_pem};
use gleaner_identity::startup::{Application, MIGRATOR, SERVICE};

#[derive(Parser)]
#[command(name = "identity", version, about = "Gleaner identity service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<Settings>),
    /// Apply database migrations and exit.
    Migrate(MigrateSettings),
    /// Write a new Ed25519 signing key (PKCS#8 PEM), marked as a development key unless
    /// `--production`.
    Keygen {
        /// Where to write the key (mode 0600); an existing file is kept.
        #[arg(long)]
        out: PathBuf,
        /// Write a key without the development marker (the chart's key hook uses this).
        #[arg(long)]
        production: bool,
    },
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
        Command::Keygen { out, production } => {
            if out.exists() {
                println!("{} exists; keeping it", out.display());
                return Ok(());
            }
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let pem = if production {
                generate_key_pem()?
            } else {
                generate_dev_key_pem()?
            };
            write_private(&out, pem.as_bytes())?;
            println!("wrote a new signing key to {}", out.display());
        }
    }
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

//! The project's dev tooling, `cargo xtask <task>` (the make targets call it):
//!
//! - `up`: PostgreSQL, Redis, every service and the demo site in the background
//!   (`make up`; `make down` stops them);
//! - `with-test-deps CMD...`: CMD with a throwaway PostgreSQL in `TEST_DATABASE_URL`
//!   (`make unit-test`);
//! - `api-fuzz`: schemathesis against every documented API (`make api-fuzz`);
//! - `load`: a load run through the gateway, and the memory after it (`make load`, `make soak`);
//! - `image-test`: every image run as the chart runs it (`make image-test`).
//!
//! Every task starts the stack from `gleaner-stack`, the one description of how it is
//! wired. Installing OS packages stays in `scripts/` (bash is the tool for that).

// A command-line tool: its progress goes to stderr, its results to stdout.
#![allow(clippy::print_stderr)]

mod fuzz;
mod images;
mod load;
mod local;
mod process;
mod test_deps;
mod throwaway;
mod up;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Gleaner's dev tooling"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Start PostgreSQL, Redis, every service and the demo site in the background.
    Up,
    /// Run a command with a throwaway PostgreSQL whose admin URL is in TEST_DATABASE_URL.
    WithTestDeps {
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// schemathesis against every service's documented API, directly and through the gateway.
    ApiFuzz,
    /// Connections through the gateway, then the memory after a minute idle.
    Load,
    /// Every image run as the chart runs it: /health, no shell, a scrape run.
    ImageTest,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    gleaner_common::install_crypto_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.task {
            Task::Up => up::run().await.map(|()| ExitCode::SUCCESS),
            Task::WithTestDeps { command } => test_deps::run(&command).await,
            Task::ApiFuzz => fuzz::run().await.map(|()| ExitCode::SUCCESS),
            Task::Load => load::run().await.map(|()| ExitCode::SUCCESS),
            Task::ImageTest => images::run().await.map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A step of a task, as the scripts print it: `==> what`.
macro_rules! step {
    ($($arg:tt)*) => {
        eprintln!("\x1b[1m==>\x1b[0m {}", format!($($arg)*))
    };
}
pub(crate) use step;

/// The workspace root (this crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The build directory (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// An environment setting, or `default`.
pub fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A numeric environment setting, or `default`.
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v} is not a number")),
        _ => Ok(default),
    }
}

/// A random password: 24 URL-safe characters (144 bits).
pub fn secret() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

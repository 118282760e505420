//! `cargo xtask with-test-deps CMD...` (`scripts/with-test-deps.sh`, `make unit-test`): CMD
//! with a throwaway PostgreSQL (random port) whose admin URL is in `TEST_DATABASE_URL`.
//! Tests create a fresh database each and start their own redis-server processes. The
//! server and its data are removed afterwards, also when CMD is interrupted.

use std::process::ExitCode;

use anyhow::Context as _;
use tokio::process::Command;

use crate::{step, throwaway};

/// Run `command` with the test PostgreSQL; its exit code is ours.
pub async fn run(command: &[String]) -> anyhow::Result<ExitCode> {
    let (program, args) = command.split_first().context("no command to run")?;
    let pg = throwaway::postgres(&[]).await?;
    step!("test PostgreSQL on port {}", pg.port);
    let mut child = Command::new(program)
        .args(args)
        .env(gleaner_testkit::TEST_DATABASE_URL, pg.url())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    // Ctrl-C reaches the command too: wait for it to end, then remove the server.
    let status = tokio::select! {
        status = child.wait() => status?,
        _ = tokio::signal::ctrl_c() => child.wait().await?,
    };
    if !status.success() {
        // A failure may be the server's (a crash, a full disk): its log says so.
        eprintln!(
            "--- the test PostgreSQL's log, last lines ---\n{}\n---",
            pg.log_tail(40)
        );
    }
    drop(pg);
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(ExitCode::from(code))
}

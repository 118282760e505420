//! Processes the tasks run: OS packages (through the bash installer), cargo builds,
//! one-off commands of a service binary, and services run for the length of a task.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gleaner_stack::{Service, Wiring};
use tokio::process::{Child, Command};

use crate::root;

/// Install the Debian packages of `names` that are missing (`scripts/install-packages.sh`).
pub fn ensure_packages(names: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new(root().join("scripts/install-packages.sh"))
        .args(names)
        .status()
        .context("running scripts/install-packages.sh")?;
    if !status.success() {
        bail!("installing {} failed ({status})", names.join(" "));
    }
    Ok(())
}

/// `cargo build --quiet [--release] --bins -p PACKAGE... EXTRA...` in the workspace.
pub fn cargo_build(release: bool, services: &[Service], extra: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root()).args(["build", "--quiet", "--bins"]);
    if release {
        cmd.arg("--release");
    }
    for s in services {
        cmd.args(["-p", s.package()]);
    }
    let status = cmd.args(extra).status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(())
}

/// Run `bin/name args...` with `env` added, to its end; fail with its stderr.
pub fn run_once(
    bin: &Path,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let output = std::process::Command::new(bin.join(name))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {name} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{name} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The last `n` lines of a file (for a failure message).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Poll `url` until it answers 2xx, at most `timeout`.
pub async fn answers(url: &str, timeout: Duration) -> bool {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).timeout(Duration::from_secs(5)).send().await
            && r.status().is_success()
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        // Poll interval while a process starts.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A service started for the length of a task, killed when dropped.
pub struct Running {
    child: Child,
}

impl Running {
    /// Start `service` of `wiring` from `bin`, its settings as the wiring says plus `extra`,
    /// its output into `logs/NAME.log`.
    pub fn start(
        bin: &Path,
        wiring: &Wiring,
        service: Service,
        extra: &[(&str, &str)],
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let name = service.name();
        let log = logs.join(format!("{name}.log"));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut env = wiring.env(service);
        env.extend(extra.iter().copied());
        let child = Command::new(bin.join(name))
            .args(service.serve_args())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { child })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Wait until each of `services` of `wiring` is ready; fail with the log of the first
/// that is not.
pub async fn wait_ready(
    wiring: &Wiring,
    services: &[Service],
    logs: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    for &service in services {
        let url = format!("{}{}", wiring.url(service), service.ready_path());
        if !answers(&url, timeout).await {
            let log = logs.join(format!("{}.log", service.name()));
            bail!(
                "{} did not become ready; see {}:\n{}",
                service.name(),
                log.display(),
                tail(&log, 20)
            );
        }
    }
    Ok(())
}

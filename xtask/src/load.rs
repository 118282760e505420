//! `cargo xtask load` (`make load`, `make soak`): a load run through the gateway, and the
//! memory that comes back after it (method and last results in docs/benchmarks.md).
//!
//! Release builds of the services on a throwaway PostgreSQL and Redis, wired as
//! `gleaner-stack`'s `Tuning::load` says; companies from a scrape of the demo site; users
//! registered and their tokens minted. Then wrk (benches/load.lua) drives a mix of public
//! and authenticated routes through the gateway with its rate limits on: LOAD_CONNECTIONS
//! (1024) connections for LOAD_DURATION (60) seconds. It prints requests/s, latency
//! percentiles, statuses per route, the rate-limit arithmetic per key, and the resident
//! memory of every service after start, after the run and after LOAD_IDLE_SECONDS (60) of
//! idleness. It fails on any 5xx or socket error, on a 429 to a key under its quota, on a
//! key allowed more than its quota, when a service's idle RSS is above twice its
//! after-start RSS, and (a soak, 5 minutes or more) when memory grows under steady load.
//! `LOAD_BIN_DIR` runs the binaries there instead of building release ones.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use gleaner_stack::{Admin, Demo, Service, Tuning};
use serde_json::json;

use crate::process::{Running, cargo_build, ensure_packages, tail, wait_ready};
use crate::throwaway::Platform;
use crate::up::Api;
use crate::{number, root, setting, step, target_dir};

mod report;

/// One memory sample: per service, (RSS KiB, peak KiB, open connections, threads).
type Row = (String, BTreeMap<&'static str, [u64; 4]>);

/// The services under load, for sampling.
#[derive(Clone)]
struct Probe(Vec<(&'static str, u32, u16)>);

impl Probe {
    fn sample(&self, label: &str, rows: &Mutex<Vec<Row>>) {
        let mut cells = BTreeMap::new();
        for &(name, pid, port) in &self.0 {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let connections = std::process::Command::new("ss")
                .args([
                    "-Htn",
                    "state",
                    "established",
                    &format!("( sport = :{port} )"),
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().count() as u64)
                .unwrap_or(0);
            let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|d| d.count() as u64)
                .unwrap_or(0);
            cells.insert(
                name,
                [field("VmRSS:"), field("VmHWM:"), connections, threads],
            );
        }
        if let Ok(mut rows) = rows.lock() {
            rows.push((label.to_owned(), cells));
        }
    }
}

/// The run's settings (environment), see the module documentation.
pub struct Settings {
    pub connections: u32,
    pub duration: u64,
    pub idle: u64,
    pub rate: u32,
    pub burst: u32,
    pub users: u32,
    pub addresses: u32,
}

/// The load run; see the module documentation.
pub async fn run() -> anyhow::Result<()> {
    ensure_packages(&["postgresql", "redis-server", "wrk", "iproute2"])?;
    let s = Settings {
        connections: number("LOAD_CONNECTIONS", 1024)?,
        duration: number("LOAD_DURATION", 60)?,
        idle: number("LOAD_IDLE_SECONDS", 60)?,
        rate: number("LOAD_RATE_LIMIT_PER_SECOND", 10)?,
        burst: number("LOAD_RATE_LIMIT_BURST", 20)?,
        users: number("LOAD_USERS", 256)?,
        addresses: number("LOAD_ADDRESSES", 512)?,
    };
    let delay_ms: u64 = number("LOAD_DELAY_MS", 0)?;
    let sample_seconds: u64 = number("LOAD_SAMPLE_SECONDS", 30)?;
    let threads = number("LOAD_THREADS", 2u32)?.min(s.connections).max(1);
    let all: Vec<Service> = Service::PLATFORM
        .into_iter()
        .chain([Service::DemoSite])
        .collect();
    let bin = match std::env::var("LOAD_BIN_DIR") {
        Ok(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => {
            if setting("LOAD_BUILD", "1") == "1" {
                step!("building the services and the demo site (release)");
                cargo_build(true, &all, &[])?;
            }
            target_dir().join("release")
        }
    };
    let admin = Admin {
        email: "admin@load.test".into(),
        password: "load-test-admin-passphrase".into(),
    };
    let demo = Demo {
        companies: number("LOAD_COMPANIES", 500)?,
        seed: 42,
    };
    let platform = Platform::start(Tuning::load(s.rate, s.burst), Some(admin), demo).await?;
    platform.migrate_and_keygen(&bin)?;
    let w = &platform.wiring;
    let work = platform.work.path();

    // Companies: a scrape of the demo site.
    step!("scraping {} companies from the demo site", demo.companies);
    let site = Running::start(&bin, w, Service::DemoSite, &[], work)?;
    wait_ready(w, &[Service::DemoSite], work, Duration::from_secs(30)).await?;
    let log = std::fs::File::create(work.join("scrape.log"))?;
    let status = std::process::Command::new(bin.join("scraper"))
        .arg("run")
        .envs(w.run_env("load", &w.demo_scrape()))
        .env("TERMINATION_LOG", work.join("scrape.json"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()?;
    if !status.success() {
        bail!("the scrape failed: {}", tail(&work.join("scrape.log"), 5));
    }
    drop(site);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("scrape.json"))?)?;
    step!(
        "scrape: {} {} companies",
        summary["status"],
        summary["companies_created"]
    );

    // The services: identity first (the others fetch its keys at start).
    let mut running = vec![Running::start(&bin, w, Service::Identity, &[], work)?];
    wait_ready(w, &[Service::Identity], work, Duration::from_secs(30)).await?;
    for service in [Service::Scraper, Service::App, Service::Gateway] {
        running.push(Running::start(&bin, w, service, &[], work)?);
    }
    wait_ready(w, &Service::PLATFORM, work, Duration::from_secs(60)).await?;
    let probe = Probe(
        Service::PLATFORM
            .iter()
            .zip(&running)
            .map(|(s, r)| (s.name(), r.pid().unwrap_or(0), w.port(*s)))
            .collect(),
    );
    let rows = Arc::new(Mutex::new(Vec::new()));
    probe.sample("start", &rows);
    step!("every service is ready; load average: {}", loadavg());

    step!(
        "registering {} users (one of them the hot user), minting their tokens",
        s.users + 1
    );
    users(w, &s, work).await?;
    let first = std::fs::read_to_string(work.join("tokens.txt"))?;
    Api::new(w.url(Service::Gateway))
        .call(
            "GET",
            "/api/v1/users/me",
            None,
            first.lines().next(),
            &[200],
        )
        .await
        .context("a token does not pass the gateway")?;
    probe.sample("ready", &rows);

    let load_before = loadavg();
    step!(
        "wrk: {} connections, {threads} threads, {}s, {delay_ms} ms between a connection's requests; load average {load_before}",
        s.connections,
        s.duration
    );
    let sampler = {
        let (probe, rows) = (probe.clone(), rows.clone());
        tokio::spawn(async move {
            let mut t = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(sample_seconds)).await;
                t += sample_seconds;
                probe.sample(&format!("load+{t}s"), &rows);
            }
        })
    };
    let wrk_out = std::fs::File::create(work.join("wrk.txt"))?;
    let status = tokio::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", s.connections))
        .arg(format!("-d{}s", s.duration))
        .args(["--timeout", "10s", "--latency", "-s", "benches/load.lua"])
        .arg(w.url(Service::Gateway))
        .arg("--")
        .arg(work.join("tokens.txt"))
        .arg(work.join("idnos.txt"))
        .arg(s.addresses.to_string())
        .arg(work.join("results.txt"))
        .env("LOAD_DELAY_MS", delay_ms.to_string())
        .current_dir(root())
        .stdout(wrk_out)
        .stderr(Stdio::inherit())
        .status()
        .await
        .context("running wrk")?;
    sampler.abort();
    if !status.success() {
        bail!("wrk failed ({status})");
    }
    probe.sample("after", &rows);
    let load_after = loadavg();
    let metrics = reqwest::get(format!("{}/metrics", w.url(Service::Gateway)))
        .await?
        .text()
        .await?;
    let limiter: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("gateway_rate_limiter_fallbacks_total")
                || l.starts_with("gateway_rate_limiter_local")
        })
        .collect();

    step!("idle for {}s", s.idle);
    let mut t = 10;
    while t <= s.idle {
        // Idleness is what is measured here, not an ordering of events.
        tokio::time::sleep(Duration::from_secs(10)).await;
        probe.sample(&format!("idle+{t}s"), &rows);
        t += 10;
    }
    for (service, r) in Service::PLATFORM.iter().zip(&mut running) {
        if !r.is_running() {
            bail!(
                "{} exited during the run: {}",
                service.name(),
                tail(&work.join(format!("{}.log", service.name())), 5)
            );
        }
    }
    let rows = rows.lock().map(|r| r.clone()).unwrap_or_default();
    report::print(
        work,
        &s,
        &rows,
        &limiter.join(" "),
        (&load_before, &load_after),
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Register the users, log each in, give each a short watchlist (so listing it reads
/// rows); their tokens into tokens.txt (the first is the hot user), the companies' IDNOs
/// into idnos.txt.
async fn users(w: &gleaner_stack::Wiring, s: &Settings, work: &Path) -> anyhow::Result<()> {
    let scraper = Api::new(w.url(Service::Scraper));
    let identity = Api::new(w.url(Service::Identity));
    let app = Api::new(w.url(Service::App));
    let mut idnos = Vec::new();
    for page in 1.. {
        let (_, got) = scraper
            .call(
                "GET",
                &format!("/api/v1/companies?per_page=100&page={page}&sort=name"),
                None,
                None,
                &[200],
            )
            .await?;
        let items = got["items"].as_array().cloned().unwrap_or_default();
        idnos.extend(
            items
                .iter()
                .filter_map(|c| c["idno"].as_str().map(str::to_owned)),
        );
        if items.len() < 100 {
            break;
        }
    }
    if idnos.is_empty() {
        bail!("no companies");
    }
    let mut tokens = Vec::new();
    for i in 0..=s.users as usize {
        let name = format!("load{i:05}");
        let password = "load test passphrase";
        identity
            .call(
                "POST",
                "/api/v1/auth/register",
                Some(json!({"email": format!("{name}@load.test"), "username": name, "password": password})),
                None,
                &[201],
            )
            .await?;
        let token = identity.login(&name, password).await?;
        for k in 0..3 {
            let idno = &idnos[(i * 3 + k) % idnos.len()];
            app.call(
                "PUT",
                &format!("/api/v1/watchlist/{idno}"),
                None,
                Some(&token),
                &[200, 201, 204],
            )
            .await?;
        }
        tokens.push(token);
    }
    std::fs::write(work.join("tokens.txt"), tokens.join("\n") + "\n")?;
    std::fs::write(work.join("idnos.txt"), idnos.join("\n") + "\n")?;
    eprintln!("{} users, {} companies", tokens.len(), idnos.len());
    Ok(())
}

//! Exports of a filled registry through a release `scraper serve`: for each format,
//! companies per second, bytes, and the scraper's resident memory (VmRSS from
//! /proc, sampled every 5 ms) before the export and at its peak. The body is read
//! as it streams and only counted, so the client holds nothing.
//! `scripts/bench-exports.sh` fills the registry and runs it; method and results in
//! docs/benchmarks.md ("Exports").
//!
//! Environment: `DATABASE_URL`, `REDIS_URL`, `SCRAPER_BIN` (the release binary),
//! `ROUNDS` (exports per format, 3), `FORMATS` ("ndjson csv ftm"), `GZIP` (1: also
//! each format with `Accept-Encoding: gzip`).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use gleaner_common::auth::Role;
use gleaner_testkit::TestSigner;

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Scraper(Child);

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Outcome {
    seconds: f64,
    bytes: u64,
    lines: u64,
    rss_before: u64,
    rss_peak: u64,
}

async fn export(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    gzip: bool,
    pid: u32,
) -> anyhow::Result<Outcome> {
    let rss_before = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let started = Instant::now();
    let mut request = http.get(url).bearer_auth(token);
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = request.send().await?;
    if response.status() != 200 {
        bail!("GET {url}: {}", response.status());
    }
    let mut body = response.bytes_stream();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the body")?;
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Ok(Outcome {
        seconds,
        bytes,
        lines,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let db_url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let bin = std::env::var("SCRAPER_BIN").context("SCRAPER_BIN")?;
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let formats = std::env::var("FORMATS").unwrap_or_else(|_| "ndjson csv ftm".into());
    let gzip = std::env::var("GZIP").is_ok_and(|v| v == "1");

    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db_url)
        .await?;
    let companies: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
        .fetch_one(&db)
        .await?;
    let roles: i64 = sqlx::query_scalar("SELECT count(*) FROM company_roles WHERE current")
        .fetch_one(&db)
        .await?;
    db.close().await;
    println!("registry: {companies} companies, {roles} current roles");

    let signer = TestSigner::start().await?;
    let port = gleaner_testkit::free_port()?;
    let child = Command::new(&bin)
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("REDIS_URL", &redis_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env("OTEL_SDK_DISABLED", "true")
        .envs(signer.verifier_env())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let pid = child.id();
    let _scraper = Scraper(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_gzip().build()?;
    let ready = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        if ready.elapsed() > Duration::from_secs(60) {
            bail!("the scraper did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = signer.token(Role::User);
    // One small request first, so the pool and the token cache are warm before the
    // first measured "before".
    http.get(format!("{base}/api/v1/companies?per_page=1"))
        .send()
        .await?;
    println!("scraper idle RSS {:.1} MiB", rss_kib(pid) as f64 / 1024.0);

    let mut variants: Vec<(String, bool)> = formats
        .split_whitespace()
        .map(|f| (f.to_owned(), false))
        .collect();
    if gzip {
        variants.extend(formats.split_whitespace().map(|f| (f.to_owned(), true)));
    }
    for (format, gz) in variants {
        let url = format!("{base}/api/v1/exports/companies?format={format}");
        let mut rates = Vec::new();
        for round in 1..=rounds {
            let o = export(&http, &url, &token, gz, pid).await?;
            let rate = companies as f64 / o.seconds;
            rates.push(rate);
            println!(
                "  {format:<6}{} round {round}: {:.2} s, {rate:>8.0} companies/s, {:.1} MiB{}, {} lines; \
                 RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
                if gz { "+gzip" } else { "     " },
                o.seconds,
                o.bytes as f64 / 1048576.0,
                if gz { " compressed" } else { "" },
                o.lines,
                o.rss_before as f64 / 1024.0,
                o.rss_peak as f64 / 1024.0,
                o.rss_peak.saturating_sub(o.rss_before) as f64 / 1024.0,
            );
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{format}{}: median {:.0} companies/s over {rounds} rounds",
            if gz { "+gzip" } else { "" },
            rates[rates.len() / 2]
        );
    }
    Ok(())
}

//! Latency probe: `GET URL` at a steady rate (like a kubelet or a load
//! balancer would), printing p50/p99/max. Used by the login benchmark to show
//! that hashing never blocks request handling.
//!
//! `health_probe URL SECONDS [PER_SECOND]`

use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: health_probe URL SECONDS [PER_SECOND]"))?;
    let seconds: u64 = args.next().unwrap_or_else(|| "10".into()).parse()?;
    let rate: u64 = args.next().unwrap_or_else(|| "100".into()).parse()?;
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut times = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let t = Instant::now();
        let r = http.get(&url).send().await?;
        r.bytes().await?;
        times.push(t.elapsed());
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "requests {} p50 {:.2?} p99 {:.2?} max {:.2?}",
        times.len(),
        p(0.5),
        p(0.99),
        times[times.len() - 1]
    );
    Ok(())
}

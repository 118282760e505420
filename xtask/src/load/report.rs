//! The load run's report: throughput and latency from wrk, statuses per route, the
//! rate-limit arithmetic per key, memory per service; and the failures among them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};

use super::{Row, Settings};

type Counts = BTreeMap<u16, u64>;

/// Print the report; fail when the run broke one of its rules.
pub fn print(
    work: &Path,
    s: &Settings,
    rows: &[Row],
    limiter: &str,
    (load_before, load_after): (&str, &str),
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    let wrk = std::fs::read_to_string(work.join("wrk.txt"))?;
    let mut vals: BTreeMap<String, u64> = BTreeMap::new();
    for line in wrk.lines().filter_map(|l| l.strip_prefix("LOAD ")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for pair in parts.chunks(2) {
            if let [k, v] = pair
                && let Ok(v) = v.parse()
            {
                vals.insert((*k).to_owned(), v);
            }
        }
    }
    let val = |k: &str| {
        vals.get(k)
            .copied()
            .with_context(|| format!("wrk reported no {k}"))
    };
    let seconds = val("duration_us")? as f64 / 1e6;
    let requests = val("requests")?;
    let ms = |k: &str| val(k).map(|us| us as f64 / 1000.0);
    println!(
        "\n== Load: {requests} requests in {seconds:.1} s = {:.0} requests/s (load average before {load_before}, after {load_after})",
        requests as f64 / seconds
    );
    println!(
        "latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
        ms("p50_us")?,
        ms("p90_us")?,
        ms("p99_us")?,
        ms("p99.9_us")?,
        ms("max_us")?
    );
    let errors: Vec<(&str, u64)> = ["connect", "read", "write", "timeout"]
        .into_iter()
        .map(|k| (k, vals.get(k).copied().unwrap_or(0)))
        .collect();
    let described: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("socket errors: {}", described.join(", "));
    if errors.iter().any(|(_, v)| *v > 0) {
        failures.push(format!("socket errors: {}", described.join(", ")));
    }

    let mut by_route: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_key: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total: Counts = BTreeMap::new();
    for line in std::fs::read_to_string(work.join("results.txt"))?.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [route, key, status, n] = f[..] else {
            continue;
        };
        let (status, n): (u16, u64) = (status.parse()?, n.parse()?);
        *by_route
            .entry(route.into())
            .or_default()
            .entry(status)
            .or_default() += n;
        *by_key
            .entry(key.into())
            .or_default()
            .entry(status)
            .or_default() += n;
        *total.entry(status).or_default() += n;
    }
    let statuses: Vec<u16> = total.keys().copied().collect();
    let listed: Vec<String> = total.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!("statuses: {}", listed.join(", "));
    let header: String = statuses.iter().map(|s| format!(" {s:>8}")).collect();
    println!("{:<18}{header}", "route");
    for (route, c) in &by_route {
        let cells: String = statuses
            .iter()
            .map(|s| format!(" {:>8}", c.get(s).unwrap_or(&0)))
            .collect();
        println!("{route:<18}{cells}");
    }
    let fivexx: u64 = total
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    if fivexx > 0 {
        failures.push(format!("{fivexx} responses were 5xx"));
    }
    let unexpected: Vec<String> = total
        .iter()
        .filter(|(s, _)| !((200..300).contains(*s) || **s == 429 || **s >= 500))
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    if !unexpected.is_empty() {
        failures.push(format!("unexpected statuses {}", unexpected.join(", ")));
    }
    if let Some(c) = by_key.get("?") {
        failures.push(format!(
            "{} responses without the request's X-Request-Id",
            c.values().sum::<u64>()
        ));
    }
    rate_limits(s, seconds, &by_key, &mut failures);
    println!(
        "gateway limiter: {}",
        if limiter.is_empty() {
            "no metrics"
        } else {
            limiter
        }
    );
    memory(rows, s.duration, &mut failures);

    if !failures.is_empty() {
        println!("\nFAILED:\n  {}", failures.join("\n  "));
        bail!("the load run failed");
    }
    println!("\nOK: no 5xx, 429 only beyond the quotas, memory back within 2x of after-start");
    Ok(())
}

/// GCRA lets a key through at most burst + rate * t in t seconds.
fn rate_limits(
    s: &Settings,
    seconds: f64,
    by_key: &BTreeMap<String, Counts>,
    failures: &mut Vec<String>,
) {
    let (rate, burst) = (f64::from(s.rate), f64::from(s.burst));
    let bound = burst + rate * seconds;
    println!(
        "\n== Rate limits: {rate}/s, burst {burst}, per user (bearer) or client address (anonymous); \
         in {seconds:.1} s a key may pass at most {burst} + {rate} x {seconds:.1} = {bound:.0} requests"
    );
    let class = |k: &str| match k {
        "o" => "ops",
        "uh" => "hot user",
        "ah" => "hot address",
        k if k.starts_with('u') => "users",
        _ => "addresses",
    };
    let mut classes: BTreeMap<&str, Vec<(&String, &Counts)>> = BTreeMap::new();
    for (k, c) in by_key.iter().filter(|(k, _)| *k != "?") {
        classes.entry(class(k)).or_default().push((k, c));
    }
    println!(
        "{:<13} {:>6} {:>9} {:>13} {:>13} {:>9} {:>15} {:>8}",
        "keys", "count", "sent", "max sent/key", "max rate/key", "passed", "max passed/key", "429"
    );
    for name in ["ops", "users", "addresses", "hot user", "hot address"] {
        let Some(keys) = classes.get(name) else {
            continue;
        };
        let sent: Vec<u64> = keys.iter().map(|(_, c)| c.values().sum()).collect();
        let passed: Vec<u64> = keys
            .iter()
            .map(|(_, c)| c.iter().filter(|(s, _)| **s != 429).map(|(_, n)| n).sum())
            .collect();
        let refused: u64 = keys
            .iter()
            .map(|(_, c)| c.get(&429).copied().unwrap_or(0))
            .sum();
        let (max_sent, max_passed) = (
            sent.iter().copied().max().unwrap_or(0),
            passed.iter().copied().max().unwrap_or(0),
        );
        println!(
            "{name:<13} {:>6} {:>9} {max_sent:>13} {:>11.1}/s {:>9} {max_passed:>15} {refused:>8}",
            keys.len(),
            sent.iter().sum::<u64>(),
            max_sent as f64 / seconds,
            passed.iter().sum::<u64>()
        );
        if name == "ops" {
            if refused > 0 {
                failures.push(format!(
                    "{refused} of the gateway's own routes (not limited) were refused"
                ));
            }
            continue;
        }
        if max_passed as f64 > bound {
            failures.push(format!("{name}: a key passed {max_passed} requests, more than the {bound:.0} its quota allows"));
        }
        if name == "users" || name == "addresses" {
            // Keys sending well under the rate must never be refused.
            for ((k, c), sent) in keys.iter().zip(&sent) {
                let refused = c.get(&429).copied().unwrap_or(0);
                if refused > 0 && (*sent as f64 / seconds) < 0.8 * rate {
                    failures.push(format!(
                        "{name}: key {k} sent {:.1}/s (under the quota) and got {refused} 429s",
                        *sent as f64 / seconds
                    ));
                }
            }
        } else {
            let (sent, passed) = (sent[0] as f64, passed[0] as f64);
            println!(
                "  {name}: sent {sent} = {:.1}/s, passed {passed} (quota {burst} + {rate}/s x {seconds:.1} s = {bound:.0}), refused {refused}",
                sent / seconds
            );
            // Sending at twice the rate or more, a key must get (nearly) its whole quota:
            // the limiter refuses what is beyond it, not more.
            if sent >= 2.0 * bound && passed < 0.9 * rate * seconds {
                failures.push(format!(
                    "{name}: only {passed} passed, the quota allows {bound:.0}"
                ));
            }
        }
    }
}

/// Resident memory per sample; idle must come back within 2x of after-start, and a soak
/// must not grow under steady load.
fn memory(rows: &[Row], duration: u64, failures: &mut Vec<String>) {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return;
    };
    let names: Vec<&str> = first.1.keys().copied().collect();
    let mib = |kb: u64| kb as f64 / 1024.0;
    let head: String = names.iter().map(|n| format!(" {n:>9}")).collect();
    println!(
        "\n== Resident memory (VmRSS, MiB; peak = VmHWM)\n{:<12}{head}",
        "when"
    );
    for (label, cells) in rows {
        let line: String = names
            .iter()
            .map(|n| format!(" {:>9.1}", mib(cells[n][0])))
            .collect();
        println!("{label:<12}{line}");
    }
    let peak: String = names
        .iter()
        .map(|n| format!(" {:>9.1}", mib(last.1[n][1])))
        .collect();
    println!("{:<12}{peak}", "peak");
    println!(
        "\nopen connections / threads\n{:<12}{}",
        "when",
        names
            .iter()
            .map(|n| format!(" {n:>11}"))
            .collect::<String>()
    );
    for (label, cells) in rows {
        let line: String = names
            .iter()
            .map(|n| format!(" {:>5} /{:>4}", cells[n][2], cells[n][3]))
            .collect();
        println!("{label:<12}{line}");
    }
    println!();
    for n in &names {
        let (start, idle) = (first.1[n][0], last.1[n][0]);
        let ratio = idle as f64 / start.max(1) as f64;
        println!(
            "{n}: after start {:.1} MiB, after {} {:.1} MiB = {ratio:.2}x",
            mib(start),
            last.0,
            mib(idle)
        );
        if ratio > 2.0 {
            failures.push(format!(
                "{n}: idle RSS {:.1} MiB is above twice its after-start {:.1} MiB",
                mib(idle),
                mib(start)
            ));
        }
    }
    // A soak: the first minute warms up (pools fill, caches settle); from then on the last
    // samples must not exceed the early ones by more than 10 % (and 4 MiB).
    let warm: Vec<&Row> = rows
        .iter()
        .filter(|(l, _)| {
            l.strip_prefix("load+")
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse::<u64>().ok())
                .is_some_and(|t| t >= 60)
        })
        .collect();
    if duration >= 300 && warm.len() >= 6 {
        for n in &names {
            let mean =
                |rs: &[&Row]| rs.iter().map(|r| r.1[n][0] as f64).sum::<f64>() / rs.len() as f64;
            let (early, late) = (mean(&warm[..3]), mean(&warm[warm.len() - 3..]));
            println!(
                "{n}: steady load, mean of the first three samples after a minute {:.1} MiB, of the last three {:.1} MiB",
                early / 1024.0,
                late / 1024.0
            );
            if late > early * 1.10 && late - early > 4.0 * 1024.0 {
                failures.push(format!(
                    "{n}: RSS grew under steady load from {:.1} to {:.1} MiB",
                    early / 1024.0,
                    late / 1024.0
                ));
            }
        }
    }
}

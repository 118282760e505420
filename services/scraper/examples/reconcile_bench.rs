//! Reconciliation latency and quality over a large registry: sends batches of 10
//! reconciliation queries (`POST /api/v1/reconcile`, as JSON) to a running scraper
//! (`SCRAPER_URL`) whose database (`DATABASE_URL`) holds the registry, one batch at a
//! time, and prints the p50/p95/p99 of a whole batch, then how often the expected
//! company came first per kind of query.
//!
//! The queries are made from companies and people sampled from the database (the same
//! ones on every run: ordered by a hash of their id), ten kinds per batch: the exact
//! name, the name without accents in capitals, a name with a letter dropped, the name
//! with its city, the name with its legal form, the IDNO alone, the first two words, a
//! person's name with the words swapped (type Person), the name with `limit` 10, and the
//! misspelt name with its city.
//!
//! `scripts/bench-reconcile.sh` runs it against the shared 100,000-company registry
//! (`scripts/bench-data.sh`) and a release `scraper serve`; by hand:
//! `DATABASE_URL=... SCRAPER_URL=http://127.0.0.1:8082 BATCHES=300 \
//!   cargo run --release -p gleaner-scraper --example reconcile_bench`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gleaner_scraper::names;
use serde_json::{Value, json};
use sqlx::Row;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The name without diacritics, in capitals, as spreadsheets often have it.
fn plain_upper(name: &str) -> String {
    name.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_uppercase()
}

/// The name with one letter dropped near its middle.
fn misspelt(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut at = chars.len() / 2;
    while at < chars.len() && !chars[at].is_alphabetic() {
        at += 1;
    }
    chars
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, c)| *c)
        .collect()
}

/// A kind of query, the query, the id expected first and the name expected first.
type Query = (&'static str, Value, Option<String>, Option<String>);

struct Sample {
    idno: String,
    name: String,
    city: Option<String>,
    legal_form: Option<String>,
}

/// The ten queries of batch `b`, each with the id expected first (none for a partial
/// name, where the first one is not knowable beforehand).
fn batch(b: usize, companies: &[Sample], people: &[String]) -> Vec<Query> {
    let c = |k: usize| &companies[(b * 10 + k) % companies.len()];
    let city = |s: &Sample| json!([{"pid": "city", "v": s.city.clone().unwrap_or_default()}]);
    let person = &people[b % people.len()];
    let swapped: Vec<&str> = person.split_whitespace().rev().collect();
    vec![
        (
            "exact name",
            json!({"query": c(0).name, "type": "Company"}),
            Some(c(0).idno.clone()),
            Some(c(0).name.clone()),
        ),
        (
            "no accents, capitals",
            json!({"query": plain_upper(&c(1).name), "type": "Company"}),
            Some(c(1).idno.clone()),
            Some(c(1).name.clone()),
        ),
        (
            "a letter dropped",
            json!({"query": misspelt(&c(2).name), "type": "Company"}),
            Some(c(2).idno.clone()),
            Some(c(2).name.clone()),
        ),
        (
            "name + city",
            json!({"query": c(3).name, "type": "Company", "properties": city(c(3))}),
            Some(c(3).idno.clone()),
            Some(c(3).name.clone()),
        ),
        (
            "name + legal form",
            json!({"query": c(4).name, "type": "Company",
            "properties": [{"pid": "legal_form", "v": c(4).legal_form.clone().unwrap_or_default()}]}),
            Some(c(4).idno.clone()),
            Some(c(4).name.clone()),
        ),
        (
            "IDNO only",
            json!({"properties": [{"pid": "idno", "v": c(5).idno}]}),
            Some(c(5).idno.clone()),
            Some(c(5).name.clone()),
        ),
        (
            "first two words",
            json!({"query": c(6).name.split_whitespace().take(2).collect::<Vec<_>>().join(" ")}),
            None,
            None,
        ),
        (
            "person, words swapped",
            json!({"query": swapped.join(" "), "type": "Person"}),
            names::person_id(person),
            Some(person.clone()),
        ),
        (
            "name, any type, limit 10",
            json!({"query": c(8).name, "limit": 10}),
            Some(c(8).idno.clone()),
            Some(c(8).name.clone()),
        ),
        (
            "misspelt + city",
            json!({"query": misspelt(&c(9).name), "type": "Company", "properties": city(c(9))}),
            Some(c(9).idno.clone()),
            Some(c(9).name.clone()),
        ),
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let db_url = std::env::var("DATABASE_URL")?;
    let scraper = std::env::var("SCRAPER_URL")?;
    let batches: usize = std::env::var("BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db_url)
        .await?;
    let companies: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
        .fetch_one(&db)
        .await?;
    let sample: Vec<Sample> = sqlx::query(
        "SELECT idno, name, city, legal_form FROM company_search ORDER BY md5(idno) LIMIT 2000",
    )
    .fetch_all(&db)
    .await?
    .iter()
    .map(|r| {
        Ok(Sample {
            idno: r.try_get("idno")?,
            name: r.try_get("name")?,
            city: r.try_get("city")?,
            legal_form: r.try_get("legal_form")?,
        })
    })
    .collect::<sqlx::Result<_>>()?;
    let people: Vec<String> =
        sqlx::query_scalar("SELECT name FROM people ORDER BY md5(id) LIMIT 300")
            .fetch_all(&db)
            .await?;
    anyhow::ensure!(!sample.is_empty(), "the registry is empty");
    anyhow::ensure!(!people.is_empty(), "the registry has no people");
    println!(
        "{companies} companies, {} people sampled; {batches} batches of 10 queries",
        people.len()
    );

    let http = reqwest::Client::new();
    let url = format!("{scraper}/api/v1/reconcile");
    let send = |queries: serde_json::Map<String, Value>| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(&url)
                .json(&json!({"queries": queries}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            anyhow::Ok(r.json::<Value>().await?)
        }
    };
    let as_batch = |queries: &[Query]| {
        queries
            .iter()
            .enumerate()
            .map(|(i, (_, q, _, _))| (format!("q{i}"), q.clone()))
            .collect::<serde_json::Map<String, Value>>()
    };
    // Warm up (connections, caches): the last batches, not timed.
    for b in batches..batches + 10 {
        send(as_batch(&batch(b, &sample, &people))).await?;
    }
    let mut times = Vec::with_capacity(batches);
    // Per kind: (first is the expected one, expected among the candidates, matches, asked).
    // Per kind: first is the expected one, expected among the candidates, first has the
    // expected name (a namesake counts), first is a match, asked.
    let mut quality: BTreeMap<(usize, &'static str), [u32; 5]> = BTreeMap::new();
    for b in 0..batches {
        let queries = batch(b, &sample, &people);
        let body = as_batch(&queries);
        let t = Instant::now();
        let answer = send(body).await?;
        times.push(t.elapsed());
        for (i, (kind, _, expected, name)) in queries.iter().enumerate() {
            let result = answer[format!("q{i}")]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let tally = quality.entry((i, kind)).or_default();
            tally[4] += 1;
            if result.first().is_some_and(|c| c["match"] == true) {
                tally[3] += 1;
            }
            if let Some(expected) = expected {
                if result.first().is_some_and(|c| c["id"] == expected.as_str()) {
                    tally[0] += 1;
                }
                if result.iter().any(|c| c["id"] == expected.as_str()) {
                    tally[1] += 1;
                }
            }
            if let Some(name) = name {
                let first = result
                    .first()
                    .and_then(|c| c["name"].as_str())
                    .unwrap_or("");
                if names::name_key(first) == names::name_key(name) {
                    tally[2] += 1;
                }
            }
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "batch of 10: p50 {}  p95 {}  p99 {}  max {}  mean {}",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
        ms(mean),
    );
    println!(
        "{:<28} {:>8} {:>12} {:>12} {:>8}",
        "query", "first", "in results", "first name", "match"
    );
    for ((_, kind), [first, found, named, matched, asked]) in &quality {
        let pct = |n: u32| format!("{:.0} %", 100.0 * f64::from(n) / f64::from(*asked));
        let shown = |n: u32| {
            if *kind == "first two words" {
                "-".to_string()
            } else {
                pct(n)
            }
        };
        println!(
            "{kind:<28} {:>8} {:>12} {:>12} {:>8}",
            shown(*first),
            shown(*found),
            shown(*named),
            pct(*matched),
        );
    }
    Ok(())
}

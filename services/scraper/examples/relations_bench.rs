//! People and relations over a filled registry: latency percentiles of
//! `GET /api/v1/people?q=`, `/companies/{idno}/related` and `/companies/{idno}/graph?depth=2`
//! against a running scraper (`SCRAPER_URL`), sequential requests after a warm-up, and
//! the size of the relation tables per company. `scripts/bench-relations.sh` fills the
//! registry, starts the scraper and runs it; method and results in docs/benchmarks.md.
//!
//! Environment: `DATABASE_URL` (read to pick people and companies at random),
//! `SCRAPER_URL`, `ROUNDS` (requests per endpoint, 300), `SEED` (0.42).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
use sqlx::Row;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Time `paths` one after another (after `warmup` untimed requests): sorted latencies
/// and the answers.
async fn time_paths(
    http: &reqwest::Client,
    base: &str,
    paths: &[String],
    warmup: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Value>)> {
    for path in paths.iter().take(warmup) {
        http.get(format!("{base}{path}")).send().await?;
    }
    let mut times = Vec::with_capacity(paths.len());
    let mut bodies = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        let response = http.get(format!("{base}{path}")).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        times.push(started.elapsed());
        if status != 200 {
            bail!("GET {path}: {status}");
        }
        bodies.push(serde_json::from_slice(&body)?);
    }
    times.sort();
    Ok((times, bodies))
}

fn report(name: &str, times: &[Duration], extra: &str) {
    println!(
        "  {name:<34} n={:<4} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  {extra}",
        times.len(),
        ms(percentile(times, 0.5)),
        ms(percentile(times, 0.95)),
        ms(percentile(times, 0.99)),
        ms(percentile(times, 1.0)),
    );
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The people search queries a user types, from a person's name: the name, its words
/// swapped, folded to lower case without accents, and the beginning of one word.
fn queries_for(name: &str, i: usize) -> String {
    let words: Vec<String> = gleaner_scraper::names::words(name);
    match i % 4 {
        0 => name.to_owned(),
        1 => words.iter().rev().cloned().collect::<Vec<_>>().join(" "),
        2 => words.join(" "),
        _ => words
            .last()
            .map(|w| w.chars().take(4).collect())
            .unwrap_or_default(),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let db_url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let base = std::env::var("SCRAPER_URL").context("SCRAPER_URL")?;
    let rounds: i64 = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: f64 = std::env::var("SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.42);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db_url)
        .await?;
    sqlx::query("SELECT setseed($1)")
        .bind(seed)
        .execute(&db)
        .await?;

    let sizes = sqlx::query(
        "SELECT (SELECT count(*) FROM companies) AS companies, \
           (SELECT count(*) FROM people) AS people, \
           (SELECT count(*) FROM company_roles) AS roles, \
           (SELECT count(*) FROM company_roles WHERE NOT current) AS ended, \
           pg_total_relation_size('people') AS people_bytes, \
           pg_total_relation_size('company_roles') AS roles_bytes, \
           pg_relation_size('company_search_name_norm_idx') AS name_norm_index_bytes, \
           (SELECT coalesce(sum(pg_column_size(name_norm)), 0) FROM company_search)::bigint AS name_norm_bytes",
    )
    .fetch_one(&db)
    .await?;
    let companies: i64 = sizes.try_get("companies")?;
    let people_bytes: i64 = sizes.try_get("people_bytes")?;
    let roles_bytes: i64 = sizes.try_get("roles_bytes")?;
    let norm_idx: i64 = sizes.try_get("name_norm_index_bytes")?;
    let norm_col: i64 = sizes.try_get("name_norm_bytes")?;
    let per = |b: i64| b as f64 / companies.max(1) as f64;
    println!(
        "registry: {companies} companies, {} people, {} roles ({} ended)",
        sizes.try_get::<i64, _>("people")?,
        sizes.try_get::<i64, _>("roles")?,
        sizes.try_get::<i64, _>("ended")?,
    );
    println!(
        "relation tables: people {:.1} MiB + company_roles {:.1} MiB (tables, indexes, TOAST) = {:.0} bytes per company; \
         company_search.name_norm adds {:.0} bytes per company (column {:.0}, index {:.0})",
        people_bytes as f64 / 1048576.0,
        roles_bytes as f64 / 1048576.0,
        per(people_bytes + roles_bytes),
        per(norm_idx + norm_col),
        per(norm_col),
        per(norm_idx),
    );

    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM people ORDER BY random() LIMIT $1")
            .bind(rounds)
            .fetch_all(&db)
            .await?;
    let idnos: Vec<String> =
        sqlx::query_scalar("SELECT idno FROM companies ORDER BY random() LIMIT $1")
            .bind(rounds)
            .fetch_all(&db)
            .await?;
    if names.is_empty() || idnos.is_empty() {
        bail!("no people or companies: fill the registry first");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let warmup = 20;
    println!("sequential requests to {base}, {warmup} untimed first:");

    let people: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("/api/v1/people?q={}", encode(&queries_for(n, i))))
        .collect();
    let (times, bodies) = time_paths(&http, &base, &people, warmup).await?;
    let found = mean(bodies.iter().map(|b| b["total"].as_f64().unwrap_or(0.0)));
    report(
        "GET /people?q=",
        &times,
        &format!("(mean total {found:.1}; name, words swapped, folded, a word's first 4 letters)"),
    );

    let related: Vec<String> = idnos
        .iter()
        .map(|i| format!("/api/v1/companies/{i}/related"))
        .collect();
    let (times, bodies) = time_paths(&http, &base, &related, warmup).await?;
    let total = mean(bodies.iter().map(|b| b["total"].as_f64().unwrap_or(0.0)));
    report(
        "GET /companies/{idno}/related",
        &times,
        &format!("(mean total {total:.1} related companies)"),
    );

    let graph: Vec<String> = idnos
        .iter()
        .map(|i| format!("/api/v1/companies/{i}/graph?depth=2"))
        .collect();
    let (times, bodies) = time_paths(&http, &base, &graph, warmup).await?;
    let nodes = mean(
        bodies
            .iter()
            .map(|b| b["nodes"].as_array().map_or(0, Vec::len) as f64),
    );
    let edges = mean(
        bodies
            .iter()
            .map(|b| b["edges"].as_array().map_or(0, Vec::len) as f64),
    );
    let truncated = bodies.iter().filter(|b| b["truncated"] == true).count();
    report(
        "GET /companies/{idno}/graph?depth=2",
        &times,
        &format!(
            "(mean {nodes:.0} nodes, {edges:.0} edges; {truncated} of {} cut at 200 nodes)",
            bodies.len()
        ),
    );
    Ok(())
}

//! Search latency over a large registry: fills the database to `COMPANIES`
//! companies through the real Load and Transform code (raw document stored,
//! parsed, upserted), then times sequential searches over HTTP against a
//! running scraper (`SCRAPER_URL`) and prints p50/p95/p99 per query and overall.
//!
//! `DATABASE_URL=... SCRAPER_URL=http://127.0.0.1:8082 COMPANIES=100000 \
//!   cargo run --release -p gleaner-scraper --example search_bench`

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use gleaner_scraper::fetch::Fetched;
use gleaner_scraper::source::DocumentKind;
use gleaner_scraper::source::openmoney::parse::{PARSER_VERSION, parse_company_json};
use gleaner_scraper::store::companies::{self, Provenance};
use gleaner_scraper::store::raw::{self, Stored};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let db_url = std::env::var("DATABASE_URL")?;
    let scraper = std::env::var("SCRAPER_URL")?;
    let target: usize = std::env::var("COMPANIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&db_url)
        .await?;
    gleaner_scraper::startup::MIGRATOR.run(&db).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
        .fetch_one(&db)
        .await?;
    if (have as usize) < target {
        let started = Instant::now();
        let companies = gleaner_demo_site::generate(42, target);
        let db2 = db.clone();
        futures::stream::iter(companies.into_iter().skip(have as usize))
            .map(|c| {
                let db = db2.clone();
                async move {
                    let body =
                        Bytes::from(serde_json::to_vec(&gleaner_demo_site::api_company(&c))?);
                    let url = format!("http://demo.invalid/api/companies/{}", c.idno);
                    let doc = Fetched {
                        status: 200,
                        content_type: Some("application/json".into()),
                        etag: None,
                        last_modified: None,
                        headers: serde_json::json!({}),
                        body: body.clone(),
                    };
                    let id = match raw::store(
                        &db,
                        &url,
                        DocumentKind::Company,
                        Some(&c.idno),
                        &doc,
                        None,
                    )
                    .await?
                    {
                        Stored::New(id) | Stored::Unchanged(id) => id,
                    };
                    let record = parse_company_json(&body)?;
                    let from = Provenance {
                        url: &url,
                        fetched_at: chrono::Utc::now(),
                        document_id: id,
                        parser_version: PARSER_VERSION,
                        run_id: None,
                        shard: None,
                    };
                    companies::upsert(&db, &record, &from).await?;
                    raw::mark_parsed(&db, id, PARSER_VERSION).await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(8)
            .for_each(|r| async move {
                if let Err(e) = r {
                    eprintln!("fill: {e:#}");
                }
            })
            .await;
        // What autovacuum does after a bulk load: statistics and the visibility map.
        sqlx::query("VACUUM ANALYZE companies, company_search")
            .execute(&db)
            .await?;
        eprintln!(
            "filled {} companies in {:.1?}",
            target - have as usize,
            started.elapsed()
        );
    }
    let http = reqwest::Client::new();
    let queries = [
        "q=chisinau",
        "q=srl",
        "q=vinaria",
        "q=comert%20cu%20amanuntul",
        "q=balti&status=active",
        "q=chisinau&sort=name&page=5",
        "city=balti&sort=-registered_at",
        "status=inactive&legal_form=SA",
        "activity=47.73",
        "registered_from=2015-01-01&registered_to=2016-12-31",
    ];
    let mut all = Vec::new();
    println!(
        "{:<45} {:>9} {:>9} {:>9} {:>8}",
        "query", "p50", "p95", "p99", "total"
    );
    for q in queries {
        let url = format!("{scraper}/api/v1/companies?{q}");
        // Warm up.
        for _ in 0..5 {
            http.get(&url).send().await?.bytes().await?;
        }
        let mut times = Vec::with_capacity(rounds);
        let mut total = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let r = http.get(&url).send().await?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            let v: serde_json::Value = r.json().await?;
            times.push(t.elapsed());
            total = v["total"].as_i64().unwrap_or(0);
        }
        times.sort();
        println!(
            "{:<45} {:>9.2?} {:>9.2?} {:>9.2?} {:>8}",
            q,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            total
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "{:<45} {:>9.2?} {:>9.2?} {:>9.2?}",
        "ALL",
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99)
    );
    Ok(())
}

//! The change feed under load: how long walking 1,000,000 changes by pages of 1,000
//! takes over HTTP, and how soon a committed change reaches an open stream.
//!
//! Starts the scraper service in this process (release build) on a fresh database of the
//! throwaway PostgreSQL in `TEST_DATABASE_URL`, with a private `redis-server` and a test
//! token signer, then:
//!
//! 1. stores `COMPANIES` demo companies through the real load and upsert path, and adds
//!    `CHANGES` history rows with `generate_series`, in transactions of 100,000 rows;
//! 2. walks the whole feed with `GET /api/v1/changes?limit=1000`, decoding every page,
//!    and reports the time, the pages per second and the per-page latency percentiles;
//! 3. opens `GET /api/v1/changes/stream` at the end of the feed, renames a company
//!    `ROUNDS` times through the upsert (a pseudo-random pause of 0 to 400 ms before each),
//!    and reports the time from each commit to its event on the stream.
//!
//! `scripts/bench-change-feed.sh` (in `make bench`), or by hand:
//! `scripts/with-test-deps.sh cargo run --release -p gleaner-scraper --example change_feed_bench`
//! (`CHANGES=1000000 COMPANIES=100 ROUNDS=300` by default).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures::StreamExt as _;
use gleaner_common::auth::Role;
use gleaner_scraper::config::Settings;
use gleaner_scraper::fetch::Fetched;
use gleaner_scraper::source::DocumentKind;
use gleaner_scraper::source::openmoney::parse::{PARSER_VERSION, parse_company_json};
use gleaner_scraper::startup::{Application, MIGRATOR};
use gleaner_scraper::store::companies::{self, Provenance};
use gleaner_scraper::store::raw::{self, Stored};
use gleaner_testkit::{TestRedis, TestSigner, fresh_database};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:.1?} p95={:.1?} p99={:.1?} max={:.1?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
    );
}

/// A company as stored, to rename through the upsert.
struct Stored1 {
    record: gleaner_scraper::company::CompanyRecord,
    url: String,
    document_id: i64,
}

async fn store_companies(db: &PgPool, count: usize) -> anyhow::Result<Vec<Stored1>> {
    let mut stored = Vec::new();
    for c in gleaner_demo_site::generate(5, count) {
        let body = Bytes::from(serde_json::to_vec(&gleaner_demo_site::api_company(&c))?);
        let url = format!("http://demo.invalid/api/companies/{}", c.idno);
        let doc = Fetched {
            status: 200,
            content_type: Some("application/json".into()),
            etag: None,
            last_modified: None,
            headers: json!({}),
            body: body.clone(),
        };
        let document_id =
            match raw::store(db, &url, DocumentKind::Company, Some(&c.idno), &doc, None).await? {
                Stored::New(id) | Stored::Unchanged(id) => id,
            };
        let record = parse_company_json(&body)?;
        let one = Stored1 {
            record,
            url,
            document_id,
        };
        rename(db, &one, None).await?;
        stored.push(one);
    }
    Ok(stored)
}

async fn rename(db: &PgPool, company: &Stored1, name: Option<String>) -> anyhow::Result<()> {
    let mut record = company.record.clone();
    if let Some(name) = name {
        record.name = name;
    }
    let from = Provenance {
        url: &company.url,
        fetched_at: chrono::Utc::now(),
        document_id: company.document_id,
        parser_version: PARSER_VERSION,
        run_id: None,
        shard: None,
    };
    companies::upsert(db, &record, &from).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let changes = setting("CHANGES", 1_000_000);
    let company_count = setting("COMPANIES", 100).max(1);
    let rounds = setting("ROUNDS", 300).max(1);

    let database = fresh_database().await?;
    let db = PgPool::connect(&database.url).await?;
    MIGRATOR.run(&db).await?;
    let redis = TestRedis::start().await?;
    let signer = TestSigner::start().await?;
    let settings = Settings {
        listen_addr: "127.0.0.1:0".into(),
        database_url: SecretString::from(database.url.clone()),
        database_max_connections: 10,
        redis_url: SecretString::from(redis.url()),
        verifier: signer.verifier_settings(),
        log: gleaner_common::telemetry::LogSettings::default(),
        events_stream: "bench-events".into(),
        egress: gleaner_scraper::egress::EgressSettings::local(),
    };
    let app = Application::build_with(settings, |p| p).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    let token = signer.token(Role::User);
    let http = reqwest::Client::new();

    // 1. The data.
    let started = Instant::now();
    let stored = store_companies(&db, company_count).await?;
    let idnos: Vec<String> = stored
        .iter()
        .map(|c| c.record.idno.as_str().to_owned())
        .collect();
    let mut from = 0i64;
    while (from as usize) < changes {
        let to = (from + 100_000).min(changes as i64);
        sqlx::query(
            "INSERT INTO company_history (idno, field, old, new, run_id) \
             SELECT ($1::text[])[1 + g % cardinality($1::text[])], 'name', \
                    to_jsonb('name ' || g), to_jsonb('name ' || (g + 1)), NULL \
             FROM generate_series($2::bigint, $3::bigint - 1) g",
        )
        .bind(&idnos)
        .bind(from)
        .bind(to)
        .execute(&db)
        .await?;
        from = to;
    }
    sqlx::query("VACUUM ANALYZE company_history")
        .execute(&db)
        .await?;
    println!(
        "generated {changes} changes over {company_count} companies in {:.1?}",
        started.elapsed()
    );

    // 2. The walk.
    let started = Instant::now();
    let (mut next, mut walked, mut pages) = (String::new(), 0usize, Vec::new());
    loop {
        let asked = Instant::now();
        let page: Value = http
            .get(format!("{base}/api/v1/changes?limit=1000&after={next}"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        pages.push(asked.elapsed());
        let items = page["items"].as_array().context("items")?;
        if items.is_empty() {
            break;
        }
        walked += items.len();
        next = page["next"].as_str().context("next")?.to_owned();
    }
    let took = started.elapsed();
    if walked != changes {
        bail!("walked {walked} changes of {changes}");
    }
    println!(
        "walked {walked} changes in {} pages of 1,000 in {took:.2?} ({:.0} changes/s)",
        pages.len(),
        walked as f64 / took.as_secs_f64()
    );
    report("page latency", pages);

    // 3. Commit to event.
    let response = http
        .get(format!("{base}/api/v1/changes/stream?after={next}"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    let (arrived_tx, mut arrived_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let reader = tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { return };
            let now = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(change) = serde_json::from_str::<Value>(data.trim_start())
                        && let Some(new) = change["new"].as_str()
                        && arrived_tx.send((new.to_owned(), now)).is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    let mut committed = HashMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(seed % 400)).await;
        let company = &stored[round % stored.len()];
        let name = format!("{} renamed {round}", company.record.name);
        rename(&db, company, Some(name.clone())).await?;
        committed.insert(name, Instant::now());
    }
    let mut latencies = Vec::new();
    while latencies.len() < rounds {
        let (name, at) = tokio::time::timeout(Duration::from_secs(30), arrived_rx.recv())
            .await
            .context("the stream fell silent")?
            .context("the stream ended")?;
        if let Some(done) = committed.get(&name) {
            latencies.push(at.saturating_duration_since(*done));
        }
    }
    report("commit to event on an open stream", latencies);

    reader.abort();
    stop.cancel();
    server.await??;
    Ok(())
}

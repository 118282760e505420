//! Webhook delivery benchmark (scripts/bench-webhooks.sh; method and figures in
//! docs/benchmarks.md, "Webhooks").
//!
//! `DATABASE_URL` names an empty database. 100 users each watch one company and have one
//! webhook to a receiver on 127.0.0.1; 10 change events of that company make 1,000
//! notifications (and their deliveries, in the same transactions), committed as fast as
//! they go. The delivery worker is the app's, with its settings (16 at once, a look for
//! due deliveries every 250 ms), two of them as two replicas would run.
//!
//! 1. The receiver answers 204: the time from each notification's commit to its arrival
//!    (p50, p99, max).
//! 2. The receiver answers 500 to 30 % of requests, at random: every notification must
//!    arrive (the retry schedule is compressed to 100 ms steps so the run takes seconds,
//!    not hours); lost = committed notifications the receiver never accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use gleaner_app::startup::MIGRATOR;
use gleaner_app::webhooks::delivery::{DeliveryMetrics, DeliveryWorker};
use gleaner_app::webhooks::{signing, store, target};
use gleaner_common::events::{CompanyChanged, FieldChange};
use gleaner_egress::{AllowedNetworks, EgressPolicy};
use rand::Rng as _;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const USERS: usize = 100;
const EVENTS: usize = 10;
const IDNO: &str = "1003600012345";

#[derive(Default)]
struct Seen {
    /// When each notification (by run id and user) was first accepted.
    accepted: HashMap<(String, String), Instant>,
    requests: usize,
    refused: usize,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
    fail_ratio: Arc<Mutex<f64>>,
}

async fn start_receiver() -> anyhow::Result<Receiver> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fail_ratio = Arc::new(Mutex::new(0.0_f64));
    let (s, f) = (seen.clone(), fail_ratio.clone());
    let app = axum::Router::new().fallback(move |path: axum::http::Uri, body: Bytes| {
        let (seen, fail_ratio) = (s.clone(), f.clone());
        async move {
            let now = Instant::now();
            let ratio = *fail_ratio.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.requests += 1;
            if rand::rng().random_bool(ratio) {
                seen.refused += 1;
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let run = event["data"]["run_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let user = path.path().trim_start_matches('/').to_owned();
            seen.accepted.entry((run, user)).or_insert(now);
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver {
        url,
        seen,
        fail_ratio,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Commit `EVENTS` changes, each notifying every user; returns each run id's commit time.
async fn commit_changes(db: &PgPool) -> anyhow::Result<Vec<(Uuid, Instant)>> {
    let mut commits = Vec::new();
    for i in 0..EVENTS {
        let run = Uuid::new_v4();
        let ev = CompanyChanged {
            idno: IDNO.parse()?,
            company_name: format!("Alfa {i}"),
            run_id: Some(run),
            changes: vec![FieldChange {
                field: "name".into(),
                old: serde_json::json!(format!("Alfa {}", i.saturating_sub(1))),
                new: serde_json::json!(format!("Alfa {i}")),
            }],
        };
        let made = gleaner_app::watchlist::notify_watchers(db, &ev, &run.to_string()).await?;
        commits.push((run, Instant::now()));
        anyhow::ensure!(made == USERS as u64, "{made} notifications, not {USERS}");
    }
    Ok(commits)
}

async fn phase(
    db: &PgPool,
    receiver: &Receiver,
    users: &[Uuid],
    workers: &[DeliveryWorker],
    fail_ratio: f64,
    deadline: Duration,
) -> anyhow::Result<()> {
    *receiver
        .fail_ratio
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = fail_ratio;
    *receiver.seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen::default();
    let stop = CancellationToken::new();
    let tasks: Vec<_> = workers
        .iter()
        .map(|w| tokio::spawn(w.clone().run(stop.clone())))
        .collect();
    let started = Instant::now();
    let commits = commit_changes(db).await?;
    let committing = started.elapsed();
    let expected = EVENTS * USERS;
    let give_up = Instant::now() + deadline;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(db)
                .await?;
        if pending == 0 || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    for t in tasks {
        t.await?;
    }
    let mut latencies = Vec::new();
    let mut lost = 0;
    let (requests, refused) = {
        let seen = receiver.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (run, committed) in &commits {
            for user in users {
                match seen.accepted.get(&(run.to_string(), user.to_string())) {
                    Some(at) => latencies.push(at.saturating_duration_since(*committed)),
                    None => lost += 1,
                }
            }
        }
        (seen.requests, seen.refused)
    };
    latencies.sort();
    let (failed, attempts): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'failed'), coalesce(sum(attempts), 0) \
         FROM webhook_deliveries WHERE event = 'company.changed'",
    )
    .fetch_one(db)
    .await?;
    println!(
        "receiver failing {:.0} %: {expected} notifications committed in {:.2} s; accepted {} \
         (lost {lost}, given up {failed}); requests {} (refused {}), attempts recorded {attempts}",
        fail_ratio * 100.0,
        committing.as_secs_f64(),
        latencies.len(),
        requests,
        refused,
    );
    if !latencies.is_empty() {
        println!(
            "  commit -> accepted: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.90).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
        );
    }
    sqlx::query("DELETE FROM webhook_deliveries")
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM notifications").execute(db).await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    gleaner_common::install_crypto_provider();
    let url = std::env::var("DATABASE_URL")?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await?;
    MIGRATOR.run(&db).await?;
    let receiver = start_receiver().await?;
    let mut users = Vec::new();
    for _ in 0..USERS {
        let user = Uuid::new_v4();
        gleaner_app::watchlist::watch(&db, user, IDNO, Some("Alfa")).await?;
        let url = format!("{}/{user}", receiver.url);
        store::create(&db, user, &url, None, &signing::new_secret())
            .await?
            .ok_or_else(|| anyhow::anyhow!("webhook refused"))?;
        users.push(user);
    }
    let policy = Arc::new(EgressPolicy::any_host(AllowedNetworks::parse(
        "WEBHOOK_ALLOWED_NETWORKS",
        "127.0.0.0/8",
    )?));
    let registry = prometheus::Registry::new();
    let metrics = DeliveryMetrics::register(&registry)?;
    let worker = |schedule: &[Duration]| -> anyhow::Result<DeliveryWorker> {
        let client = target::client(policy.clone(), Arc::new(target::SystemResolver))?;
        Ok(DeliveryWorker::new(
            db.clone(),
            policy.clone(),
            client,
            metrics.clone(),
            16,
            Duration::from_millis(250),
        )
        .with_retry_schedule(schedule))
    };
    let real = gleaner_app::webhooks::delivery::RETRY_SCHEDULE;
    let workers = [worker(&real)?, worker(&real)?];
    phase(
        &db,
        &receiver,
        &users,
        &workers,
        0.0,
        Duration::from_secs(60),
    )
    .await?;
    let compressed = [Duration::from_millis(100); 8];
    let workers = [worker(&compressed)?, worker(&compressed)?];
    phase(
        &db,
        &receiver,
        &users,
        &workers,
        0.3,
        Duration::from_secs(120),
    )
    .await?;
    Ok(())
}

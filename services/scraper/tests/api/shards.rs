//! Sharded runs as separate `scraper run` processes sharing one run id and Redis, and
//! runs that survive faults: Redis lost, the process killed, PostgreSQL restarting, a
//! flapping site.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gleaner_demo_site::{DemoConfig, DemoSite, DemoSiteHandle, Fault, expected_company};
use gleaner_scraper::pipeline::RunSummary;
use gleaner_scraper::spec::RunSpec;
use gleaner_scraper::startup::MIGRATOR;
use gleaner_scraper::store::runs;
use gleaner_testkit::{TestPostgres, TestRedis, fresh_database};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::*;

/// `scraper run` for `spec` on `db_url` as shard `shard` (`i/N`) of `run_id`.
fn run_command(
    db_url: &str,
    spec: &RunSpec,
    run_id: Uuid,
    shard: Option<&str>,
    redis: Option<&str>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scraper"));
    cmd.arg("run")
        .envs(LOOPBACK_EGRESS)
        .env("DATABASE_URL", db_url)
        .env("SCRAPEJOB_SPEC", serde_json::to_string(spec).unwrap())
        .env("SCRAPEJOB_NAME", "sharded")
        .env("SCRAPE_RUN_ID", run_id.to_string())
        .env("TERMINATION_LOG", "/dev/null")
        .env("RUST_LOG", "warn")
        .env("OTEL_SDK_DISABLED", "true")
        .env_remove("REDIS_URL")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SCRAPE_SHARDS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(shard) = shard {
        cmd.args(["--shard", shard]);
    }
    if let Some(redis) = redis {
        cmd.env("REDIS_URL", redis);
    }
    cmd
}

/// Wait for a run process; its summary (the last stdout line).
async fn summary_of(child: tokio::process::Child) -> RunSummary {
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}): status {:?}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Run `shards` processes of one run to the end; their summaries.
async fn run_shards(
    db_url: &str,
    spec: &RunSpec,
    run_id: Uuid,
    shards: u32,
    redis: Option<&str>,
) -> Vec<RunSummary> {
    let children: Vec<_> = (0..shards)
        .map(|i| {
            run_command(db_url, spec, run_id, Some(&format!("{i}/{shards}")), redis)
                .spawn()
                .unwrap()
        })
        .collect();
    let mut summaries = Vec::new();
    for child in children {
        summaries.push(summary_of(child).await);
    }
    summaries
}

/// A fresh, migrated database.
async fn database() -> (String, PgPool) {
    let db = fresh_database().await.unwrap();
    let pool = PgPool::connect(&db.url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (db.url, pool)
}

fn spec_for(site: &DemoSiteHandle, targets: serde_json::Value, rate: f64) -> RunSpec {
    serde_json::from_value(json!({
        "baseUrl": site.url(), "apiUrl": site.url(), "targets": targets,
        "concurrency": 4, "requestsPerSecond": rate, "maxRetries": 3,
        "timeoutSeconds": 300, "respectRobotsTxt": true
    }))
    .unwrap()
}

/// How often the site was asked for each company's API document.
fn company_fetches(site: &DemoSiteHandle) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in site.requests() {
        if let Some(idno) = r.path_and_query.strip_prefix("/api/companies/") {
            *seen.entry(idno.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

fn assert_each_company_fetched_once(site: &DemoSiteHandle) {
    let fetches = company_fetches(site);
    for c in site.companies() {
        assert_eq!(fetches.get(&c.idno), Some(&1), "{} fetched once", c.idno);
    }
    assert_eq!(fetches.len(), site.companies().len());
}

/// The counters two summaries must share.
fn counts(s: &RunSummary) -> [u64; 5] {
    [
        s.pages_fetched,
        s.pages_unchanged,
        s.pages_failed,
        s.companies_created,
        s.companies_updated,
    ]
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(db)
        .await
        .unwrap()
}

/// Every company as the ground truth says, stored once, with no history and each
/// document stored once.
async fn assert_complete(db: &PgPool, site: &DemoSiteHandle) {
    assert_eq!(
        count(db, "SELECT count(*) FROM companies").await,
        site.companies().len() as i64
    );
    for c in site.companies() {
        let got = gleaner_scraper::store::companies::get(db, &c.idno)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} missing", c.idno));
        let got = strip_meta(serde_json::to_value(&got).unwrap());
        assert_eq!(got, expected_company(&c), "{}", c.idno);
    }
    assert_eq!(count(db, "SELECT count(*) FROM company_history").await, 0);
    assert_eq!(
        count(
            db,
            "SELECT count(*) - count(DISTINCT url) FROM raw_documents"
        )
        .await,
        0,
        "a document stored twice"
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM raw_documents WHERE http_status <> 200 OR parse_status <> 'parsed'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn four_shard_processes_keep_one_ceiling_and_add_up_to_a_one_pod_run() {
    gleaner_common::install_crypto_provider();
    let site = DemoSite::start(DemoConfig::new(11, 120)).await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    // Two list pages (100 + 20 companies), and 40 companies also named by IDNO (on
    // both pages): those go to the shard owning their hash, not their page's shard.
    let named: Vec<String> = site
        .companies()
        .iter()
        .step_by(3)
        .map(|c| c.idno.clone())
        .collect();
    let targets = json!({"listPages": {"from": 1, "to": 2}, "idnos": named});
    let spec = spec_for(&site, targets.clone(), 20.0);
    let (db_url, db) = database().await;
    let run_id = Uuid::new_v4();
    let shards = run_shards(&db_url, &spec, run_id, 4, Some(&redis.url())).await;
    for s in &shards {
        assert_eq!(s.status, "succeeded", "{s:?}");
        assert_eq!(s.run_id, run_id.to_string());
        assert!(s.pages_fetched > 0, "every shard has work: {s:?}");
    }
    // At the site: one polite client, every company once, every list page once.
    let peak = site.max_requests_in_window(Duration::from_secs(1));
    eprintln!(
        "4 shards at 20/s: {} requests, at most {peak} in one second",
        site.requests().len()
    );
    assert!(peak <= 20, "{peak} requests in one second at 20/s");
    assert_each_company_fetched_once(&site);
    let list_fetches = site
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/companies?"))
        .count();
    assert_eq!(list_fetches, 2);
    assert_complete(&db, &site).await;
    // The run adds its shards up, and so does the operator's rule.
    let combined = RunSummary::combine(&shards).unwrap();
    assert_eq!(combined.status, "succeeded");
    let run = runs::get(&db, run_id).await.unwrap().unwrap();
    assert_eq!(run.status, "succeeded");
    assert!(run.finished_at.is_some());
    assert_eq!(
        [
            run.pages_fetched,
            run.pages_unchanged,
            run.pages_failed,
            run.companies_created,
            run.companies_updated
        ]
        .map(|n| n as u64),
        counts(&combined)
    );
    assert_eq!(count(&db, "SELECT count(*) FROM scrape_runs").await, 1);

    // One pod, politeness off, on a fresh database: the same counts.
    site.clear_requests();
    let (one_url, _one_db) = database().await;
    let fast = spec_for(&site, targets, 100.0);
    let one = run_shards(&one_url, &fast, Uuid::new_v4(), 1, None).await;
    assert_eq!(counts(&one[0]), counts(&combined));
    assert_eq!(combined.companies_created, 120);
}

#[tokio::test]
async fn shards_losing_redis_keep_the_ceiling_at_their_share_and_lose_nothing() {
    gleaner_common::install_crypto_provider();
    let site = DemoSite::start(DemoConfig::new(12, 60)).await.unwrap();
    let mut redis = TestRedis::start().await.unwrap();
    let named: Vec<String> = site.companies().iter().map(|c| c.idno.clone()).collect();
    let spec = spec_for(&site, json!({"idnos": named}), 20.0);
    let (db_url, db) = database().await;
    let run_id = Uuid::new_v4();
    let redis_url = redis.url();
    let children: Vec<_> = (0..4)
        .map(|i| {
            run_command(
                &db_url,
                &spec,
                run_id,
                Some(&format!("{i}/4")),
                Some(&redis_url),
            )
            .spawn()
            .unwrap()
        })
        .collect();
    // Redis goes away mid-run, for good.
    gleaner_testkit::eventually(Duration::from_secs(30), || async {
        (site.requests().len() >= 30).then_some(())
    })
    .await
    .unwrap();
    redis.stop();
    let before = site.requests().len();
    let mut shards = Vec::new();
    for child in children {
        shards.push(summary_of(child).await);
    }
    assert!(
        site.requests().len() > before + 20,
        "work went on without Redis"
    );
    for s in &shards {
        assert_eq!(s.status, "succeeded", "{s:?}");
    }
    let peak = site.max_requests_in_window(Duration::from_secs(1));
    eprintln!(
        "4 shards at 20/s losing Redis: {} requests, at most {peak} in one second",
        site.requests().len()
    );
    assert!(peak <= 20, "{peak} requests in one second at 20/s");
    assert_each_company_fetched_once(&site);
    assert_complete(&db, &site).await;
    let combined = RunSummary::combine(&shards).unwrap();
    assert_eq!(combined.companies_created, 60);
    assert_eq!(combined.pages_failed, 0);
}

#[tokio::test]
async fn a_run_killed_and_started_again_with_its_id_resumes_without_duplicates() {
    gleaner_common::install_crypto_provider();
    let site = DemoSite::start(DemoConfig::new(13, 60)).await.unwrap();
    let spec = spec_for(&site, json!({"listPages": {"from": 1, "to": 1}}), 50.0);
    let (db_url, db) = database().await;
    let run_id = Uuid::new_v4();
    let mut first = run_command(&db_url, &spec, run_id, None, None)
        .spawn()
        .unwrap();
    gleaner_testkit::eventually(Duration::from_secs(30), || async {
        (count(&db, "SELECT count(*) FROM companies").await >= 15).then_some(())
    })
    .await
    .unwrap();
    // SIGKILL: no chance to record anything more.
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let partial = count(&db, "SELECT count(*) FROM companies").await;
    assert!(partial < 60, "killed before the end ({partial})");
    let killed = runs::get(&db, run_id).await.unwrap().unwrap();
    assert_eq!(killed.status, "running");

    let again = summary_of(
        run_command(&db_url, &spec, run_id, None, None)
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, "succeeded", "{again:?}");
    assert_complete(&db, &site).await;
    // Counters went on from where they were: each company counted once over both
    // processes, as a run never stopped would count them.
    let (ref_url, _ref_db) = database().await;
    let reference = run_shards(&ref_url, &spec, Uuid::new_v4(), 1, None).await;
    let reference = &reference[0];
    assert_eq!(again.companies_created, 60);
    assert_eq!(again.pages_fetched, reference.pages_fetched);
    assert_eq!(again.pages_failed, reference.pages_failed);
    // Documents of companies in flight at the kill are fetched again (and found
    // unchanged): at most one company per request in flight, two documents each.
    assert!(again.pages_unchanged <= 8, "{again:?}");
    let run = runs::get(&db, run_id).await.unwrap().unwrap();
    assert_eq!(run.status, "succeeded");
    assert_eq!(run.companies_created, 60);
    assert_eq!(run.pages_fetched as u64, again.pages_fetched);
    // The list page was read back from its stored copy, not fetched again.
    let list_fetches = site
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/companies?"))
        .count();
    assert_eq!(
        list_fetches, 2,
        "once per run: the killed one and the reference"
    );

    // A finished run keeps its counts on its shard rows, not as tally rows, and no list
    // of what a resume would skip.
    let left = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(run_id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        left("SELECT count(*) FROM scrape_run_tally WHERE run_id = $1").await,
        0
    );
    assert_eq!(
        left("SELECT count(*) FROM scrape_run_done WHERE run_id = $1").await,
        0
    );
    // Started once more with its id, the succeeded run fetches nothing and counts the same.
    let requests = site.requests().len();
    let third = summary_of(
        run_command(&db_url, &spec, run_id, None, None)
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(third.status, "succeeded", "{third:?}");
    assert_eq!(
        (
            third.pages_fetched,
            third.companies_created,
            third.pages_unchanged
        ),
        (
            again.pages_fetched,
            again.companies_created,
            again.pages_unchanged
        )
    );
    assert_eq!(site.requests().len(), requests, "nothing fetched again");
    assert_eq!(count(&db, "SELECT count(*) FROM companies").await, 60);
}

#[tokio::test]
async fn postgres_restarting_mid_run_loses_nothing_and_the_run_completes() {
    let pg = TestPostgres::start().await.unwrap();
    let site = Arc::new(DemoSite::start(DemoConfig::new(14, 40)).await.unwrap());
    let app = spawn_app_with(0, |p| p, Some((pg.url(), site.clone()))).await;
    let mut spec = app.spec();
    spec.requests_per_second = 30.0;
    spec.concurrency = 2;
    let run_id = Uuid::new_v4();
    let scrape = |spec: RunSpec| {
        let pipeline = app.state.pipeline.clone();
        tokio::spawn(async move {
            pipeline
                .scrape(run_id, "test", &spec, CancellationToken::new())
                .await
        })
    };
    let companies = |url: String| async move {
        let db = PgPool::connect(&url).await.ok()?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
            .fetch_one(&db)
            .await
            .ok()?;
        db.close().await;
        Some(n)
    };
    let run = scrape(spec.clone());
    gleaner_testkit::eventually(Duration::from_secs(30), || async {
        companies(pg.url()).await.filter(|n| *n >= 5).map(|_| ())
    })
    .await
    .unwrap();
    pg.stop();
    pg.restart().await.unwrap();
    // The run either got through the restart or failed saying why.
    match run.await.unwrap() {
        Ok(summary) if summary.status == "succeeded" => {}
        Ok(summary) => {
            assert_eq!(summary.status, "failed");
            assert!(
                summary
                    .failure
                    .as_deref()
                    .unwrap_or("")
                    .contains("database"),
                "{summary:?}"
            );
        }
        Err(e) => assert!(
            format!("{e:#}").contains("database") || format!("{e:#}").contains("pool"),
            "{e:#}"
        ),
    }
    // Started again with its id, it completes what is missing.
    let again = gleaner_testkit::eventually(Duration::from_secs(60), || async {
        match scrape(spec.clone()).await {
            Ok(Ok(s)) if s.status == "succeeded" => Some(s),
            _ => None,
        }
    })
    .await
    .unwrap();
    assert_eq!(again.companies_created, 40, "{again:?}");
    let db = PgPool::connect(&pg.url()).await.unwrap();
    assert_complete(&db, &site).await;
    let recorded = runs::get(&db, run_id).await.unwrap().unwrap();
    assert_eq!(recorded.status, "succeeded");
    assert_eq!(recorded.companies_created, 40);
}

#[tokio::test]
async fn a_flapping_site_is_retried_within_max_retries_and_failures_are_counted() {
    // 429s, 503s, 500s and answers slower than the request timeout, every few requests:
    // retried, and nothing lost or stored wrong.
    let app = spawn_app_with(
        40,
        |p| p.with_request_timeout(Duration::from_millis(1500)),
        None,
    )
    .await;
    let mut spec = app.spec();
    // The most retries a spec allows: on a loaded machine an ordinary answer can also
    // pass the 1.5 s timeout, and a document must not fail on that bad luck on top of
    // the faults injected below.
    spec.max_retries = gleaner_scrapejob::limits::MAX_RETRIES_MAX;
    // robots.txt answers 429 twice first: retried too (every request counts).
    app.site.fail_next(
        2,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
    );
    app.site
        .set_fault_ratio("/api/companies/", Fault::ServiceUnavailable, 4);
    app.site
        .set_fault_ratio("/api/fin-data-v1/", Fault::Timeout { secs: 4 }, 5);
    // Then the list page answers 500 once.
    app.site.fail_next(1, Fault::ServerError);
    let summary = app.scrape(&spec).await;
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.pages_failed, 0);
    assert_eq!(summary.companies_created, 40);
    let requests = app.site.requests();
    let status = |code: u16| requests.iter().filter(|r| r.status == code).count();
    let flapped = [status(429), status(503), status(500)];
    assert!(
        flapped[0] >= 2 && flapped[1] >= 10 && flapped[2] >= 1,
        "429, 503, 500: {flapped:?}"
    );
    // Every 5th financials request hangs past the timeout (the site logs only answers
    // that reached us): all years stored and nothing failed means each was retried.
    assert_complete(&app.db, &app.site).await;
    assert_eq!(app.count("SELECT count(*) FROM financials").await, {
        let years: usize = app
            .site
            .companies()
            .iter()
            .map(|c| {
                gleaner_demo_site::expected_financials(c)
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .sum();
        years as i64
    });

    // No retries: every faulty answer is one failed document, counted and listed, and
    // a company whose record never arrived is not written.
    let app = spawn_app(40).await;
    let mut spec = app.spec();
    spec.max_retries = 0;
    spec.respect_robots_txt = false;
    app.site
        .set_fault_ratio("/api/companies/", Fault::ServiceUnavailable, 4);
    app.site.set_fault_ratio(
        "/api/fin-data-v1/",
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
        3,
    );
    let summary = app.scrape(&spec).await;
    let requests = app.site.requests();
    let failed: Vec<_> = requests
        .iter()
        .filter(|r| matches!(r.status, 429 | 503))
        .collect();
    assert_eq!(summary.pages_failed as usize, failed.len());
    let lost = failed
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/companies/"))
        .count();
    assert_eq!(
        app.count("SELECT count(*) FROM companies").await,
        40 - lost as i64
    );
    assert_eq!(
        app.count("SELECT count(*) FROM raw_documents WHERE http_status <> 200")
            .await,
        0
    );
    let run = runs::get(&app.db, summary.run_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<&str> = run
        .errors
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), failed.len());
    assert!(kinds.iter().all(|k| *k == "http_503" || *k == "http_429"));
}

#[tokio::test]
async fn the_shared_limit_falls_back_to_memory_and_returns_to_redis_when_it_answers() {
    use fred::interfaces::{ClientLike as _, KeysInterface as _};
    use gleaner_scraper::limit::{HostLimiter, PREFIX};
    use gleaner_scraper::metrics::ScraperMetrics;

    let mut redis = TestRedis::start().await.unwrap();
    let pool = gleaner_common::redis::connect(&redis.url(), 1)
        .await
        .unwrap();
    pool.wait_for_connect().await.unwrap();
    let registry = prometheus::Registry::new();
    let metrics = ScraperMetrics::register(&registry).unwrap();
    let run = Uuid::new_v4();
    let limiter = HostLimiter::shared(pool.clone(), run, 100.0, 4, metrics, "openmoney").unwrap();
    let local_count = || {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "scraper_ratelimit_local_total")
            .map_or(0.0, |f| f.get_metric()[0].get_counter().get_value())
    };
    limiter.until_ready("http://site:80").await;
    assert!(!limiter.is_local());
    let key = format!("{PREFIX}{run}:http://site:80");
    let exists: i64 = pool.exists(&key).await.unwrap();
    assert_eq!(exists, 1, "the run's key for the host is in Redis");
    assert_eq!(local_count(), 0.0);

    redis.stop();
    limiter.until_ready("http://site:80").await;
    assert!(limiter.is_local());
    assert_eq!(local_count(), 1.0);

    redis.restart().await.unwrap();
    gleaner_testkit::eventually(Duration::from_secs(30), || async {
        limiter.until_ready("http://site:80").await;
        (!limiter.is_local()).then_some(())
    })
    .await
    .unwrap();
    let exists: i64 = pool.exists(&key).await.unwrap();
    assert_eq!(exists, 1, "counted in Redis again");
}

#[tokio::test]
async fn a_run_is_running_until_every_shard_finished_and_fails_when_one_failed() {
    use gleaner_scrapejob::{RunStatus, Shard};
    use gleaner_scraper::store::runs::{Counters, RunKind};

    let (_url, db) = database().await;
    let id = Uuid::new_v4();
    runs::create(&db, id, "job", RunKind::Scrape, &json!({}))
        .await
        .unwrap();
    let shard = |i| Shard::new(i, 3).unwrap();
    for i in 0..2 {
        let start = runs::start_shard(&db, id, shard(i)).await.unwrap();
        assert!(!start.resumed);
    }
    let pages = |n| Counters {
        pages_fetched: n,
        pages_failed: 1,
        ..Counters::default()
    };
    let error = |kind: &str| runs::RunError {
        url: "http://site/x".into(),
        kind: kind.into(),
        message: "m".into(),
    };
    assert!(
        runs::commit(&db, id, shard(0), Some("a"), &pages(5), &[error("a")])
            .await
            .unwrap()
    );
    // Done already: counted once.
    assert!(
        !runs::commit(&db, id, shard(0), Some("a"), &pages(5), &[error("a")])
            .await
            .unwrap()
    );
    assert!(
        runs::commit(&db, id, shard(1), Some("b"), &pages(7), &[error("b")])
            .await
            .unwrap()
    );
    runs::finish_shard(&db, id, shard(0), RunStatus::Succeeded, None)
        .await
        .unwrap();
    let run = runs::get(&db, id).await.unwrap().unwrap();
    // Shard 1 still runs, shard 2 has not started: running.
    assert_eq!(run.status, "running");
    assert_eq!(run.finished_at, None);
    assert_eq!((run.pages_fetched, run.pages_failed), (12, 2));
    assert_eq!(run.errors.as_array().map(Vec::len), Some(2));
    runs::finish_shard(&db, id, shard(1), RunStatus::Failed, Some("timed out"))
        .await
        .unwrap();
    assert_eq!(
        runs::get(&db, id).await.unwrap().unwrap().status,
        "running",
        "shard 2 has not run"
    );
    // The last shard starts (a resume of the run for it: counters kept for the others).
    let start = runs::start_shard(&db, id, shard(2)).await.unwrap();
    assert!(!start.resumed);
    let again = runs::start_shard(&db, id, shard(0)).await.unwrap();
    assert!(again.resumed);
    assert_eq!(again.counters.pages_fetched, 5);
    assert_eq!(runs::done_items(&db, id).await.unwrap().len(), 2);
    runs::finish_shard(&db, id, shard(0), RunStatus::Succeeded, None)
        .await
        .unwrap();
    runs::finish_shard(&db, id, shard(2), RunStatus::Succeeded, None)
        .await
        .unwrap();
    let run = runs::get(&db, id).await.unwrap().unwrap();
    assert_eq!(run.status, "failed");
    assert!(run.finished_at.is_some());
    assert_eq!(run.pages_fetched, 12);
}

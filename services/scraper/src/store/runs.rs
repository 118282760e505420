//! Scrape runs: one row per run, and one per shard of it (a run that is not sharded has
//! one, shard 0) holding that shard's counters and errors, added up when a run is read.

use chrono::{DateTime, Utc};
use gleaner_scrapejob::{RunStatus, RunSummary, Shard};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

/// One error of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunError {
    /// The document's URL.
    pub url: String,
    /// `http_503`, `timeout`, `parse`, `disallowed`, ...
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counters {
    /// Documents received (including unchanged ones).
    pub pages_fetched: i32,
    /// Documents that had not changed since the last fetch.
    pub pages_unchanged: i32,
    /// Documents that could not be fetched or transformed.
    pub pages_failed: i32,
    /// Documents not fetched on purpose (robots.txt disallows them): not failures.
    pub pages_skipped: i32,
    /// New companies.
    pub companies_created: i32,
    /// Companies with at least one changed field.
    pub companies_updated: i32,
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Fetch, store and transform documents.
    Scrape,
    /// Transform stored documents again, with no fetching.
    Transform,
}

impl RunKind {
    /// Name stored in the run row.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scrape => "scrape",
            RunKind::Transform => "transform",
        }
    }
}

/// A run as the API shows it (`GET /api/v1/scrape-runs/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScrapeRun {
    /// Run id.
    pub id: Uuid,
    /// The scrape job (or `transform`).
    pub job: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: RunStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Documents received.
    pub pages_fetched: i32,
    /// Unchanged documents.
    pub pages_unchanged: i32,
    /// Failed documents.
    pub pages_failed: i32,
    /// Documents not fetched on purpose (robots.txt disallows them); not failures.
    pub pages_skipped: i32,
    /// New companies.
    pub companies_created: i32,
    /// Changed companies.
    pub companies_updated: i32,
    /// Errors, at most the first 200.
    #[schema(value_type = Vec<RunError>)]
    pub errors: Value,
}

impl<'r> sqlx::FromRow<'r, PgRow> for ScrapeRun {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let status: String = row.try_get("status")?;
        Ok(Self {
            id: row.try_get("id")?,
            job: row.try_get("job")?,
            status: status
                .parse()
                .map_err(|e: String| sqlx::Error::ColumnDecode {
                    index: "status".into(),
                    source: e.into(),
                })?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            pages_fetched: row.try_get("pages_fetched")?,
            pages_unchanged: row.try_get("pages_unchanged")?,
            pages_failed: row.try_get("pages_failed")?,
            pages_skipped: row.try_get("pages_skipped")?,
            companies_created: row.try_get("companies_created")?,
            companies_updated: row.try_get("companies_updated")?,
            errors: row.try_get("errors")?,
        })
    }
}

/// A run's columns; the counters and errors of a run with shard rows are theirs added up.
const COLUMNS: &str = "r.id, r.job, r.status, r.started_at, r.finished_at, \
    COALESCE(s.pages_fetched, r.pages_fetched) AS pages_fetched, \
    COALESCE(s.pages_unchanged, r.pages_unchanged) AS pages_unchanged, \
    COALESCE(s.pages_failed, r.pages_failed) AS pages_failed, \
    COALESCE(s.pages_skipped, r.pages_skipped) AS pages_skipped, \
    COALESCE(s.companies_created, r.companies_created) AS companies_created, \
    COALESCE(s.companies_updated, r.companies_updated) AS companies_updated, \
    COALESCE(s.errors, r.errors) AS errors";

/// Runs with their shards added up (none: the run row's own counters); a shard's counters
/// are its row's plus its tally rows'.
const FROM: &str = "scrape_runs r LEFT JOIN LATERAL ( \
    SELECT (sum(x.pages_fetched) + COALESCE(tl.pages_fetched, 0))::int AS pages_fetched, \
      (sum(x.pages_unchanged) + COALESCE(tl.pages_unchanged, 0))::int AS pages_unchanged, \
      (sum(x.pages_failed) + COALESCE(tl.pages_failed, 0))::int AS pages_failed, \
      (sum(x.pages_skipped) + COALESCE(tl.pages_skipped, 0))::int AS pages_skipped, \
      (sum(x.companies_created) + COALESCE(tl.companies_created, 0))::int AS companies_created, \
      (sum(x.companies_updated) + COALESCE(tl.companies_updated, 0))::int AS companies_updated, \
      (SELECT COALESCE(jsonb_agg(e.err ORDER BY e.shard, e.n), '[]'::jsonb) FROM ( \
         SELECT y.shard, t.err, t.n FROM scrape_run_shards y, jsonb_array_elements(y.errors) WITH ORDINALITY AS t(err, n) \
         WHERE y.run_id = r.id ORDER BY y.shard, t.n LIMIT 200) e) AS errors \
    FROM scrape_run_shards x LEFT JOIN LATERAL ( \
      SELECT sum(pages_fetched) AS pages_fetched, sum(pages_unchanged) AS pages_unchanged, \
        sum(pages_failed) AS pages_failed, sum(pages_skipped) AS pages_skipped, \
        sum(companies_created) AS companies_created, sum(companies_updated) AS companies_updated \
      FROM scrape_run_tally WHERE run_id = r.id) tl ON true \
    WHERE x.run_id = r.id \
    GROUP BY tl.pages_fetched, tl.pages_unchanged, tl.pages_failed, tl.pages_skipped, \
      tl.companies_created, tl.companies_updated \
    HAVING count(*) > 0) s ON true";

/// Create a queued run, or leave an existing one with this id alone (resume); true when
/// this call created it.
pub async fn create(
    db: &PgPool,
    id: Uuid,
    job: &str,
    kind: RunKind,
    spec: &Value,
) -> sqlx::Result<bool> {
    sqlx::query(
        "INSERT INTO scrape_runs (id, job, kind, status, spec) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(job)
    .bind(kind.as_str())
    .bind(RunStatus::Queued.as_str())
    .bind(spec)
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// What a shard starts from: nothing, or what it did before it was stopped.
#[derive(Debug, Clone, Default)]
pub struct ShardStart {
    /// Counters so far (zero for a new shard).
    pub counters: Counters,
    /// Errors listed so far.
    pub errors: usize,
    /// Whether the shard had run before (a resume).
    pub resumed: bool,
    /// Whether the shard had succeeded before: a run started again with its id after
    /// it ended has nothing left to do there.
    pub succeeded_before: bool,
}

fn shard_no(shard: Shard) -> i32 {
    i32::try_from(shard.index()).unwrap_or(i32::MAX)
}

/// Mark the run and this shard of it running. A shard started again keeps its counters
/// and errors: what it does now adds to them.
pub async fn start_shard(db: &PgPool, id: Uuid, shard: Shard) -> sqlx::Result<ShardStart> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE scrape_runs SET status = $2, started_at = COALESCE(started_at, now()), \
           finished_at = NULL, failure = NULL, heartbeat_at = now(), shards = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(RunStatus::Running.as_str())
    .bind(i32::try_from(shard.count()).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    // The run's row first, then the shard's, as in finish_shard.
    let before: Option<String> = sqlx::query_scalar(
        "SELECT status FROM scrape_run_shards WHERE run_id = $1 AND shard = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(shard_no(shard))
    .fetch_optional(&mut *tx)
    .await?;
    let row = sqlx::query(
        "INSERT INTO scrape_run_shards (run_id, shard, status) VALUES ($1, $2, $3) \
         ON CONFLICT (run_id, shard) DO UPDATE SET status = $3, finished_at = NULL, failure = NULL, \
           heartbeat_at = now() \
         RETURNING pages_fetched, pages_unchanged, pages_failed, pages_skipped, companies_created, \
           companies_updated, jsonb_array_length(errors) AS errors, (xmax <> 0) AS resumed",
    )
    .bind(id)
    .bind(shard_no(shard))
    .bind(RunStatus::Running.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let tally = sqlx::query(
        "SELECT COALESCE(sum(pages_fetched), 0)::int AS pages_fetched, \
           COALESCE(sum(pages_unchanged), 0)::int AS pages_unchanged, \
           COALESCE(sum(pages_failed), 0)::int AS pages_failed, \
           COALESCE(sum(pages_skipped), 0)::int AS pages_skipped, \
           COALESCE(sum(companies_created), 0)::int AS companies_created, \
           COALESCE(sum(companies_updated), 0)::int AS companies_updated \
         FROM scrape_run_tally WHERE run_id = $1 AND shard = $2",
    )
    .bind(id)
    .bind(shard_no(shard))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let (own, tally) = (counters_of(&row)?, counters_of(&tally)?);
    Ok(ShardStart {
        counters: Counters {
            pages_fetched: own.pages_fetched + tally.pages_fetched,
            pages_unchanged: own.pages_unchanged + tally.pages_unchanged,
            pages_failed: own.pages_failed + tally.pages_failed,
            pages_skipped: own.pages_skipped + tally.pages_skipped,
            companies_created: own.companies_created + tally.companies_created,
            companies_updated: own.companies_updated + tally.companies_updated,
        },
        errors: usize::try_from(row.try_get::<i32, _>("errors")?).unwrap_or(0),
        resumed: row.try_get("resumed")?,
        succeeded_before: before.as_deref() == Some(RunStatus::Succeeded.as_str()),
    })
}

fn counters_of(row: &PgRow) -> sqlx::Result<Counters> {
    Ok(Counters {
        pages_fetched: row.try_get("pages_fetched")?,
        pages_unchanged: row.try_get("pages_unchanged")?,
        pages_failed: row.try_get("pages_failed")?,
        pages_skipped: row.try_get("pages_skipped")?,
        companies_created: row.try_get("companies_created")?,
        companies_updated: row.try_get("companies_updated")?,
    })
}

/// What a run has finished already (`done` items: IDNOs and list page URLs).
pub async fn done_items(db: &PgPool, id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT item FROM scrape_run_done WHERE run_id = $1")
        .bind(id)
        .fetch_all(db)
        .await
}

/// Add the page counters of finished work (and its errors) to the shard's row, and
/// note `done` as finished, in one transaction. When `done` was finished already
/// nothing is added and false is returned. Company counters are not added here: the
/// company's own write counts them ([`count_company`]).
pub async fn commit(
    db: &PgPool,
    id: Uuid,
    shard: Shard,
    done: Option<&str>,
    delta: &Counters,
    errors: &[RunError],
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    if let Some(item) = done {
        let inserted = sqlx::query(
            "INSERT INTO scrape_run_done (run_id, item) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(item)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO scrape_run_tally (run_id, shard, pages_fetched, pages_unchanged, pages_failed, \
           pages_skipped) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(shard_no(shard))
    .bind(delta.pages_fetched)
    .bind(delta.pages_unchanged)
    .bind(delta.pages_failed)
    .bind(delta.pages_skipped)
    .execute(&mut *tx)
    .await?;
    // Errors are rare: only work that had some touches the shard's row.
    if !errors.is_empty() {
        sqlx::query(
            "UPDATE scrape_run_shards SET errors = errors || $3 WHERE run_id = $1 AND shard = $2",
        )
        .bind(id)
        .bind(shard_no(shard))
        .bind(serde_json::to_value(errors).unwrap_or_else(|_| Value::Array(vec![])))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// One company written by shard `shard` of run `id`: counted in the transaction `tx`
/// that wrote it, so a run stopped at any point counts it exactly once.
pub async fn count_company(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    shard: u32,
    created: bool,
) -> sqlx::Result<()> {
    let (created, updated) = if created { (1, 0) } else { (0, 1) };
    sqlx::query(
        "INSERT INTO scrape_run_tally (run_id, shard, companies_created, companies_updated) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(i32::try_from(shard).unwrap_or(i32::MAX))
    .bind(created)
    .bind(updated)
    .execute(tx)
    .await?;
    Ok(())
}

/// Note that the shard (and so the run) is alive.
pub async fn heartbeat(db: &PgPool, id: Uuid, shard: Shard) -> sqlx::Result<()> {
    sqlx::query(
        "WITH s AS (UPDATE scrape_run_shards SET heartbeat_at = now() WHERE run_id = $1 AND shard = $2) \
         UPDATE scrape_runs SET heartbeat_at = now() WHERE id = $1 AND status = $3",
    )
    .bind(id)
    .bind(shard_no(shard))
    .bind(RunStatus::Running.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// A shard as recorded.
#[derive(Debug, Clone)]
pub struct ShardRecord {
    /// Its status.
    pub status: RunStatus,
    /// Its counters.
    pub counters: Counters,
    /// When it first started.
    pub started_at: DateTime<Utc>,
    /// When it last finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure: Option<String>,
}

impl ShardRecord {
    /// The shard as a run summary.
    pub fn summary(&self, run_id: Uuid) -> RunSummary {
        let count = |n: i32| u64::try_from(n).unwrap_or(0);
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        RunSummary {
            run_id: run_id.to_string(),
            status: self.status,
            started_at: Some(stamp(self.started_at)),
            finished_at: self.finished_at.map(stamp),
            pages_fetched: count(self.counters.pages_fetched),
            pages_unchanged: count(self.counters.pages_unchanged),
            pages_failed: count(self.counters.pages_failed),
            pages_skipped: count(self.counters.pages_skipped),
            companies_created: count(self.counters.companies_created),
            companies_updated: count(self.counters.companies_updated),
            failure: self.failure.clone(),
        }
    }
}

/// Mark the shard finished with `status`, and the run with what its shards come to:
/// running until every shard has finished, then [`RunSummary::combine`]'s verdict
/// (failed when one failed). Returns the shard as recorded.
pub async fn finish_shard(
    db: &PgPool,
    id: Uuid,
    shard: Shard,
    status: RunStatus,
    failure: Option<&str>,
) -> sqlx::Result<ShardRecord> {
    let mut tx = db.begin().await?;
    // One shard at a time decides the run's status.
    let shards: Option<i32> =
        sqlx::query_scalar("SELECT shards FROM scrape_runs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "UPDATE scrape_run_shards SET status = $3, failure = $4, finished_at = now(), heartbeat_at = now() \
         WHERE run_id = $1 AND shard = $2",
    )
    .bind(id)
    .bind(shard_no(shard))
    .bind(status.as_str())
    .bind(failure)
    .execute(&mut *tx)
    .await?;
    // The shard's work is over: its tally rows are folded into its own row, so finished
    // runs keep no tally rows (a shard started again adds new ones on top).
    sqlx::query(
        "WITH t AS (DELETE FROM scrape_run_tally WHERE run_id = $1 AND shard = $2 \
           RETURNING pages_fetched, pages_unchanged, pages_failed, pages_skipped, companies_created, \
             companies_updated), \
         s AS (SELECT COALESCE(sum(pages_fetched), 0)::int AS pages_fetched, \
           COALESCE(sum(pages_unchanged), 0)::int AS pages_unchanged, \
           COALESCE(sum(pages_failed), 0)::int AS pages_failed, \
           COALESCE(sum(pages_skipped), 0)::int AS pages_skipped, \
           COALESCE(sum(companies_created), 0)::int AS companies_created, \
           COALESCE(sum(companies_updated), 0)::int AS companies_updated FROM t) \
         UPDATE scrape_run_shards x SET pages_fetched = x.pages_fetched + s.pages_fetched, \
           pages_unchanged = x.pages_unchanged + s.pages_unchanged, \
           pages_failed = x.pages_failed + s.pages_failed, \
           pages_skipped = x.pages_skipped + s.pages_skipped, \
           companies_created = x.companies_created + s.companies_created, \
           companies_updated = x.companies_updated + s.companies_updated \
         FROM s WHERE x.run_id = $1 AND x.shard = $2",
    )
    .bind(id)
    .bind(shard_no(shard))
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT x.shard, x.status, x.started_at, x.finished_at, x.failure, \
           (x.pages_fetched + COALESCE(t.pages_fetched, 0))::int AS pages_fetched, \
           (x.pages_unchanged + COALESCE(t.pages_unchanged, 0))::int AS pages_unchanged, \
           (x.pages_failed + COALESCE(t.pages_failed, 0))::int AS pages_failed, \
           (x.pages_skipped + COALESCE(t.pages_skipped, 0))::int AS pages_skipped, \
           (x.companies_created + COALESCE(t.companies_created, 0))::int AS companies_created, \
           (x.companies_updated + COALESCE(t.companies_updated, 0))::int AS companies_updated \
         FROM scrape_run_shards x LEFT JOIN LATERAL ( \
           SELECT sum(pages_fetched) AS pages_fetched, sum(pages_unchanged) AS pages_unchanged, \
             sum(pages_failed) AS pages_failed, sum(pages_skipped) AS pages_skipped, \
             sum(companies_created) AS companies_created, sum(companies_updated) AS companies_updated \
           FROM scrape_run_tally WHERE run_id = x.run_id AND shard = x.shard) t ON true \
         WHERE x.run_id = $1 ORDER BY x.shard",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let mut summaries = Vec::with_capacity(rows.len());
    let mut mine = None;
    for row in &rows {
        let status: String = row.try_get("status")?;
        let record = ShardRecord {
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            counters: counters_of(row)?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            failure: row.try_get("failure")?,
        };
        summaries.push(record.summary(id));
        if row.try_get::<i32, _>("shard")? == shard_no(shard) {
            mine = Some(record);
        }
    }
    // Shards that never started are queued: the run is not over.
    let expected = usize::try_from(shards.unwrap_or(1)).unwrap_or(1);
    let queued = RunSummary::new(id.to_string(), RunStatus::Queued);
    let missing = expected.saturating_sub(summaries.len());
    let mut run = RunSummary::combine(
        summaries
            .iter()
            .chain(std::iter::repeat_n(&queued, missing)),
    );
    // The run shows running until its last shard has finished.
    if let Some(run) = run.as_mut()
        && (missing > 0 || summaries.iter().any(|s| !s.status.is_final()))
    {
        run.status = RunStatus::Running;
        run.failure = None;
    }
    if let Some(run) = &run {
        sqlx::query(
            "UPDATE scrape_runs SET status = $2, failure = $3, \
               finished_at = CASE WHEN $4 THEN now() ELSE NULL END, heartbeat_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(run.status.as_str())
        .bind(run.failure.as_deref())
        .bind(run.status.is_final())
        .execute(&mut *tx)
        .await?;
        // What a resume would skip matters only until the run has succeeded: started
        // again with its id, each of its shards then has nothing to do.
        if run.status == RunStatus::Succeeded {
            sqlx::query("DELETE FROM scrape_run_done WHERE run_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    mine.ok_or(sqlx::Error::RowNotFound)
}

/// One run.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ScrapeRun>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A page of runs, newest first.
pub async fn list(
    db: &PgPool,
    job: Option<&str>,
    status: Option<RunStatus>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ScrapeRun>, i64)> {
    let filter = "($1::text IS NULL OR r.job = $1) AND ($2::text IS NULL OR r.status = $2)";
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE {filter} ORDER BY r.created_at DESC, r.id LIMIT $3 OFFSET $4"
    )))
    .bind(job)
    .bind(status.map(RunStatus::as_str))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM scrape_runs r WHERE {filter}"
    )))
    .bind(job)
    .bind(status.map(RunStatus::as_str))
    .fetch_one(db)
    .await?;
    Ok((items, total))
}

/// Runs left `running` by a process that died (no heartbeat for `stale_secs`): failed.
pub async fn fail_stale(db: &PgPool, stale_secs: i64) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "UPDATE scrape_runs SET status = $2, failure = 'the run stopped responding', finished_at = now() \
         WHERE status = $3 AND heartbeat_at < now() - make_interval(secs => $1)",
    )
    .bind(stale_secs as f64)
    .bind(RunStatus::Failed.as_str())
    .bind(RunStatus::Running.as_str())
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

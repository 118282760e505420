//! Scrape runs: one row per run, counters updated as it goes.

use chrono::{DateTime, Utc};
use gleaner_scrapejob::RunStatus;
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

/// A run as the API shows it (contract §6).
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
            companies_created: row.try_get("companies_created")?,
            companies_updated: row.try_get("companies_updated")?,
            errors: row.try_get("errors")?,
        })
    }
}

const COLUMNS: &str = "id, job, status, started_at, finished_at, pages_fetched, pages_unchanged, \
    pages_failed, companies_created, companies_updated, errors";

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

/// Mark running. A restarted run starts its counters afresh; the data it
/// stored before is found again as unchanged documents.
pub async fn start(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE scrape_runs SET status = $2, started_at = COALESCE(started_at, now()), \
           finished_at = NULL, failure = NULL, heartbeat_at = now(), pages_fetched = 0, pages_unchanged = 0, \
           pages_failed = 0, companies_created = 0, companies_updated = 0, errors = '[]' WHERE id = $1",
    )
    .bind(id)
    .bind(RunStatus::Running.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Write the counters and errors so far.
pub async fn progress(
    db: &PgPool,
    id: Uuid,
    c: &Counters,
    errors: &[RunError],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE scrape_runs SET pages_fetched = $2, pages_unchanged = $3, pages_failed = $4, \
           companies_created = $5, companies_updated = $6, errors = $7, heartbeat_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(c.pages_fetched)
    .bind(c.pages_unchanged)
    .bind(c.pages_failed)
    .bind(c.companies_created)
    .bind(c.companies_updated)
    .bind(serde_json::to_value(errors).unwrap_or_default())
    .execute(db)
    .await?;
    Ok(())
}

/// Note that the run is alive (between progress writes).
pub async fn heartbeat(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE scrape_runs SET heartbeat_at = now() WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(RunStatus::Running.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Mark finished with `status` (`succeeded`, `failed` or `cancelled`).
pub async fn finish(
    db: &PgPool,
    id: Uuid,
    status: RunStatus,
    failure: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE scrape_runs SET status = $2, failure = $3, finished_at = now(), heartbeat_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(failure)
    .execute(db)
    .await?;
    Ok(())
}

/// One run.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ScrapeRun>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scrape_runs WHERE id = $1"
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
    let filter = "($1::text IS NULL OR job = $1) AND ($2::text IS NULL OR status = $2)";
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scrape_runs WHERE {filter} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    )))
    .bind(job)
    .bind(status.map(RunStatus::as_str))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM scrape_runs WHERE {filter}"
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

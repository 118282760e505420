//! Watchlists and notifications in the app's database.

use chrono::{DateTime, Utc};
use gleaner_common::events::{CompanyChanged, FieldChange};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// A watched company.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct WatchedCompany {
    /// Fiscal code (13 digits).
    pub idno: String,
    /// The company's name, when known (from the scraper or its last change event).
    pub name: Option<String>,
    /// When the user started watching it.
    pub watched_since: DateTime<Utc>,
}

/// A notification: a watched company changed in a run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Notification {
    /// Notification id.
    pub id: i64,
    /// The company.
    pub idno: String,
    /// Its name after the change.
    pub company_name: Option<String>,
    /// What changed: `[{field, old, new}]`.
    #[schema(value_type = Vec<FieldChange>)]
    pub changes: Value,
    /// The run that changed it.
    pub run_id: Option<Uuid>,
    /// When the notification was made.
    pub created_at: DateTime<Utc>,
    /// Whether the user marked it read.
    pub read: bool,
    /// What it is about: `company.changed` (a watched company changed), or
    /// `webhook.disabled` (one of the user's webhooks was disabled after a day of failed
    /// deliveries; `changes` names its URL, `idno` is empty).
    pub kind: String,
}

/// A read-only transaction whose queries see one snapshot: a page's items and total agree.
async fn snapshot(db: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Watch a company (nothing happens when already watched).
pub async fn watch(db: &PgPool, user: Uuid, idno: &str, name: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO watchlist (user_id, idno, company_name) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, idno) DO UPDATE SET company_name = COALESCE(EXCLUDED.company_name, watchlist.company_name)",
    )
    .bind(user)
    .bind(idno)
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}

/// Stop watching a company (nothing happens when not watched).
pub async fn unwatch(db: &PgPool, user: Uuid, idno: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM watchlist WHERE user_id = $1 AND idno = $2")
        .bind(user)
        .bind(idno)
        .execute(db)
        .await?;
    Ok(())
}

/// A page of a user's watched companies, most recent first.
pub async fn list(
    db: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<WatchedCompany>, i64)> {
    let mut tx = snapshot(db).await?;
    let items = sqlx::query_as(
        "SELECT idno, company_name AS name, created_at AS watched_since FROM watchlist \
         WHERE user_id = $1 ORDER BY created_at DESC, idno LIMIT $2 OFFSET $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM watchlist WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((items, total))
}

/// One notification per watcher of the company for this run (or event), in one
/// transaction; a second delivery of the same event inserts nothing.
pub async fn notify_watchers(
    db: &PgPool,
    ev: &CompanyChanged,
    event_id: &str,
) -> sqlx::Result<u64> {
    let dedupe = ev
        .run_id
        .map_or_else(|| format!("event:{event_id}"), |r| r.to_string());
    let mut tx = db.begin().await?;
    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO notifications (user_id, idno, company_name, changes, run_id, dedupe_key) \
         SELECT user_id, idno, $2, $3, $4, $5 FROM watchlist WHERE idno = $1 \
         ON CONFLICT (user_id, idno, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(ev.idno.as_str())
    .bind(&ev.company_name)
    .bind(sqlx::types::Json(&ev.changes))
    .bind(ev.run_id)
    .bind(&dedupe)
    .fetch_all(&mut *tx)
    .await?;
    // Each new notification's webhook deliveries commit with it, or neither does.
    crate::webhooks::store::enqueue_notifications(&mut tx, &inserted).await?;
    sqlx::query("UPDATE watchlist SET company_name = $2 WHERE idno = $1")
        .bind(ev.idno.as_str())
        .bind(&ev.company_name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(inserted.len() as u64)
}

/// Remove everything the app keeps about a user.
pub async fn forget_user(db: &PgPool, user: Uuid) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM notifications WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM watchlist WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    crate::webhooks::store::forget_user(&mut tx, user).await?;
    tx.commit().await
}

/// A page of a user's notifications, newest first.
pub async fn notifications(
    db: &PgPool,
    user: Uuid,
    unread_only: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Notification>, i64)> {
    let mut tx = snapshot(db).await?;
    let filter = "user_id = $1 AND (NOT $2 OR read_at IS NULL)";
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, idno, company_name, changes, run_id, created_at, read_at IS NOT NULL AS read, kind \
         FROM notifications WHERE {filter} ORDER BY id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(user)
    .bind(unread_only)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM notifications WHERE {filter}"
    )))
    .bind(user)
    .bind(unread_only)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((items, total))
}

/// Mark some (or all, when `ids` is `None`) of a user's notifications read; other users'
/// ids are ignored.
pub async fn mark_read(db: &PgPool, user: Uuid, ids: Option<&[i64]>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "UPDATE notifications SET read_at = now() \
         WHERE user_id = $1 AND read_at IS NULL AND ($2::bigint[] IS NULL OR id = ANY($2))",
    )
    .bind(user)
    .bind(ids)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

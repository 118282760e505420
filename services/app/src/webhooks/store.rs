//! Webhooks and their deliveries in the app's database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Delivery, Webhook};
use crate::watchlist::Notification;

/// Webhooks one user may have.
pub const MAX_PER_USER: i64 = 10;
/// The event of a notification's delivery.
pub const COMPANY_CHANGED: &str = "company.changed";
/// The event `POST /api/v1/webhooks/{id}/test` sends.
pub const WEBHOOK_TEST: &str = "webhook.test";
/// A webhook whose attempts have all failed this long is disabled.
pub const DISABLE_AFTER_HOURS: i32 = 24;

/// Namespace of the per-user advisory lock that serialises webhook creation.
const CREATE_LOCK: i32 = 0x5748_4b31;

const WEBHOOK_COLUMNS: &str = "id, url, description, created_at, disabled";
const DELIVERY_COLUMNS: &str = "id, event, status, attempts, last_status, last_error, \
     CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, created_at";

/// A read-only transaction whose queries see one snapshot: a page's items and total agree.
async fn snapshot(db: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Create a webhook unless the user already has [`MAX_PER_USER`] (`None` then). Creations
/// of one user are serialised by a transaction-scoped lock, so parallel requests never
/// pass the limit together.
pub async fn create(
    db: &PgPool,
    user: Uuid,
    url: &str,
    description: Option<&str>,
    secret: &SecretString,
) -> sqlx::Result<Option<Webhook>> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(CREATE_LOCK)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_PER_USER {
        return Ok(None);
    }
    let webhook = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhooks (id, user_id, url, description, secret) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {WEBHOOK_COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(url)
    .bind(description)
    .bind(secret.expose_secret())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(webhook))
}

/// A page of a user's webhooks, newest first, and how many they have.
pub async fn list(
    db: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Webhook>, i64)> {
    let mut tx = snapshot(db).await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE user_id = $1 \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    )))
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((items, total))
}

/// The user's webhook `id`; `None` when there is none or it is another user's.
pub async fn get(db: &PgPool, user: Uuid, id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Delete the user's webhook `id` and its deliveries; `false` when they have none such.
pub async fn delete(db: &PgPool, user: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(db)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// A page of a webhook's deliveries, newest first, and how many it has.
pub async fn deliveries(
    db: &PgPool,
    webhook: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Delivery>, i64)> {
    let mut tx = snapshot(db).await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(webhook)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(webhook)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((items, total))
}

/// A `webhook.test` delivery to `webhook`, due now.
pub async fn enqueue_test(db: &PgPool, webhook: &Webhook) -> sqlx::Result<Delivery> {
    let data = json!({
        "webhook_id": webhook.id,
        "message": "A test event from Gleaner: this endpoint receives your notifications.",
    });
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload) VALUES ($1, $2, $3, $4) \
         RETURNING {DELIVERY_COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(webhook.id)
    .bind(WEBHOOK_TEST)
    .bind(data)
    .fetch_one(db)
    .await
}

/// One `company.changed` delivery per enabled webhook of each notification's owner, in
/// the notifications' transaction; the data is the notification as the API shows it.
pub async fn enqueue_notifications(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
) -> sqlx::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let rows: Vec<(Uuid, Notification)> = {
        let notifications: Vec<NotificationOwner> = sqlx::query_as(
            "SELECT n.user_id, n.id, n.idno, n.company_name, n.changes, n.run_id, n.created_at, \
             n.read_at IS NOT NULL AS read, n.kind \
             FROM notifications n WHERE n.id = ANY($1) \
             AND EXISTS (SELECT 1 FROM webhooks w WHERE w.user_id = n.user_id AND NOT w.disabled)",
        )
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
        notifications
            .into_iter()
            .map(|n| (n.user_id, n.notification))
            .collect()
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let mut users = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    for (user, notification) in rows {
        users.push(user);
        payloads.push(serde_json::to_value(&notification).unwrap_or(Value::Null));
    }
    let r = sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload) \
         SELECT gen_random_uuid(), w.id, $3, n.payload \
         FROM unnest($1::uuid[], $2::jsonb[]) AS n (user_id, payload) \
         JOIN webhooks w ON w.user_id = n.user_id AND NOT w.disabled",
    )
    .bind(&users)
    .bind(&payloads)
    .bind(COMPANY_CHANGED)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected())
}

#[derive(sqlx::FromRow)]
struct NotificationOwner {
    user_id: Uuid,
    #[sqlx(flatten)]
    notification: Notification,
}

/// Remove a user's webhooks and their deliveries (the user was deleted).
pub async fn forget_user(tx: &mut Transaction<'_, Postgres>, user: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhooks WHERE user_id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An attempt a worker holds: the delivery, its webhook, and which attempt it is.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Delivery id (the `webhook-id`).
    pub id: Uuid,
    /// The webhook.
    pub webhook_id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its secret.
    pub secret: SecretString,
    /// The event.
    pub event: String,
    /// The event's data.
    pub payload: Value,
    /// When the delivery was made (the body's `timestamp`).
    pub created_at: DateTime<Utc>,
    /// Which attempt this is (1 for the first); only the worker holding it records it.
    pub attempt: i32,
}

impl Claimed {
    /// The request body: `{type, timestamp, data}`, the same on every attempt.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": self.event,
            "timestamp": self.created_at,
            "data": self.payload,
        }))
        .unwrap_or_default()
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: Uuid,
    webhook_id: Uuid,
    url: String,
    secret: String,
    event: String,
    payload: Value,
    created_at: DateTime<Utc>,
    attempts: i32,
}

/// Claim up to `limit` due deliveries of enabled webhooks, oldest due first: each gets
/// its next attempt counted and a lease of `lease` (its `next_attempt_at` moves to the
/// lease's end, so if this worker dies another claims it then). Rows other workers are
/// claiming are skipped, never waited for or taken twice.
pub async fn claim(db: &PgPool, limit: i64, lease: Duration) -> sqlx::Result<Vec<Claimed>> {
    let rows: Vec<ClaimedRow> = sqlx::query_as(
        "WITH due AS ( \
             SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT w.disabled \
             ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED) \
         UPDATE webhook_deliveries d \
         SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2) \
         FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id \
         RETURNING d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.created_at, d.attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            id: r.id,
            webhook_id: r.webhook_id,
            url: r.url,
            secret: SecretString::from(r.secret),
            event: r.event,
            payload: r.payload,
            created_at: r.created_at,
            attempt: r.attempts,
        })
        .collect())
}

/// The attempt was answered with a 2xx: the delivery is done and the webhook no longer
/// failing. `false` when this worker no longer held the attempt (its lease ran out and
/// another worker claimed the delivery, or the webhook was deleted).
pub async fn record_delivered(db: &PgPool, claimed: &Claimed, status: u16) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let held = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'delivered', last_status = $3, last_error = NULL, \
         next_attempt_at = NULL, finished_at = now() \
         WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(claimed.id)
    .bind(claimed.attempt)
    .bind(i32::from(status))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if held {
        sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1")
            .bind(claimed.webhook_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(held)
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Another attempt is due later.
    Retry,
    /// No attempt is left: the delivery failed.
    GaveUp,
    /// The webhook had failed for a day: it is disabled and its owner notified.
    Disabled,
    /// This worker no longer held the attempt; nothing recorded.
    NotHeld,
}

/// The attempt failed (`status` when the endpoint answered): retry after `retry_in`, or
/// give up when `None`. A webhook whose attempts have all failed for
/// [`DISABLE_AFTER_HOURS`] is disabled in the same transaction: its pending deliveries
/// fail and its owner gets a `webhook.disabled` notification.
pub async fn record_failed(
    db: &PgPool,
    claimed: &Claimed,
    status: Option<u16>,
    error: &str,
    retry_in: Option<Duration>,
) -> sqlx::Result<Failure> {
    let mut tx = db.begin().await?;
    let held = sqlx::query(
        "UPDATE webhook_deliveries SET last_status = $3, last_error = $4, \
         status = CASE WHEN $5::float8 IS NULL THEN 'failed' ELSE 'pending' END, \
         next_attempt_at = now() + make_interval(secs => $5::float8), \
         finished_at = CASE WHEN $5::float8 IS NULL THEN now() END \
         WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(claimed.id)
    .bind(claimed.attempt)
    .bind(status.map(i32::from))
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if !held {
        tx.rollback().await?;
        return Ok(Failure::NotHeld);
    }
    let overdue: bool = sqlx::query_scalar(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, now()) WHERE id = $1 \
         RETURNING failing_since <= now() - make_interval(hours => $2)",
    )
    .bind(claimed.webhook_id)
    .bind(DISABLE_AFTER_HOURS)
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(false);
    let outcome = if overdue && disable(&mut tx, claimed.webhook_id).await? {
        Failure::Disabled
    } else if retry_in.is_some() {
        Failure::Retry
    } else {
        Failure::GaveUp
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Disable a webhook, fail its pending deliveries and notify its owner; `false` when it
/// was already disabled.
async fn disable(tx: &mut Transaction<'_, Postgres>, webhook: Uuid) -> sqlx::Result<bool> {
    let Some((user, url)): Option<(Uuid, String)> = sqlx::query_as(
        "UPDATE webhooks SET disabled = true, disabled_at = now() WHERE id = $1 AND NOT disabled \
         RETURNING user_id, url",
    )
    .bind(webhook)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, finished_at = now(), \
         last_error = COALESCE(last_error || '; ', '') || 'the webhook was disabled' \
         WHERE webhook_id = $1 AND status = 'pending'",
    )
    .bind(webhook)
    .execute(&mut **tx)
    .await?;
    let changes = json!([{
        "field": "webhook",
        "old": url,
        "new": format!("disabled: its deliveries failed for {DISABLE_AFTER_HOURS} hours"),
    }]);
    sqlx::query(
        "INSERT INTO notifications (user_id, idno, company_name, changes, dedupe_key, kind) \
         VALUES ($1, '', NULL, $2, $3, 'webhook.disabled') \
         ON CONFLICT (user_id, idno, dedupe_key) DO NOTHING",
    )
    .bind(user)
    .bind(changes)
    .bind(format!("webhook.disabled:{webhook}"))
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

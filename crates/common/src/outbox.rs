//! Transactional outbox relay: rows written in the same transaction as a
//! change are published to a Redis stream, exactly once per row.
//!
//! A row is marked published only after Redis accepted it; a Lua script makes
//! the XADD conditional on a per-row marker, so a crash between the XADD and
//! the UPDATE does not publish the row twice. While Redis is down the relay
//! backs off and retries; rows wait in PostgreSQL, nothing is lost.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::Payload;

/// Stream every service publishes its domain events to.
pub const DEFAULT_STREAM: &str = "gleaner.events";

/// Seconds a published-row marker is kept (dedupe window).
const MARKER_TTL_SECS: u64 = 7 * 24 * 3600;
/// Rows published per transaction.
const BATCH: usize = 100;
/// Approximate cap on the stream length.
const STREAM_MAXLEN: u64 = 100_000;

const PUBLISH_ONCE: &str = r#"
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
    'id', ARGV[3], 'type', ARGV[4], 'payload', ARGV[5], 'occurred_at', ARGV[6])
end
return false
"#;

/// Insert an event into `table` inside the caller's transaction: its type name and its
/// payload as JSON.
pub async fn enqueue<P: Payload + Sync>(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    event: &P,
) -> Result<(), sqlx::Error> {
    assert_identifier(table);
    // `table` is a code-chosen identifier (checked above), never user input.
    let sql = format!("INSERT INTO {table} (event_type, payload) VALUES ($1, $2)");
    sqlx::query(AssertSqlSafe(sql))
        .bind(P::TYPE.as_str())
        .bind(sqlx::types::Json(event))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Outbox table names are spliced into SQL: only plain identifiers are allowed.
fn assert_identifier(table: &str) {
    assert!(
        !table.is_empty()
            && table
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'),
        "outbox table name {table:?} is not a plain identifier"
    );
}

/// Publishes unpublished rows of one outbox table to a Redis stream.
#[derive(Clone)]
pub struct OutboxRelay {
    pool: PgPool,
    redis: Pool,
    table: Arc<str>,
    source: Arc<str>,
    stream: Arc<str>,
    marker_prefix: Arc<str>,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    /// A relay for `table` (columns `id bigserial, event_type, payload jsonb,
    /// created_at, published_at`) of service `source`, publishing to `stream`.
    pub fn new(pool: PgPool, redis: Pool, table: &str, source: &str, stream: &str) -> Self {
        assert_identifier(table);
        Self {
            pool,
            redis,
            table: table.into(),
            source: source.into(),
            stream: stream.into(),
            marker_prefix: format!("{stream}:published:{source}:").into(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Ask the relay to look for new rows now (after a commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Publish up to `limit` pending rows; returns how many were published.
    pub async fn relay_once(&self, limit: i64) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let select = format!(
            "SELECT id, event_type, payload, created_at FROM {} WHERE published_at IS NULL \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            self.table
        );
        let rows = sqlx::query(AssertSqlSafe(select))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut published: Vec<i64> = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let event_type: String = row.try_get("event_type")?;
            let payload: Value = row.try_get("payload")?;
            let created_at: chrono::DateTime<chrono::Utc> = row.try_get("created_at")?;
            let keys = vec![
                format!("{}{id}", self.marker_prefix),
                self.stream.to_string(),
            ];
            let args = vec![
                MARKER_TTL_SECS.to_string(),
                STREAM_MAXLEN.to_string(),
                format!("{}-{id}", self.source),
                event_type,
                payload.to_string(),
                created_at.to_rfc3339(),
            ];
            match self
                .redis
                .eval::<fred::types::Value, _, _, _>(PUBLISH_ONCE, keys, args)
                .await
            {
                Ok(_) => published.push(id),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if !published.is_empty() {
            let update = format!(
                "UPDATE {} SET published_at = now() WHERE id = ANY($1)",
                self.table
            );
            sqlx::query(AssertSqlSafe(update))
                .bind(&published)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        match failure {
            Some(e) => Err(anyhow::anyhow!(
                "publishing to redis stream {}: {e}",
                self.stream
            )),
            None => Ok(published.len()),
        }
    }

    /// Relay until `stop` is cancelled, backing off (up to 30 s) on failure.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let wait = match self.relay_once(BATCH as i64).await {
                // A full batch: more may be waiting.
                Ok(BATCH) => Duration::ZERO,
                Ok(_) => {
                    backoff = Duration::from_millis(200);
                    Duration::from_secs(2)
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, table = %self.table, "outbox relay failed");
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    w
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {},
                () = self.wake.notified(), if backoff <= Duration::from_millis(200) => {},
            }
        }
    }
}

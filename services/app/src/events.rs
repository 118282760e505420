//! Events from the other services, read from the Redis stream with a consumer group:
//! `company.changed` (scraper) notifies the company's watchers, `user.deleted` (identity)
//! removes that user's watchlist and notifications.
//!
//! At least once: an entry is acknowledged only after its effect is committed; a
//! redelivered entry changes nothing (notifications are unique per user, company and run);
//! entries left pending by a consumer that died are claimed after `claim_idle`.

use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::*;
use gleaner_common::events::Event;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::watchlist;

/// Entries read or claimed at once.
const BATCH: u64 = 100;
/// How long one read waits for new entries (under the client's command timeout).
const BLOCK_MS: u64 = 1_000;

/// One entry of the stream.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// Stream entry id (`1700000000000-0`).
    pub entry_id: String,
    /// Fields: `id`, `type`, `payload`, `occurred_at`.
    pub fields: HashMap<String, String>,
}

/// Apply one event; `Ok` once its effect is committed (or it is not for the app).
pub async fn apply(db: &PgPool, entry: &StreamEntry) -> Result<(), sqlx::Error> {
    let event_type = entry.fields.get("type").map(String::as_str).unwrap_or("");
    let payload = entry
        .fields
        .get("payload")
        .map(String::as_str)
        .unwrap_or("");
    match Event::decode(event_type, payload) {
        Ok(Some(Event::CompanyChanged(ev))) => {
            let event_id = entry
                .fields
                .get("id")
                .cloned()
                .unwrap_or_else(|| entry.entry_id.clone());
            watchlist::notify_watchers(db, &ev, &event_id).await?;
        }
        Ok(Some(Event::UserDeleted(ev))) => watchlist::forget_user(db, ev.id).await?,
        // Not for the app.
        Ok(Some(Event::UserCreated(_)) | None) => {}
        Err(e) => {
            tracing::warn!(entry = %entry.entry_id, event_type, error = %e, "malformed event; skipped")
        }
    }
    Ok(())
}

/// Reads the events stream as one consumer of the app's group.
#[derive(Clone)]
pub struct EventConsumer {
    /// PostgreSQL.
    pub db: PgPool,
    /// A connection of its own (reads block).
    pub redis: Pool,
    /// Stream name.
    pub stream: String,
    /// Consumer group.
    pub group: String,
    /// This consumer's name.
    pub consumer: String,
    /// Pending entries idle this long are claimed from their consumer.
    pub claim_idle: Duration,
}

impl EventConsumer {
    /// Create the group (from the start of the stream) unless it exists.
    pub async fn ensure_group(&self) -> Result<(), Error> {
        match self
            .redis
            .xgroup_create::<(), _, _, _>(&self.stream, &self.group, "0", true)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.details().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Apply and acknowledge entries; stops at the first that cannot be committed (it stays
    /// pending and comes back). Returns how many were acknowledged.
    async fn process(&self, entries: Vec<StreamEntry>) -> anyhow::Result<usize> {
        let mut done = 0;
        for entry in entries {
            apply(&self.db, &entry).await?;
            self.redis
                .xack::<i64, _, _, _>(&self.stream, &self.group, entry.entry_id.as_str())
                .await?;
            done += 1;
        }
        Ok(done)
    }

    /// Entries this consumer was given but did not acknowledge (after a restart or a failure).
    pub async fn own_pending(&self) -> Result<Vec<StreamEntry>, Error> {
        self.read("0", None).await
    }

    /// New entries, waiting up to `block_ms`.
    async fn read(&self, from: &str, block_ms: Option<u64>) -> Result<Vec<StreamEntry>, Error> {
        let reply: fred::types::Value = self
            .redis
            .xreadgroup(
                &self.group,
                &self.consumer,
                Some(BATCH),
                block_ms,
                false,
                &self.stream,
                from,
            )
            .await?;
        Ok(read_reply(reply))
    }

    /// Entries pending longer than `claim_idle` at any consumer, now this one's.
    pub async fn claim_abandoned(&self) -> Result<Vec<StreamEntry>, Error> {
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: fred::types::Value = self
                .redis
                .xautoclaim(
                    &self.stream,
                    &self.group,
                    &self.consumer,
                    self.claim_idle.as_millis() as u64,
                    cursor.as_str(),
                    Some(BATCH),
                    false,
                )
                .await?;
            let mut parts = into_array(reply).into_iter();
            let next = parts
                .next()
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| "0-0".to_owned());
            out.extend(parts.next().map(entries).unwrap_or_default());
            if next == "0-0" || out.len() >= BATCH as usize {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// One round: claimed and own pending entries first, then new ones.
    pub async fn poll_once(&self, block_ms: Option<u64>) -> anyhow::Result<usize> {
        let mut done = self.process(self.claim_abandoned().await?).await?;
        done += self.process(self.own_pending().await?).await?;
        done += self.process(self.read(">", block_ms).await?).await?;
        Ok(done)
    }

    /// Consume until `stop`, backing off while Redis or PostgreSQL is down.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        let mut grouped = false;
        loop {
            let result = async {
                if !grouped {
                    self.ensure_group().await?;
                    grouped = true;
                }
                self.poll_once(Some(BLOCK_MS)).await
            }
            .await;
            let wait = match result {
                Ok(_) => {
                    backoff = Duration::from_millis(200);
                    Duration::ZERO
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "event consumer failed");
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    w
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn into_array(value: fred::types::Value) -> Vec<fred::types::Value> {
    match value {
        fred::types::Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// `XREADGROUP`'s reply: nothing (nil), `[[stream, entries]]` (RESP2) or `{stream: entries}` (RESP3).
fn read_reply(reply: fred::types::Value) -> Vec<StreamEntry> {
    match reply {
        fred::types::Value::Map(map) => map.inner().into_values().flat_map(entries).collect(),
        other => into_array(other)
            .into_iter()
            .flat_map(|stream| {
                into_array(stream)
                    .into_iter()
                    .nth(1)
                    .map(entries)
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// `[[id, [field, value, ...]], ...]`; an entry deleted from the stream has no fields
/// (nothing to apply, still acknowledged).
fn entries(value: fred::types::Value) -> Vec<StreamEntry> {
    into_array(value)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = into_array(entry).into_iter();
            let entry_id = parts.next()?.as_string()?;
            let flat = parts.next().map(into_array).unwrap_or_default();
            let fields = flat
                .chunks(2)
                .filter_map(|kv| Some((kv.first()?.as_string()?, kv.get(1)?.as_string()?)))
                .collect::<HashMap<_, _>>();
            Some(StreamEntry { entry_id, fields })
        })
        .collect()
}

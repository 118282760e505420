//! The lifecycle every run goes through, scrape or re-transform: created (queued),
//! started (running, with a heartbeat), progress written as it goes, finished with a
//! status and a summary. One place decides the status and records the end.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gleaner_scrapejob::{RunStatus, RunSummary, Shard};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::metrics::ScraperMetrics;
use crate::source::SourceName;
use crate::spec::RunSpec;
use crate::store::runs::{self, Counters, RunError, RunKind, ShardRecord};

/// Errors kept per shard of a run.
const MAX_ERRORS: usize = 200;
/// A running run refreshes its heartbeat this often.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// Pending counts (of a re-transform) are written at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What a run is, before it starts.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Run id; a run that exists already is resumed.
    pub id: Uuid,
    /// The scrape job it belongs to (`transform` for a re-transform).
    pub job: &'a str,
    /// Scrape or re-transform.
    pub kind: RunKind,
    /// What it was asked to do, as stored on the run row.
    pub spec: Value,
    /// The source it reads (the `source` label of its metrics).
    pub source: SourceName,
}

/// The job name of re-transform runs.
pub const TRANSFORM_JOB: &str = "transform";

impl<'a> NewRun<'a> {
    /// A scrape of `spec` for `job`.
    pub fn scrape(id: Uuid, job: &'a str, spec: &RunSpec) -> serde_json::Result<Self> {
        Ok(Self {
            id,
            job,
            kind: RunKind::Scrape,
            spec: serde_json::to_value(spec)?,
            source: spec.source,
        })
    }

    /// A re-transform of `source`'s stored documents (those fetched since `since`, or of
    /// one company).
    pub fn transform(
        id: Uuid,
        source: SourceName,
        since: Option<DateTime<Utc>>,
        idno: Option<&str>,
    ) -> Self {
        Self {
            id,
            job: TRANSFORM_JOB,
            kind: RunKind::Transform,
            spec: serde_json::json!({"source": source, "since": since, "idno": idno}),
            source,
        }
    }
}

/// How the work of a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Went through every target.
    Completed,
    /// Stopped on request.
    Cancelled,
    /// Could not go on (timeout, the database gone), and why.
    Aborted(String),
}

/// The status of a run that ended so, having received `received` documents and
/// failed on `failed`: work that completed fails all the same when more than half
/// of its documents (received or failed) failed.
fn verdict(ending: Ending, received: i64, failed: i64) -> (RunStatus, Option<String>) {
    let documents = received + failed;
    match ending {
        Ending::Cancelled => (RunStatus::Cancelled, Some("cancelled".into())),
        Ending::Aborted(why) => (RunStatus::Failed, Some(why)),
        Ending::Completed if failed * 2 > documents => (
            RunStatus::Failed,
            Some(format!("{failed} of {documents} documents failed")),
        ),
        Ending::Completed => (RunStatus::Succeeded, None),
    }
}

/// Aborts a background task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one piece of work (a company, a list page) counted, before it is committed.
#[derive(Debug, Default)]
pub struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Debug, Default)]
struct TallyInner {
    counters: Counters,
    /// Documents received (fetched, or read back from the store by a re-transform).
    documents: i64,
    errors: Vec<RunError>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, TallyInner> {
        // A poisoned lock only means a panic elsewhere mid-update of plain numbers.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Update the counters.
    pub fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.lock().counters);
    }

    /// One more document received (with the failures, the base of the "more than half
    /// failed" rule).
    pub fn document(&self) {
        self.lock().documents += 1;
    }

    /// A document failed: counted, and listed (the first 200 of the shard).
    pub fn error(&self, url: &str, kind: &str, message: &str) {
        let mut t = self.lock();
        t.counters.pages_failed += 1;
        if t.errors.len() < MAX_ERRORS {
            t.errors.push(RunError {
                url: url.to_string(),
                kind: kind.to_string(),
                message: message.to_string(),
            });
        }
    }

    /// A document not fetched on purpose (robots.txt disallows it): counted apart,
    /// neither a failure nor a document received.
    pub fn skipped(&self) {
        self.lock().counters.pages_skipped += 1;
    }

    fn take(&self) -> TallyInner {
        std::mem::take(&mut *self.lock())
    }
}

/// What a shard has committed so far (this process and any before it).
#[derive(Debug, Default)]
struct Committed {
    counters: Counters,
    documents: i64,
    errors: usize,
}

/// A started run (one shard of it): counts what happens and writes it to its row.
///
/// Work is committed in pieces (a company, a list page): its page counters and errors
/// are added to the shard's row in the transaction that notes it done, and a company
/// write counts itself in its own transaction. A shard stopped at any point and started
/// again with the same run id skips what was done and counts nothing twice.
pub struct Run {
    db: PgPool,
    metrics: ScraperMetrics,
    id: Uuid,
    shard: Shard,
    source: SourceName,
    started: Instant,
    started_at: DateTime<Utc>,
    committed: Mutex<Committed>,
    /// Work not part of a company or list page (a re-transform's documents).
    pending: Tally,
    /// What the run finished before this process started.
    done: HashSet<String>,
    /// Whether this shard had succeeded before (see [`Run::succeeded_before`]).
    succeeded_before: bool,
    last_flush: Mutex<Instant>,
    _heartbeat: AbortOnDrop,
}

impl Run {
    /// Record a queued run; false when a run with this id exists already.
    pub async fn create(db: &PgPool, new: &NewRun<'_>) -> sqlx::Result<bool> {
        runs::create(db, new.id, new.job, new.kind, &new.spec).await
    }

    /// Create the run unless it exists, mark it and this shard running, and keep them
    /// visibly alive (a slow, polite run may go minutes between documents) until the
    /// shard is finished. A shard that ran before resumes: its counters go on.
    pub async fn start(
        db: &PgPool,
        metrics: &ScraperMetrics,
        new: NewRun<'_>,
        shard: Shard,
    ) -> sqlx::Result<Run> {
        Self::create(db, &new).await?;
        let before = runs::start_shard(db, new.id, shard).await?;
        let done = if before.resumed {
            runs::done_items(db, new.id).await?.into_iter().collect()
        } else {
            HashSet::new()
        };
        let heartbeat = {
            let db = db.clone();
            let id = new.id;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                loop {
                    tick.tick().await;
                    if let Err(e) = runs::heartbeat(&db, id, shard).await {
                        tracing::debug!(error = %e, "run heartbeat failed");
                    }
                }
            })
        };
        tracing::info!(
            kind = new.kind.as_str(),
            shard = %shard,
            resumed = before.resumed,
            done = done.len(),
            "run started"
        );
        Ok(Run {
            db: db.clone(),
            metrics: metrics.clone(),
            id: new.id,
            shard,
            source: new.source,
            started: Instant::now(),
            started_at: Utc::now(),
            committed: Mutex::new(Committed {
                counters: before.counters,
                documents: i64::from(before.counters.pages_fetched),
                errors: before.errors,
            }),
            pending: Tally::default(),
            done,
            succeeded_before: before.succeeded_before,
            last_flush: Mutex::new(Instant::now()),
            _heartbeat: AbortOnDrop(heartbeat),
        })
    }

    /// The run id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// This process's shard of the run.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Whether this shard had succeeded before this process started it again: its run
    /// was started again with its id, and there is nothing left to do.
    pub fn succeeded_before(&self) -> bool {
        self.succeeded_before
    }

    /// The source's name, as in metric labels.
    pub fn source(&self) -> &'static str {
        self.source.as_str()
    }

    /// The metrics the run counts into.
    pub fn metrics(&self) -> &ScraperMetrics {
        &self.metrics
    }

    /// Whether the run finished `item` (an IDNO, a list page URL) before this process.
    pub fn is_done(&self, item: &str) -> bool {
        self.done.contains(item)
    }

    /// The tally of work that is not a company or a list page.
    pub fn pending(&self) -> &Tally {
        &self.pending
    }

    /// Commit a finished piece of work and note `done` as finished (if given).
    pub async fn commit(&self, tally: &Tally, done: Option<&str>) -> sqlx::Result<()> {
        let mut work = tally.take();
        let room = {
            let c = self.lock_committed();
            MAX_ERRORS.saturating_sub(c.errors)
        };
        work.errors.truncate(room);
        let pages = Counters {
            companies_created: 0,
            companies_updated: 0,
            ..work.counters
        };
        let counted = runs::commit(&self.db, self.id, self.shard, done, &pages, &work.errors)
            .await
            .inspect_err(|_| {
                // Not committed: the counts stay pending for the next commit.
                let mut t = tally.lock();
                add(&mut t.counters, &work.counters);
                t.documents += work.documents;
            })?;
        if counted {
            let mut c = self.lock_committed();
            add(&mut c.counters, &work.counters);
            c.documents += work.documents;
            c.errors += work.errors.len();
        }
        Ok(())
    }

    fn lock_committed(&self) -> std::sync::MutexGuard<'_, Committed> {
        self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commit the pending tally, at most every 250 ms.
    pub async fn progress(&self) -> sqlx::Result<()> {
        let due = self
            .last_flush
            .lock()
            .map(|mut t| {
                let due = t.elapsed() >= PROGRESS_EVERY;
                if due {
                    *t = Instant::now();
                }
                due
            })
            .unwrap_or(true);
        if due {
            self.commit(&self.pending, None).await
        } else {
            Ok(())
        }
    }

    /// The status this shard gets for `ending`, and why it did not succeed.
    fn verdict(&self, ending: Ending) -> (RunStatus, Option<String>) {
        let c = self.lock_committed();
        verdict(ending, c.documents, i64::from(c.counters.pages_failed))
    }

    /// Record the end of this shard (and of the run when it was the last) and count it;
    /// its summary (this shard's, since it first started) goes out even when the
    /// database is gone.
    pub async fn finish(self, ending: Ending) -> RunSummary {
        if let Err(e) = self.commit(&self.pending, None).await {
            tracing::error!(error = %e, "cannot record the last counts of the run");
        }
        let (status, failure) = self.verdict(ending);
        let recorded =
            runs::finish_shard(&self.db, self.id, self.shard, status, failure.as_deref()).await;
        self.metrics
            .run(self.source(), status.as_str(), self.started.elapsed());
        let summary = match recorded {
            Ok(record) => record.summary(self.id),
            Err(e) => {
                tracing::error!(error = %e, "cannot record the end of the run");
                ShardRecord {
                    status,
                    counters: self.lock_committed().counters,
                    started_at: self.started_at,
                    finished_at: Some(Utc::now()),
                    failure: failure.clone(),
                }
                .summary(self.id)
            }
        };
        tracing::info!(
            status = status.as_str(),
            shard = %self.shard,
            pages_fetched = summary.pages_fetched,
            pages_failed = summary.pages_failed,
            pages_skipped = summary.pages_skipped,
            companies_created = summary.companies_created,
            companies_updated = summary.companies_updated,
            "run finished"
        );
        summary
    }
}

fn add(total: &mut Counters, more: &Counters) {
    total.pages_fetched += more.pages_fetched;
    total.pages_unchanged += more.pages_unchanged;
    total.pages_failed += more.pages_failed;
    total.pages_skipped += more.pages_skipped;
    total.companies_created += more.companies_created;
    total.companies_updated += more.companies_updated;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_run_fails_only_when_more_than_half_its_documents_failed() {
        assert_eq!(
            verdict(Ending::Completed, 10, 0),
            (RunStatus::Succeeded, None)
        );
        // A failed fetch is a document that failed: 5 of 10 is not more than half.
        assert_eq!(verdict(Ending::Completed, 5, 5).0, RunStatus::Succeeded);
        assert_eq!(
            verdict(Ending::Completed, 4, 6),
            (
                RunStatus::Failed,
                Some("6 of 10 documents failed".to_string())
            )
        );
        // Nothing to do is not a failure (nor are documents skipped on purpose, which
        // are neither received nor failed).
        assert_eq!(verdict(Ending::Completed, 0, 0).0, RunStatus::Succeeded);
    }

    #[test]
    fn cancelled_and_aborted_runs_say_so_whatever_their_counts() {
        assert_eq!(
            verdict(Ending::Cancelled, 10, 0),
            (RunStatus::Cancelled, Some("cancelled".to_string()))
        );
        let why = "timed out after 60s".to_string();
        assert_eq!(
            verdict(Ending::Aborted(why.clone()), 10, 0),
            (RunStatus::Failed, Some(why))
        );
    }
}

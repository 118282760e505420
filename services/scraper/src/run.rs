//! The lifecycle every run goes through, scrape or re-transform: created (queued),
//! started (running, with a heartbeat), progress written as it goes, finished with a
//! status and a summary. One place decides the status and records the end.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gleaner_scrapejob::{RunStatus, RunSummary};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::metrics::ScraperMetrics;
use crate::source::SourceName;
use crate::spec::RunSpec;
use crate::store::runs::{self, Counters, RunError, RunKind};

/// Errors kept per run.
const MAX_ERRORS: usize = 200;
/// A running run refreshes its heartbeat this often.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// Progress is written at most this often.
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

/// A started run: counts what happens and writes it to its row.
pub struct Run {
    db: PgPool,
    metrics: ScraperMetrics,
    id: Uuid,
    source: SourceName,
    started: Instant,
    started_at: DateTime<Utc>,
    counters: Mutex<Counters>,
    /// Documents received (fetched, or read back from the store by a re-transform).
    documents: Mutex<i64>,
    errors: Mutex<Vec<RunError>>,
    last_flush: Mutex<Instant>,
    _heartbeat: AbortOnDrop,
}

impl Run {
    /// Record a queued run; false when a run with this id exists already.
    pub async fn create(db: &PgPool, new: &NewRun<'_>) -> sqlx::Result<bool> {
        runs::create(db, new.id, new.job, new.kind, &new.spec).await
    }

    /// Create the run unless it exists, mark it running, and keep it visibly alive
    /// (a slow, polite run may go minutes between documents) until it is finished.
    pub async fn start(
        db: &PgPool,
        metrics: &ScraperMetrics,
        new: NewRun<'_>,
    ) -> sqlx::Result<Run> {
        Self::create(db, &new).await?;
        runs::start(db, new.id).await?;
        let heartbeat = {
            let db = db.clone();
            let id = new.id;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                loop {
                    tick.tick().await;
                    if let Err(e) = runs::heartbeat(&db, id).await {
                        tracing::debug!(error = %e, "run heartbeat failed");
                    }
                }
            })
        };
        tracing::info!(kind = new.kind.as_str(), "run started");
        Ok(Run {
            db: db.clone(),
            metrics: metrics.clone(),
            id: new.id,
            source: new.source,
            started: Instant::now(),
            started_at: Utc::now(),
            counters: Mutex::new(Counters::default()),
            documents: Mutex::new(0),
            errors: Mutex::new(Vec::new()),
            last_flush: Mutex::new(Instant::now()),
            _heartbeat: AbortOnDrop(heartbeat),
        })
    }

    /// The run id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The source's name, as in metric labels.
    pub fn source(&self) -> &'static str {
        self.source.as_str()
    }

    /// The metrics the run counts into.
    pub fn metrics(&self) -> &ScraperMetrics {
        &self.metrics
    }

    /// Update the counters.
    pub fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.counters.lock() {
            f(&mut c);
        }
    }

    /// One more document received (with the failures, the base of the "more than half
    /// failed" rule).
    pub fn document(&self) {
        if let Ok(mut n) = self.documents.lock() {
            *n += 1;
        }
    }

    /// A document failed: counted, and listed (the first 200).
    pub fn error(&self, url: &str, kind: &str, message: &str) {
        self.count(|c| c.pages_failed += 1);
        if let Ok(mut errors) = self.errors.lock()
            && errors.len() < MAX_ERRORS
        {
            errors.push(RunError {
                url: url.to_string(),
                kind: kind.to_string(),
                message: message.to_string(),
            });
        }
    }

    fn counters(&self) -> Counters {
        self.counters.lock().map(|c| *c).unwrap_or_default()
    }

    /// Write the counters and errors so far, at most every 250 ms.
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
            self.write_progress().await
        } else {
            Ok(())
        }
    }

    async fn write_progress(&self) -> sqlx::Result<()> {
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        runs::progress(&self.db, self.id, &self.counters(), &errors).await
    }

    /// The status this run gets for `ending`, and why it did not succeed.
    fn verdict(&self, ending: Ending) -> (RunStatus, Option<String>) {
        let failed = i64::from(self.counters().pages_failed);
        let received = self.documents.lock().map(|n| *n).unwrap_or_default();
        verdict(ending, received, failed)
    }

    /// Record the end of the run and count it; its summary goes out even when the
    /// database is gone.
    pub async fn finish(self, ending: Ending) -> RunSummary {
        let (status, failure) = self.verdict(ending);
        let recorded = async {
            self.write_progress().await?;
            runs::finish(&self.db, self.id, status, failure.as_deref()).await
        }
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot record the end of the run");
        }
        self.metrics
            .run(self.source(), status.as_str(), self.started.elapsed());
        let counters = self.counters();
        tracing::info!(
            status = status.as_str(),
            pages_fetched = counters.pages_fetched,
            pages_failed = counters.pages_failed,
            companies_created = counters.companies_created,
            companies_updated = counters.companies_updated,
            "run finished"
        );
        let count = |n: i32| u64::try_from(n).unwrap_or(0);
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        RunSummary {
            run_id: self.id.to_string(),
            status,
            started_at: Some(stamp(self.started_at)),
            finished_at: Some(stamp(Utc::now())),
            pages_fetched: count(counters.pages_fetched),
            pages_unchanged: count(counters.pages_unchanged),
            pages_failed: count(counters.pages_failed),
            companies_created: count(counters.companies_created),
            companies_updated: count(counters.companies_updated),
            failure,
        }
    }
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
        // Nothing to do is not a failure.
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

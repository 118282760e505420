//! Scrape runs as the app knows them: a run as the scraper reports it, with its status and
//! errors typed, and the phase a job shows from its runs. The scraper client reads runs
//! into these types, the job backends and the routes show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use gleaner_scrapejob::RunStatus;
pub use gleaner_scrapejob::crd::Phase;
use gleaner_scrapejob::crd::RunResult;

/// A run as the scraper reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    /// Run id.
    pub id: Uuid,
    /// The job it belongs to.
    pub job: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Documents received.
    #[serde(default)]
    pub pages_fetched: i32,
    /// Unchanged documents.
    #[serde(default)]
    pub pages_unchanged: i32,
    /// Failed documents.
    #[serde(default)]
    pub pages_failed: i32,
    /// Documents skipped on purpose (robots.txt disallows them): not failures.
    #[serde(default)]
    pub pages_skipped: i32,
    /// New companies.
    #[serde(default)]
    pub companies_created: i32,
    /// Changed companies.
    #[serde(default)]
    pub companies_updated: i32,
    /// Errors so far (at most the first 200).
    #[serde(default)]
    pub errors: Vec<RunError>,
}

/// One error of a run: a document that could not be fetched or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunError {
    /// The document's URL.
    pub url: String,
    /// `http_503`, `timeout`, `parse`, `disallowed`, ...
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl Run {
    /// A run just asked for.
    pub fn queued(id: Uuid, job: &str) -> Self {
        Run {
            id,
            job: job.to_owned(),
            status: RunStatus::Queued,
            started_at: None,
            finished_at: None,
            pages_fetched: 0,
            pages_unchanged: 0,
            pages_failed: 0,
            pages_skipped: 0,
            companies_created: 0,
            companies_updated: 0,
            errors: Vec::new(),
        }
    }

    /// Whether the run has ended.
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    /// Documents dealt with so far: grows with every progress step of one run.
    pub fn progress(&self) -> i64 {
        i64::from(self.pages_fetched) + i64::from(self.pages_failed) + i64::from(self.pages_skipped)
    }
}

/// The phase a job of the database backend shows, from its suspension, its runs in
/// progress and how its latest run ended: the operator's rule for a ScrapeJob
/// ([`Phase::of`]), whose spec was valid when it was stored.
pub fn job_phase(suspended: bool, active_runs: i64, last_run: Option<RunStatus>) -> Phase {
    Phase::of(
        true,
        active_runs > 0,
        suspended,
        last_run.map(RunResult::from),
    )
}

/// The status of a run from the result a ScrapeJob's status shows for it.
pub fn status_of(result: RunResult) -> RunStatus {
    RunStatus::from(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn phases() {
        // Suspending does not stop the run in progress: it shows until it ends.
        assert_eq!(job_phase(true, 1, Some(RunStatus::Failed)), Phase::Running);
        assert_eq!(
            job_phase(true, 0, Some(RunStatus::Failed)),
            Phase::Suspended
        );
        assert_eq!(job_phase(false, 1, Some(RunStatus::Failed)), Phase::Running);
        assert_eq!(
            job_phase(false, 0, Some(RunStatus::Cancelled)),
            Phase::Failed
        );
        assert_eq!(
            job_phase(false, 0, Some(RunStatus::Succeeded)),
            Phase::Succeeded
        );
        assert_eq!(job_phase(false, 0, None), Phase::Pending);
    }

    #[test]
    fn a_scrapejob_run_result_is_the_run_status_it_came_from() {
        for status in RunStatus::ALL {
            let shown = status_of(RunResult::from(status));
            // The status leaves out only whether a run in progress has started.
            let expected = if status == RunStatus::Queued {
                RunStatus::Running
            } else {
                status
            };
            assert_eq!(shown, expected);
        }
    }

    #[test]
    fn a_run_reads_the_scrapers_json_and_writes_it_back_alike() {
        let wire = json!({
            "id": Uuid::nil(), "job": "nightly", "status": "running",
            "started_at": "2026-01-01T00:00:00Z", "finished_at": null,
            "pages_fetched": 3, "pages_unchanged": 1, "pages_failed": 1, "pages_skipped": 2,
            "companies_created": 2, "companies_updated": 0,
            "errors": [{"url": "http://site/c/1", "kind": "http_503", "message": "503"}],
        });
        let run: Run = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(run.status, RunStatus::Running);
        assert!(!run.is_final());
        assert_eq!(run.progress(), 6);
        assert_eq!(run.errors[0].kind, "http_503");
        assert_eq!(serde_json::to_value(&run).unwrap(), wire);
        // Counts and errors the scraper leaves out are zero and none.
        let bare: Run = serde_json::from_value(json!({
            "id": Uuid::nil(), "job": "j", "status": "succeeded",
            "started_at": null, "finished_at": null,
        }))
        .unwrap();
        assert!(bare.is_final());
        assert_eq!((bare.progress(), bare.errors.len()), (0, 0));
        // A status the app does not know is not a run it can show.
        let unknown = json!({"id": Uuid::nil(), "job": "j", "status": "done",
            "started_at": null, "finished_at": null});
        assert!(serde_json::from_value::<Run>(unknown).is_err());
    }
}

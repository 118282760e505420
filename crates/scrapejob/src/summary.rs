//! What a run reports when it ends: its status and counts. `scraper run` prints it and writes
//! it to the termination log; the operator reads it back into the ScrapeJob's status.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a run stands: queued, running, or ended (succeeded, failed or cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Accepted, not started yet.
    Queued,
    /// In progress.
    Running,
    /// Went through its targets (some documents may have failed).
    Succeeded,
    /// Could not finish: timeout, the database gone, or more than half its documents failed.
    Failed,
    /// Stopped before the end on request (a signal, or a run that replaced it).
    Cancelled,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The status as written in JSON, rows and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Exit code of `scraper run` for a run that ended so: 0 only when it succeeded, so the
    /// Kubernetes Job fails with the run.
    pub fn exit_code(self) -> i32 {
        if self == RunStatus::Succeeded { 0 } else { 1 }
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::parse(s).ok_or_else(|| {
            format!("{s:?} is not one of queued, running, succeeded, failed, cancelled")
        })
    }
}

impl PartialEq<str> for RunStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The summary of a run (one process, or one shard of a sharded run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// When it started (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it finished (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Documents fetched.
    #[serde(default)]
    pub pages_fetched: u64,
    /// Documents fetched that had not changed since they were last stored.
    #[serde(default)]
    pub pages_unchanged: u64,
    /// Documents that could not be fetched or parsed.
    #[serde(default)]
    pub pages_failed: u64,
    /// Documents not fetched on purpose: robots.txt disallows them. Not failures (a
    /// summary written before they were counted reads as 0).
    #[serde(default)]
    pub pages_skipped: u64,
    /// Companies seen for the first time.
    #[serde(default)]
    pub companies_created: u64,
    /// Known companies with changed fields.
    #[serde(default)]
    pub companies_updated: u64,
    /// Why the run failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl RunSummary {
    /// A summary with no counts yet.
    pub fn new(run_id: impl Into<String>, status: RunStatus) -> Self {
        RunSummary {
            run_id: run_id.into(),
            status,
            started_at: None,
            finished_at: None,
            pages_fetched: 0,
            pages_unchanged: 0,
            pages_failed: 0,
            pages_skipped: 0,
            companies_created: 0,
            companies_updated: 0,
            failure: None,
        }
    }

    /// The summary as the one JSON line `scraper run` prints and writes.
    pub fn to_line(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a termination message: the summary itself, or (when Kubernetes fell back to the
    /// log's tail) log lines whose last line that parses as a summary is used.
    pub fn from_termination_message(message: &str) -> Option<Self> {
        if let Ok(summary) = serde_json::from_str::<RunSummary>(message.trim()) {
            return Some(summary);
        }
        message
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<RunSummary>(line.trim()).ok())
    }

    /// The summary of a whole run from the summaries of its shards: counts add up, it
    /// started when the first shard started and finished when the last one finished; it
    /// failed when any shard failed, was cancelled when any shard was (and none failed),
    /// is running while any shard is not finished, and succeeded when every shard did.
    /// `None` for no shards.
    pub fn combine<'a>(shards: impl IntoIterator<Item = &'a RunSummary>) -> Option<RunSummary> {
        let mut shards = shards.into_iter();
        let mut total = shards.next()?.clone();
        let mut failures: Vec<String> = total.failure.take().into_iter().collect();
        for s in shards {
            total.status = worse(total.status, s.status);
            total.started_at = earliest(total.started_at.take(), s.started_at.clone());
            total.finished_at = match (total.finished_at.take(), s.finished_at.clone()) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            total.pages_fetched = total.pages_fetched.saturating_add(s.pages_fetched);
            total.pages_unchanged = total.pages_unchanged.saturating_add(s.pages_unchanged);
            total.pages_failed = total.pages_failed.saturating_add(s.pages_failed);
            total.pages_skipped = total.pages_skipped.saturating_add(s.pages_skipped);
            total.companies_created = total.companies_created.saturating_add(s.companies_created);
            total.companies_updated = total.companies_updated.saturating_add(s.companies_updated);
            if let Some(f) = &s.failure
                && !failures.contains(f)
            {
                failures.push(f.clone());
            }
        }
        if !total.status.is_final() {
            total.finished_at = None;
        }
        total.failure = (!failures.is_empty() && total.status != RunStatus::Succeeded)
            .then(|| failures.join("; "));
        Some(total)
    }

    /// Companies created or updated.
    pub fn companies_written(&self) -> u64 {
        self.companies_created
            .saturating_add(self.companies_updated)
    }
}

/// The status of a run with shards in `a` and `b`: failed over cancelled over running over
/// queued over succeeded.
fn worse(a: RunStatus, b: RunStatus) -> RunStatus {
    let rank = |s: RunStatus| match s {
        RunStatus::Succeeded => 0,
        RunStatus::Queued => 1,
        RunStatus::Running => 2,
        RunStatus::Cancelled => 3,
        RunStatus::Failed => 4,
    };
    let worst = if rank(b) > rank(a) { b } else { a };
    // Some shards done and others queued: the run as a whole is running.
    if worst == RunStatus::Queued && (a == RunStatus::Succeeded || b == RunStatus::Succeeded) {
        RunStatus::Running
    } else {
        worst
    }
}

/// The earlier of two RFC 3339 UTC stamps (same format, so they order as strings).
fn earliest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_lowercase_everywhere() {
        for status in RunStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<RunStatus>(&json).unwrap(), status);
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
            assert_eq!(status, status.as_str());
        }
        assert!(serde_json::from_str::<RunStatus>("\"Succeeded\"").is_err());
        assert!(RunStatus::parse("done").is_none());
    }

    #[test]
    fn termination_message_as_summary_or_log_tail() {
        let mut s = RunSummary::new("r1", RunStatus::Cancelled);
        s.pages_fetched = 3;
        s.failure = Some("cancelled".into());
        let line = s.to_line();
        assert_eq!(RunSummary::from_termination_message(&line), Some(s.clone()));
        let logs = format!(
            "{{\"level\":\"info\",\"status\":\"running\"}}\n{{\"run_id\":\"r0\",\"status\":\"running\"}}\n{line}\n{{\"level\":\"warn\",\"msg\":\"bye\"}}\n"
        );
        assert_eq!(RunSummary::from_termination_message(&logs), Some(s));
        assert_eq!(
            RunSummary::from_termination_message("Error: database gone"),
            None
        );
        assert_eq!(RunSummary::from_termination_message(""), None);
        assert_eq!(
            RunSummary::from_termination_message(r#"{"status":"exploded"}"#),
            None
        );
    }

    #[test]
    fn a_summary_written_before_skips_were_counted_reads_them_as_zero() {
        let old = r#"{"run_id":"r1","status":"succeeded","pages_fetched":7,"pages_failed":1}"#;
        let s = RunSummary::from_termination_message(old).unwrap();
        assert_eq!(
            (s.pages_fetched, s.pages_failed, s.pages_skipped),
            (7, 1, 0)
        );
        let mut a = RunSummary::new("r", RunStatus::Succeeded);
        a.pages_skipped = 2;
        let mut b = a.clone();
        b.pages_skipped = 3;
        assert_eq!(RunSummary::combine([&a, &b]).unwrap().pages_skipped, 5);
        assert!(a.to_line().contains(r#""pages_skipped":2"#));
    }

    fn shard(status: RunStatus, fetched: u64, start: &str, end: Option<&str>) -> RunSummary {
        let mut s = RunSummary::new("r", status);
        s.pages_fetched = fetched;
        s.companies_created = fetched / 2;
        s.started_at = Some(start.into());
        s.finished_at = end.map(Into::into);
        s
    }

    #[test]
    fn shards_add_up_to_the_run() {
        let a = shard(
            RunStatus::Succeeded,
            10,
            "2026-01-01T00:00:02Z",
            Some("2026-01-01T00:01:00Z"),
        );
        let b = shard(
            RunStatus::Succeeded,
            6,
            "2026-01-01T00:00:01Z",
            Some("2026-01-01T00:02:00Z"),
        );
        let all = RunSummary::combine([&a, &b]).unwrap();
        assert_eq!(all.status, RunStatus::Succeeded);
        assert_eq!((all.pages_fetched, all.companies_created), (16, 8));
        assert_eq!(all.started_at.as_deref(), Some("2026-01-01T00:00:01Z"));
        assert_eq!(all.finished_at.as_deref(), Some("2026-01-01T00:02:00Z"));
        assert_eq!(all.failure, None);
        assert_eq!(RunSummary::combine([&a]), Some(a));
        assert_eq!(RunSummary::combine([]), None);
    }

    #[test]
    fn one_failing_shard_fails_the_run() {
        let ok = shard(
            RunStatus::Succeeded,
            10,
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:01:00Z"),
        );
        let mut bad = shard(
            RunStatus::Failed,
            2,
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:00:30Z"),
        );
        bad.failure = Some("timed out after 60s".into());
        let mut cancelled = shard(
            RunStatus::Cancelled,
            1,
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:00:10Z"),
        );
        cancelled.failure = Some("cancelled".into());
        let all = RunSummary::combine([&ok, &cancelled, &bad]).unwrap();
        assert_eq!(all.status, RunStatus::Failed);
        assert_eq!(
            all.failure.as_deref(),
            Some("cancelled; timed out after 60s")
        );
        assert_eq!(
            RunSummary::combine([&ok, &cancelled]).unwrap().status,
            RunStatus::Cancelled
        );
    }

    #[test]
    fn a_run_with_a_shard_still_going_is_running_and_not_finished() {
        let done = shard(
            RunStatus::Succeeded,
            10,
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:01:00Z"),
        );
        let going = shard(RunStatus::Running, 3, "2026-01-01T00:00:00Z", None);
        let queued = shard(RunStatus::Queued, 0, "2026-01-01T00:00:00Z", None);
        for parts in [[&done, &going], [&done, &queued], [&queued, &done]] {
            let all = RunSummary::combine(parts).unwrap();
            assert_eq!(all.status, RunStatus::Running);
            assert_eq!(all.finished_at, None);
        }
        assert_eq!(
            RunSummary::combine([&queued, &queued]).unwrap().status,
            RunStatus::Queued
        );
    }
}

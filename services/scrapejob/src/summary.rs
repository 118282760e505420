//! What a run reports when it ends: its status and counts. `scraper run` prints it and writes
//! it to the termination log; the operator reads it back into the ScrapeJob's status.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a run stands (contract §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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

    /// Companies created or updated.
    pub fn companies_written(&self) -> u64 {
        self.companies_created
            .saturating_add(self.companies_updated)
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
}

//! The query of a run list, as the scraper serves it and the app passes it on.

use gleaner_scrapejob::RunStatus;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A run status, as the `status` filter takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatusFilter {
    /// Accepted, not started yet.
    Queued,
    /// In progress.
    Running,
    /// Went through its targets.
    Succeeded,
    /// Could not finish.
    Failed,
    /// Stopped before the end on request.
    Cancelled,
}

impl From<RunStatusFilter> for RunStatus {
    fn from(status: RunStatusFilter) -> Self {
        match status {
            RunStatusFilter::Queued => RunStatus::Queued,
            RunStatusFilter::Running => RunStatus::Running,
            RunStatusFilter::Succeeded => RunStatus::Succeeded,
            RunStatusFilter::Failed => RunStatus::Failed,
            RunStatusFilter::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// Run filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Only this job's runs.
    pub job: Option<String>,
    /// Only runs with this status.
    #[param(inline)]
    pub status: Option<RunStatusFilter>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_takes_every_run_status_by_its_name() {
        for status in RunStatus::ALL {
            let filter: RunStatusFilter =
                serde_json::from_value(serde_json::json!(status.as_str())).unwrap();
            assert_eq!(RunStatus::from(filter), status);
        }
    }
}

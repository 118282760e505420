//! The query of a run list, as the scraper serves it and the app passes it on.

use gleaner_scrapejob::RunStatus;
use serde::Deserialize;
use utoipa::IntoParams;

/// Run filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Only this job's runs.
    pub job: Option<String>,
    /// Only runs with this status.
    #[param(inline)]
    pub status: Option<RunStatus>,
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
            let filter: RunFilter =
                serde_json::from_value(serde_json::json!({"status": status.as_str()})).unwrap();
            assert_eq!(filter.status, Some(status));
        }
        assert!(
            serde_json::from_value::<RunFilter>(serde_json::json!({"status": "done"})).is_err()
        );
    }
}

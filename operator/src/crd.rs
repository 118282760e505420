//! The `ScrapeJob` custom resource (`gleaner.dev/v1alpha1`), defined in the shared ScrapeJob
//! crate; what only the operator adds (run ids of run-now requests) lives here.

pub use gleaner_scrapejob::crd::{
    GROUP, LastRun, Phase, RUN_ID_LABEL, RUN_NOW_ANNOTATION, RUN_NOW_TOKEN_ANNOTATION, RunResult,
    SCHEDULED_AT_ANNOTATION, SCRAPEJOB_LABEL, ScrapeJob, ScrapeJobStatus, TRIGGER_ANNOTATION,
    VERSION, crd_yaml, scrapejob_crd,
};
pub use gleaner_scrapejob::limits::NAME_MAX_LEN as MAX_NAME_LEN;
pub use gleaner_scrapejob::{ConcurrencyPolicy, PageRange, ScrapeJobSpec, Source, Targets};

/// The run id the operator gives the run started by a run-now `token` (known before it
/// starts), or None for an object not read from the API server (no uid yet).
pub fn run_id_for_token(scrapejob: &ScrapeJob, token: &str) -> Option<String> {
    let uid = scrapejob.metadata.uid.as_deref()?;
    Some(
        crate::run::Trigger::RunNow(token.trim().to_owned())
            .run_id(uid)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunRequest, Trigger};

    #[test]
    fn run_now_helpers_match_what_the_operator_does() {
        let patch = ScrapeJob::run_now_patch("t-42");
        assert_eq!(
            patch["metadata"]["annotations"]["gleaner.dev/run-now"],
            "t-42"
        );
        let mut sj = ScrapeJob::new("nightly", ScrapeJobSpec::with_targets(Targets::default()));
        assert_eq!(run_id_for_token(&sj, "t-42"), None);
        sj.metadata.uid = Some("uid-1".into());
        let expected = RunRequest::new("nightly", "uid-1", Trigger::RunNow("t-42".into()));
        assert_eq!(run_id_for_token(&sj, "t-42"), Some(expected.run_id));
    }

    #[test]
    fn spec_json_is_camel_case_with_defaults() {
        let spec: ScrapeJobSpec =
            serde_json::from_value(serde_json::json!({"targets": {"idnos": ["1003600012345"]}}))
                .unwrap();
        assert_eq!(spec, ScrapeJobSpec::with_targets(spec.targets.clone()));
        let v = serde_json::to_value(&spec).unwrap();
        for key in [
            "source",
            "baseUrl",
            "apiUrl",
            "targets",
            "suspend",
            "concurrency",
            "requestsPerSecond",
            "maxRetries",
            "timeoutSeconds",
            "respectRobotsTxt",
            "concurrencyPolicy",
            "successfulRunsHistoryLimit",
            "failedRunsHistoryLimit",
            "shards",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v.get("schedule").is_none());
        assert_eq!(v["source"], "openmoney");
        assert_eq!(v["concurrencyPolicy"], "Forbid");
        assert_eq!(v["shards"], 1);
    }
}

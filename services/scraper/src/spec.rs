//! The run specification: the ScrapeJob spec (docs/operator.md) as defined once in the ScrapeJob
//! crate, which the operator hands to `scraper run` in `SCRAPEJOB_SPEC` and the run API takes.

use gleaner_common::FieldError;
use gleaner_scrapejob::Idno;
pub use gleaner_scrapejob::{PageRange as ListPages, ScrapeJobSpec as RunSpec, Targets};

/// Every problem with the spec, as field errors (`spec.` paths), from the one validation
/// the operator and the CRD share.
pub fn field_errors(spec: &RunSpec) -> Vec<FieldError> {
    match spec.validate() {
        Ok(()) => Vec::new(),
        Err(invalid) => invalid.errors,
    }
}

/// Whether `s` is a 13-digit IDNO.
pub fn is_idno(s: &str) -> bool {
    Idno::is_valid(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::runs::StartRun;
    use gleaner_scrapejob::testing::{edge_specs, example_specs};
    use serde_json::json;

    /// `scraper run`: what `SCRAPEJOB_SPEC` goes through before a run starts.
    fn run_command_accepts(spec: &serde_json::Value) -> bool {
        serde_json::from_str::<RunSpec>(&spec.to_string())
            .is_ok_and(|spec| field_errors(&spec).is_empty())
    }

    /// `POST /internal/v1/runs`: the body's spec, as the handler checks it.
    fn run_api_accepts(spec: &serde_json::Value) -> bool {
        serde_json::from_value::<StartRun>(json!({"job": "nightly", "spec": spec}))
            .is_ok_and(|req| field_errors(&req.spec).is_empty())
    }

    #[test]
    fn samples_and_edge_specs_get_the_same_verdict_as_the_operator_and_the_crd() {
        let examples = example_specs();
        assert!(examples.len() >= 4);
        let cases = edge_specs();
        assert!(cases.len() > 100);
        for case in cases.into_iter().chain(examples) {
            assert_eq!(
                run_command_accepts(&case.spec),
                case.valid,
                "scraper run: {}",
                case.name
            );
            assert_eq!(
                run_api_accepts(&case.spec),
                case.valid,
                "run API: {}",
                case.name
            );
        }
    }

    #[test]
    fn invalid_specs_name_fields_in_order() {
        let spec: RunSpec = serde_json::from_value(json!({
            "baseUrl": "ftp://x", "apiUrl": "http://a",
            "targets": {}, "concurrency": 0, "requestsPerSecond": 0
        }))
        .unwrap();
        let fields: Vec<String> = field_errors(&spec).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "spec.baseUrl",
                "spec.targets",
                "spec.concurrency",
                "spec.requestsPerSecond"
            ]
        );
    }

    #[test]
    fn roots_are_trimmed_and_scheduling_fields_are_accepted() {
        let spec: RunSpec = serde_json::from_value(json!({
            "baseUrl": "http://127.0.0.1:8090/", "apiUrl": "http://127.0.0.1:8090",
            "targets": {"listPages": {"from": 1, "to": 2}}, "schedule": "0 3 * * *",
            "suspend": true, "concurrencyPolicy": "Replace"
        }))
        .unwrap();
        assert!(field_errors(&spec).is_empty());
        assert_eq!(spec.base_root(), "http://127.0.0.1:8090");
        assert_eq!(
            (
                spec.concurrency,
                spec.max_retries,
                spec.timeout_seconds,
                spec.shards
            ),
            (4, 3, 3600, 1)
        );
    }
}

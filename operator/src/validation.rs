//! The operator's check of a ScrapeJob: the shared spec validation (the same rules as the
//! CRD schema, its CEL rules and the scraper), the name rule, and the parsed schedule.

use gleaner_egress::EgressPolicy;
use gleaner_scrapejob::{FieldError, ScrapeJobSpec, validate_name};

use crate::schedule::Schedule;

/// Every reason a ScrapeJob cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec: {}", .problems.join("; "))]
pub struct InvalidSpec {
    /// One entry per problem found, each `field: message`.
    pub problems: Vec<String>,
    /// The same problems as field errors.
    pub errors: Vec<FieldError>,
}

/// Checks a ScrapeJob's name and spec, returning its parsed schedule when it is valid.
///
/// A spec that slipped past an API server without the CRD's schema (or an older CRD) is
/// still refused with a reason.
pub fn validate(name: &str, spec: &ScrapeJobSpec) -> Result<Option<Schedule>, InvalidSpec> {
    let mut errors: Vec<FieldError> = validate_name(name).into_iter().collect();
    if let Err(invalid) = spec.validate() {
        errors.extend(invalid.errors);
    }
    if !errors.is_empty() {
        return Err(InvalidSpec {
            problems: errors.iter().map(ToString::to_string).collect(),
            errors,
        });
    }
    // The spec validation has parsed the schedule already; this cannot fail.
    match spec.schedule.as_deref().map(Schedule::parse).transpose() {
        Ok(schedule) => Ok(schedule),
        Err(e) => {
            let error = FieldError::new("spec.schedule", e.reason);
            Err(InvalidSpec {
                problems: vec![error.to_string()],
                errors: vec![error],
            })
        }
    }
}

/// Checks that the spec's sources are hosts this installation's runs may reach: each
/// host must be in `SCRAPER_ALLOWED_HOSTS` (an address inside `SCRAPER_ALLOWED_NETWORKS` is
/// not a host unless listed), and a non-public IP-literal host must also lie in an allowed
/// network.
pub fn check_egress(policy: &EgressPolicy, spec: &ScrapeJobSpec) -> Result<(), InvalidSpec> {
    let errors = gleaner_scrapejob::egress::check_spec(policy, spec);
    if errors.is_empty() {
        return Ok(());
    }
    Err(InvalidSpec {
        problems: errors.iter().map(ToString::to_string).collect(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{PageRange, Targets};

    fn spec() -> ScrapeJobSpec {
        ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: None,
        })
    }

    fn fields(name: &str, s: &ScrapeJobSpec) -> Vec<String> {
        validate(name, s)
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn default_spec_is_valid() {
        assert!(validate("ok", &spec()).is_ok());
    }

    #[test]
    fn schedule_is_parsed() {
        let mut s = spec();
        s.schedule = Some("0 3 * * *".into());
        assert!(validate("ok", &s).unwrap().is_some());
        s.schedule = Some("every night".into());
        assert_eq!(fields("ok", &s), ["spec.schedule"]);
        s.schedule = Some("99 3 * * *".into());
        assert_eq!(fields("ok", &s), ["spec.schedule"]);
    }

    #[test]
    fn name_and_spec_problems_are_reported_together() {
        let mut s = spec();
        s.targets.list_pages = Some(PageRange { from: 5, to: 2 });
        s.concurrency = 0;
        let invalid = validate(&"x".repeat(64), &s).unwrap_err();
        assert_eq!(
            invalid
                .errors
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            [
                "metadata.name",
                "spec.targets.listPages",
                "spec.concurrency"
            ]
        );
        assert!(
            invalid
                .to_string()
                .starts_with("invalid spec: metadata.name: ")
        );
        assert!(invalid.problems[1].contains("greater than"));
    }

    #[test]
    fn egress_names_each_refused_source() {
        let policy = gleaner_scrapejob::egress::local_policy();
        let mut s = spec();
        s.base_url = "http://127.0.0.1:8090".into();
        s.api_url = "http://localhost:8090/api".into();
        assert_eq!(check_egress(&policy, &s), Ok(()));
        // An address inside the allowed network is not an allowed host unless listed.
        s.base_url = "http://127.0.0.2:9/".into();
        let refused = check_egress(&policy, &s).unwrap_err();
        assert_eq!(refused.errors.len(), 1);
        assert_eq!(refused.errors[0].field, "spec.baseUrl");
        assert!(refused.problems[0].contains("SCRAPER_ALLOWED_HOSTS"));
    }
}

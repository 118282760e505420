//! The operator's own check of a ScrapeJob spec: what the schema and CEL rules say, and what they cannot (cron syntax).

use crate::crd::{MAX_NAME_LEN, ScrapeJobSpec};
use crate::schedule::Schedule;

/// Every reason a spec cannot run, each as `field: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec: {}", .problems.join("; "))]
pub struct InvalidSpec {
    /// One entry per problem found.
    pub problems: Vec<String>,
}

/// Checks a ScrapeJob's name and spec, returning its parsed schedule when it is valid.
///
/// Mirrors the CRD schema and its CEL rules, so a spec that slipped past an API server
/// without them (or an older CRD) is still refused with a reason.
pub fn validate(name: &str, spec: &ScrapeJobSpec) -> Result<Option<Schedule>, InvalidSpec> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, msg: String| problems.push(format!("{field}: {msg}"));

    if name.is_empty() || name.len() > MAX_NAME_LEN {
        problem(
            "metadata.name",
            format!("must be 1 to {MAX_NAME_LEN} characters"),
        );
    }
    for (field, url) in [
        ("spec.baseUrl", &spec.base_url),
        ("spec.apiUrl", &spec.api_url),
    ] {
        if !is_http_url(url) {
            problem(field, format!("{url:?} is not an http(s) URL"));
        }
    }

    let idnos = spec.targets.idnos.as_deref().unwrap_or_default();
    if idnos.is_empty() && spec.targets.list_pages.is_none() {
        problem(
            "spec.targets",
            "needs at least one of idnos or listPages".to_owned(),
        );
    }
    if idnos.len() > 10_000 {
        problem("spec.targets.idnos", "at most 10000 entries".to_owned());
    }
    if spec.targets.idnos.as_ref().is_some_and(Vec::is_empty) {
        problem(
            "spec.targets.idnos",
            "must not be empty when given".to_owned(),
        );
    }
    for idno in idnos {
        if idno.len() != 13 || !idno.bytes().all(|b| b.is_ascii_digit()) {
            problem(
                "spec.targets.idnos",
                format!("{idno:?} is not a 13-digit IDNO"),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = idnos.iter().find(|i| !seen.insert(i.as_str())) {
        problem("spec.targets.idnos", format!("{dup:?} is listed twice"));
    }
    if let Some(pages) = spec.targets.list_pages {
        if !(1..=1_000_000).contains(&pages.from) || !(1..=1_000_000).contains(&pages.to) {
            problem(
                "spec.targets.listPages",
                "pages are counted from 1 to 1000000".to_owned(),
            );
        }
        if pages.from > pages.to {
            problem(
                "spec.targets.listPages",
                format!("from ({}) is greater than to ({})", pages.from, pages.to),
            );
        }
    }

    if !(1..=64).contains(&spec.concurrency) {
        problem("spec.concurrency", "must be 1 to 64".to_owned());
    }
    let rps = spec.requests_per_second;
    if !(rps.is_finite() && rps > 0.0 && rps <= 1000.0) {
        problem(
            "spec.requestsPerSecond",
            "must be greater than 0 and at most 1000".to_owned(),
        );
    }
    if spec.max_retries > 10 {
        problem("spec.maxRetries", "must be 0 to 10".to_owned());
    }
    if !(60..=86_400).contains(&spec.timeout_seconds) {
        problem("spec.timeoutSeconds", "must be 60 to 86400".to_owned());
    }
    if spec.successful_runs_history_limit > 100 {
        problem(
            "spec.successfulRunsHistoryLimit",
            "must be 0 to 100".to_owned(),
        );
    }
    if spec.failed_runs_history_limit > 100 {
        problem("spec.failedRunsHistoryLimit", "must be 0 to 100".to_owned());
    }

    let schedule = match spec.schedule.as_deref() {
        None => None,
        Some(pattern) => match Schedule::parse(pattern) {
            Ok(s) => Some(s),
            Err(e) => {
                problem("spec.schedule", e.reason.clone());
                None
            }
        },
    };

    if problems.is_empty() {
        Ok(schedule)
    } else {
        Err(InvalidSpec { problems })
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !url.chars().any(char::is_whitespace) && url.len() <= 2048
        }
        None => false,
    }
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

    fn problems(name: &str, s: &ScrapeJobSpec) -> Vec<String> {
        validate(name, s)
            .err()
            .map(|e| e.problems)
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
        assert_eq!(problems("ok", &s).len(), 1);
        assert!(problems("ok", &s)[0].starts_with("spec.schedule"));
    }

    #[test]
    fn targets_need_one_of_idnos_or_pages() {
        let mut s = spec();
        s.targets = Targets::default();
        assert!(problems("ok", &s)[0].contains("at least one"));
        s.targets.idnos = Some(vec![]);
        assert!(!problems("ok", &s).is_empty());
        s.targets.list_pages = Some(PageRange { from: 1, to: 1 });
        s.targets.idnos = None;
        assert!(validate("ok", &s).is_ok());
    }

    #[test]
    fn page_range_must_be_ordered() {
        let mut s = spec();
        s.targets.list_pages = Some(PageRange { from: 5, to: 2 });
        assert!(problems("ok", &s)[0].contains("greater than"));
        s.targets.list_pages = Some(PageRange { from: 0, to: 2 });
        assert!(!problems("ok", &s).is_empty());
    }

    #[test]
    fn ranges_and_formats() {
        let mut s = spec();
        s.concurrency = 0;
        s.requests_per_second = 0.0;
        s.max_retries = 11;
        s.timeout_seconds = 10;
        s.base_url = "ftp://x".into();
        s.api_url = "https://".into();
        s.targets.idnos = Some(vec![
            "123".into(),
            "1003600012345".into(),
            "1003600012345".into(),
        ]);
        s.successful_runs_history_limit = 101;
        s.failed_runs_history_limit = 101;
        let p = problems(&"x".repeat(64), &s);
        assert_eq!(p.len(), 11, "{p:#?}");
        s.requests_per_second = f64::NAN;
        assert!(
            problems("ok", &s)
                .iter()
                .any(|p| p.contains("requestsPerSecond"))
        );
    }
}

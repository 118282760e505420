//! The run specification: the ScrapeJob `spec` (contract §7), camelCase, as
//! the operator hands it to `scraper run` in `SCRAPEJOB_SPEC`.

use gleaner_common::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Registry list pages to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListPages {
    /// First page (from 1).
    pub from: u32,
    /// Last page, inclusive.
    pub to: u32,
}

/// What a run fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    /// Specific companies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idnos: Vec<String>,
    /// Registry list pages; every company on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_pages: Option<ListPages>,
}

fn default_source() -> String {
    "openmoney".into()
}
fn default_concurrency() -> u32 {
    4
}
fn default_rps() -> f64 {
    2.0
}
fn default_retries() -> u32 {
    3
}
fn default_timeout() -> u64 {
    3600
}
fn default_true() -> bool {
    true
}

/// A run's specification. Scheduling fields of the ScrapeJob are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSpec {
    /// The source; only `openmoney`.
    #[serde(default = "default_source")]
    pub source: String,
    /// Site root (HTML pages, robots.txt).
    pub base_url: String,
    /// JSON API root.
    pub api_url: String,
    /// What to fetch.
    pub targets: Targets,
    /// Requests in flight, 1..=64.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Requests per second per host (> 0), a ceiling.
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Retries per document on 408/425/429/5xx/timeouts.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Whole-run timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Honour robots.txt.
    #[serde(default = "default_true")]
    pub respect_robots_txt: bool,
    /// Accepted for compatibility with the ScrapeJob spec; unused by a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Accepted and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Accepted and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<String>,
    /// Accepted and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_runs_history_limit: Option<u32>,
    /// Accepted and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_runs_history_limit: Option<u32>,
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Whether `s` is a 13-digit IDNO.
pub fn is_idno(s: &str) -> bool {
    s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit())
}

impl RunSpec {
    /// Every problem with the spec, as field errors (`spec.` paths).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |f: &str, m: &str| errors.push(FieldError::new(format!("spec.{f}"), m));
        if self.source != "openmoney" {
            err("source", "must be \"openmoney\"");
        }
        if !is_http_url(&self.base_url) {
            err("baseUrl", "must be an http(s) URL");
        }
        if !is_http_url(&self.api_url) {
            err("apiUrl", "must be an http(s) URL");
        }
        if self.targets.idnos.is_empty() && self.targets.list_pages.is_none() {
            err("targets", "needs idnos or listPages");
        }
        if self.targets.idnos.iter().any(|i| !is_idno(i)) {
            err("targets.idnos", "every IDNO must be 13 digits");
        }
        if let Some(p) = self.targets.list_pages
            && (p.from == 0 || p.from > p.to || p.to - p.from >= 10_000)
        {
            err(
                "targets.listPages",
                "must satisfy 1 <= from <= to, at most 10000 pages",
            );
        }
        if !(1..=64).contains(&self.concurrency) {
            err("concurrency", "must be between 1 and 64");
        }
        if !(self.requests_per_second > 0.0 && self.requests_per_second <= 100_000.0) {
            err("requestsPerSecond", "must be > 0 and at most 100000");
        }
        if self.max_retries > 20 {
            err("maxRetries", "must be at most 20");
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 7 * 86400 {
            err("timeoutSeconds", "must be between 1 and 604800");
        }
        errors
    }

    /// The API root without a trailing slash.
    pub fn api_root(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }

    /// The site root without a trailing slash.
    pub fn base_root(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        serde_json::from_value(serde_json::json!({
            "baseUrl": "http://127.0.0.1:8090", "apiUrl": "http://127.0.0.1:8090",
            "targets": {"listPages": {"from": 1, "to": 2}}, "schedule": "0 3 * * *"
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_valid() {
        let s = spec();
        assert_eq!(
            (s.concurrency, s.max_retries, s.timeout_seconds),
            (4, 3, 3600)
        );
        assert!(s.respect_robots_txt);
        assert!(s.validate().is_empty());
    }

    #[test]
    fn invalid_specs_name_fields() {
        let mut s = spec();
        s.targets = Targets::default();
        s.concurrency = 0;
        s.requests_per_second = 0.0;
        s.base_url = "ftp://x".into();
        let fields: Vec<String> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "spec.baseUrl",
                "spec.targets",
                "spec.concurrency",
                "spec.requestsPerSecond"
            ]
        );
        let mut s = spec();
        s.targets.list_pages = Some(ListPages { from: 3, to: 2 });
        s.targets.idnos = vec!["123".into()];
        assert_eq!(s.validate().len(), 2);
    }
}

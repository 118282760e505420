//! Scrape jobs behind one trait, with two backends: the app's database (outside a
//! cluster) and ScrapeJob resources (in a cluster).

pub mod database;
pub mod kube;
pub mod scheduler;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gleaner_common::pagination::PageRequest;
use gleaner_common::{ApiError, FieldError};
use gleaner_egress::EgressPolicy;
use gleaner_scrapejob::ScrapeJobSpec;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::runs::{Phase, Run, RunStatus};
use crate::scraper::ScraperError;

/// A scrape job as the API shows it (`GET /api/v1/scrape-jobs/{name}`, docs/app.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    /// Unique name (a DNS label, as a ScrapeJob resource's name).
    pub name: String,
    /// What and how to scrape (as in the ScrapeJob resource, camelCase).
    #[schema(value_type = Object)]
    pub spec: ScrapeJobSpec,
    /// What the job is doing.
    pub status: JobStatus,
}

/// A job's state, as in the ScrapeJob resource's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// What the job is doing, as the operator sets it on a ScrapeJob.
    pub phase: Phase,
    /// The latest run, if any.
    pub last_run: Option<LastRun>,
    /// When the schedule starts the next run (none when unscheduled or suspended).
    pub next_run_at: Option<DateTime<Utc>>,
}

/// Summary of a job's latest run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// Run id.
    pub name: String,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub result: RunStatus,
    /// Documents received.
    pub pages_fetched: i32,
    /// Documents that failed.
    pub pages_failed: i32,
    /// New companies.
    pub companies_created: i32,
    /// Changed companies.
    pub companies_updated: i32,
}

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No job of that name.
    #[error("no scrape job named {0:?}")]
    NotFound(String),
    /// A job of that name exists.
    #[error("a scrape job named {0:?} already exists")]
    Exists(String),
    /// The name or spec is invalid.
    #[error("invalid scrape job")]
    Invalid(Vec<FieldError>),
    /// The scraper refused or is down.
    #[error(transparent)]
    Scraper(#[from] ScraperError),
    /// The job changed meanwhile.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The Kubernetes API failed.
    #[error("the Kubernetes API failed: {0}")]
    Kubernetes(::kube::Error),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(_) => ApiError::not_found(e.to_string()),
            JobError::Exists(_) => ApiError::conflict(e.to_string()),
            JobError::Invalid(errors) => ApiError::validation(errors),
            JobError::Scraper(e) => e.into(),
            JobError::Conflict(_) => ApiError::conflict(e.to_string()),
            JobError::Database(e) => e.into(),
            JobError::Kubernetes(e) => ApiError::unavailable("the Kubernetes API", e),
            JobError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// Where scrape jobs live; every backend behaves the same through the API.
#[async_trait]
pub trait JobBackend: Send + Sync {
    /// Create a job; one without schedule starts its run now, acting with `token`.
    async fn create(&self, name: &str, spec: ScrapeJobSpec, token: &str) -> Result<Job, JobError>;
    /// A page of jobs, by name.
    async fn list(&self, page: PageRequest) -> Result<(Vec<Job>, i64), JobError>;
    /// One job.
    async fn get(&self, name: &str) -> Result<Job, JobError>;
    /// Merge `patch` into the job's spec (JSON merge patch), validate, store.
    async fn patch(&self, name: &str, patch: Map<String, Value>) -> Result<Job, JobError>;
    /// Delete a job (its runs in progress finish on their own).
    async fn delete(&self, name: &str) -> Result<(), JobError>;
    /// Start a run now, acting with `token`.
    async fn start_run(&self, name: &str, token: &str) -> Result<Run, JobError>;
}

/// Checks a job name: what a ScrapeJob resource's name may be (a DNS label).
pub fn name_errors(name: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(e) = gleaner_scrapejob::validate_name(name) {
        errors.push(FieldError::new("name", e.message));
    } else {
        let bytes = name.as_bytes();
        let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let ends = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !bytes.iter().all(ok_char) || !ends(bytes.first()) || !ends(bytes.last()) {
            errors.push(FieldError::new(
                "name",
                "must be lowercase letters, digits and '-', starting and ending with a letter or digit",
            ));
        }
    }
    errors
}

/// A spec from JSON: 422 naming each unknown, mistyped or invalid field (`spec.…`), and,
/// once the spec is otherwise valid, each source URL whose host scrape runs may not reach
/// (`egress`: the scraper's allowed hosts and networks). A job is refused here whether or
/// not it is suspended or scheduled, not when its first run starts.
pub fn parse_spec(value: Value, egress: &EgressPolicy) -> Result<ScrapeJobSpec, Vec<FieldError>> {
    let spec: ScrapeJobSpec = serde_path_to_error::deserialize(&value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "spec".to_owned()
        } else {
            format!("spec.{path}")
        };
        vec![FieldError::new(field, err.into_inner().to_string())]
    })?;
    let canonical =
        serde_json::to_value(&spec).map_err(|e| vec![FieldError::new("spec", e.to_string())])?;
    let mut errors = Vec::new();
    unknown_fields(&value, &canonical, "spec", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    spec.validate().map_err(|invalid| invalid.errors)?;
    let refused = gleaner_scrapejob::egress::check_spec(egress, &spec);
    if !refused.is_empty() {
        return Err(refused);
    }
    Ok(spec)
}

/// Fields of `input` that the spec does not have (unknown JSON fields are refused with 422).
fn unknown_fields(input: &Value, canonical: &Value, at: &str, out: &mut Vec<FieldError>) {
    let (Value::Object(given), Value::Object(known)) = (input, canonical) else {
        return;
    };
    for (key, value) in given {
        match known.get(key) {
            Some(inner) => unknown_fields(value, inner, &format!("{at}.{key}"), out),
            // Optional fields absent from the canonical form (a null schedule) are known.
            None if value.is_null() || OPTIONAL_FIELDS.contains(&key.as_str()) => {}
            None => out.push(FieldError::new(format!("{at}.{key}"), "unknown field")),
        }
    }
}

/// Spec fields left out of the canonical JSON when empty.
const OPTIONAL_FIELDS: &[&str] = &["schedule", "idnos", "listPages"];

/// RFC 7396 JSON merge patch: `null` removes a member, objects merge, the rest replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let mut spec = json!({"suspend": false, "schedule": "0 3 * * *", "targets": {"idnos": ["1"], "listPages": {"from": 1, "to": 2}}});
        merge_patch(
            &mut spec,
            &json!({"suspend": true, "schedule": null, "targets": {"listPages": null}}),
        );
        assert_eq!(spec, json!({"suspend": true, "targets": {"idnos": ["1"]}}));
    }

    #[test]
    fn spec_errors_name_the_field() {
        let openmoney = gleaner_scrapejob::egress::default_policy();
        let errs = parse_spec(
            json!({"targets": {"idnos": ["1003600012345"]}, "bogus": 1}),
            &openmoney,
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "spec.bogus");
        let errs = parse_spec(
            json!({"targets": {"idnos": ["1003600012345"]}, "concurrency": "x"}),
            &openmoney,
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "spec.concurrency");
        let errs = parse_spec(json!({"targets": {}}), &openmoney).unwrap_err();
        assert_eq!(errs[0].field, "spec.targets");
        assert!(
            parse_spec(
                json!({"targets": {"idnos": ["1003600012345"]}, "schedule": null}),
                &openmoney
            )
            .is_ok()
        );
    }

    #[test]
    fn sources_runs_may_not_reach_are_refused_once_the_spec_is_valid() {
        let local = gleaner_scrapejob::egress::local_policy();
        let spec = |base: &str| {
            json!({"baseUrl": base, "apiUrl": "http://127.0.0.1:9/api", "suspend": true,
                   "targets": {"idnos": ["1003600012345"]}})
        };
        assert!(parse_spec(spec("http://localhost:9/"), &local).is_ok());
        let errs = parse_spec(spec("http://127.0.0.2:9/"), &local).unwrap_err();
        assert_eq!(errs[0].field, "spec.baseUrl");
        assert!(
            errs[0].message.contains("SCRAPER_ALLOWED_HOSTS"),
            "{errs:?}"
        );
        // A spec with other problems is told those first.
        let errs = parse_spec(json!({"targets": {"idnos": ["12"]}}), &local).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.targets.idnos"]);
    }

    #[test]
    fn names_are_dns_labels() {
        assert!(name_errors("nightly-1").is_empty());
        for bad in ["", "Nightly", "-x", "x-", "a_b", &"a".repeat(300)] {
            assert_eq!(name_errors(bad).len(), 1, "{bad:?}");
        }
    }
}

//! What one owned Job says about its run: whether it goes, succeeded or failed, when, and
//! why it failed.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::RUN_ID_LABEL;

/// Where an existing Job's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Not finished.
    Active,
    /// The Job completed.
    Succeeded,
    /// The Job failed (crash, deadline, backoff limit).
    Failed,
}

/// What one owned Job says about its run.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRun {
    /// Job name.
    pub name: String,
    /// Run id (from the `gleaner.dev/run-id` label).
    pub run_id: Option<String>,
    /// Active, Succeeded or Failed.
    pub state: RunState,
    /// Job creation time (orders runs).
    pub created: Option<Timestamp>,
    /// When the Job started.
    pub started: Option<Timestamp>,
    /// When the Job finished.
    pub finished: Option<Timestamp>,
    /// Being deleted (no longer counts as running).
    pub deleting: bool,
    /// Why the Job failed, from its Failed condition.
    pub failure: Option<String>,
    /// Shards of the run: the completions of an Indexed Job, 1 for any other Job.
    pub shards: u32,
}

impl ObservedRun {
    /// Reads a Job.
    pub fn from_job(job: &Job) -> Self {
        let status = job.status.as_ref();
        let conditions = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let true_condition = |kind: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == kind && c.status == "True")
        };
        let failed = true_condition("Failed");
        let complete = true_condition("Complete");
        let state = if complete.is_some() {
            RunState::Succeeded
        } else if failed.is_some() {
            RunState::Failed
        } else {
            RunState::Active
        };
        let finished = match state {
            RunState::Active => None,
            RunState::Succeeded => status
                .and_then(|s| s.completion_time.as_ref())
                .map(|t| t.0)
                .or_else(|| complete.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))),
            RunState::Failed => failed.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0)),
        };
        let failure = failed.map(|c| match (c.reason.as_deref(), c.message.as_deref()) {
            (Some("DeadlineExceeded"), _) => "the run exceeded timeoutSeconds".to_owned(),
            (Some(reason), Some(message)) if !message.is_empty() => format!("{reason}: {message}"),
            (Some(reason), _) => reason.to_owned(),
            (None, Some(message)) => message.to_owned(),
            (None, None) => "the Job failed".to_owned(),
        });
        ObservedRun {
            name: job.name_any(),
            run_id: job.labels().get(RUN_ID_LABEL).cloned(),
            state,
            created: job.metadata.creation_timestamp.as_ref().map(|t| t.0),
            started: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            finished,
            deleting: job.metadata.deletion_timestamp.is_some(),
            failure,
            shards: job_shards(job),
        }
    }

    /// Still running and not on its way out.
    pub fn is_running(&self) -> bool {
        self.state == RunState::Active && !self.deleting
    }
}

/// Shards of a run's Job: the completions of an Indexed Job, else 1.
fn job_shards(job: &Job) -> u32 {
    job.spec
        .as_ref()
        .filter(|s| s.completion_mode.as_deref() == Some("Indexed"))
        .and_then(|s| s.completions)
        .and_then(|n| u32::try_from(n).ok())
        .map_or(1, |n| n.max(1))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    fn job_with(conditions: Vec<(&str, &str, &str)>) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("j".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .into_iter()
                        .map(|(t, s, r)| JobCondition {
                            type_: t.into(),
                            status: s.into(),
                            reason: Some(r.into()),
                            last_transition_time: Some(Time(
                                "2026-11-22T03:10:00Z".parse().unwrap(),
                            )),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
        }
    }

    #[test]
    fn observes_job_state() {
        assert_eq!(
            ObservedRun::from_job(&job_with(vec![])).state,
            RunState::Active
        );
        let done = ObservedRun::from_job(&job_with(vec![
            ("SuccessCriteriaMet", "True", "x"),
            ("Complete", "True", "x"),
        ]));
        assert_eq!(done.state, RunState::Succeeded);
        assert!(done.finished.is_some());
        let failed = ObservedRun::from_job(&job_with(vec![("Failed", "True", "DeadlineExceeded")]));
        assert_eq!(failed.state, RunState::Failed);
        assert_eq!(
            failed.failure.as_deref(),
            Some("the run exceeded timeoutSeconds")
        );
        let mut deleting = job_with(vec![]);
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!ObservedRun::from_job(&deleting).is_running());
    }
}

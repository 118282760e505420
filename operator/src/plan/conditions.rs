//! What the status shows: the phase, and the Ready, Running, Succeeded and Failed conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::last_run::{is_final, run_note, run_reason};
use super::{EventKind, PlannedEvent};
use crate::crd::{RunResult, ScrapeJob, ScrapeJobSpec, ScrapeJobStatus};
use crate::run::time;
use crate::validation::InvalidSpec;

/// Ready=False for a spec that cannot run, with a Warning event when the reason is new.
pub(super) fn invalid_spec(
    invalid: &InvalidSpec,
    old: &ScrapeJobStatus,
    events: &mut Vec<PlannedEvent>,
) -> Condition {
    let message = invalid.to_string();
    let was = find(&old.conditions, "Ready");
    if !was.is_some_and(|c| c.reason == "InvalidSpec" && c.message == message) {
        events.push(PlannedEvent {
            kind: EventKind::Warning,
            reason: "InvalidSpec",
            action: "Validate",
            note: truncate(&message, 1000),
        });
    }
    condition("Ready", false, "InvalidSpec", message)
}

/// Ready=True, saying when the job runs.
pub(super) fn spec_valid(spec: &ScrapeJobSpec, next_run_at: Option<&Time>) -> Condition {
    let message = if spec.suspend {
        "suspended: no scheduled runs".to_owned()
    } else if let Some(next) = next_run_at {
        format!("next run at {}", next.0)
    } else {
        "runs on creation and on gleaner.dev/run-now".to_owned()
    };
    condition("Ready", true, "SpecValid", message)
}

/// The conditions to write: `ready`, Running (naming the `active` Job), and Succeeded and
/// Failed from the last finished run, each keeping its transition time while its status
/// stays.
pub(super) fn conditions(
    ready: Condition,
    active: Option<&str>,
    status: &ScrapeJobStatus,
    old: &ScrapeJobStatus,
    scrapejob: &ScrapeJob,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conditions = vec![ready];
    conditions.push(match active {
        Some(job) => condition(
            "Running",
            true,
            "RunActive",
            format!("Job {job} is running"),
        ),
        None => condition(
            "Running",
            false,
            "NoActiveRun",
            "no run in progress".to_owned(),
        ),
    });
    let finished = status
        .last_run
        .as_ref()
        .filter(|l| is_final(l))
        .or_else(|| {
            // While a new run goes, the previous finished run still tells how things went.
            old.last_run.as_ref().filter(|l| is_final(l))
        });
    if let Some(done) = finished {
        let ok = done.result == Some(RunResult::Succeeded);
        let (reason, note) = (run_reason(done.result), run_note(done));
        conditions.push(condition("Succeeded", ok, reason, note.clone()));
        conditions.push(condition("Failed", !ok, reason, note));
    }
    let generation = scrapejob.metadata.generation;
    conditions
        .into_iter()
        .map(|mut c| {
            c.observed_generation = generation;
            c.last_transition_time = time(now);
            keep_transition_time(&old.conditions, c)
        })
        .collect()
}

pub(super) fn find<'c>(conditions: &'c [Condition], kind: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == kind)
}

fn condition(kind: &str, status: bool, reason: &str, message: String) -> Condition {
    Condition {
        type_: kind.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: truncate(&message, 32_768),
        observed_generation: None,
        last_transition_time: time(Timestamp::UNIX_EPOCH),
    }
}

/// Keeps the old lastTransitionTime when the condition's status did not change.
pub fn keep_transition_time(old: &[Condition], mut new: Condition) -> Condition {
    if let Some(prev) = find(old, &new.type_)
        && prev.status == new.status
    {
        new.last_transition_time = prev.last_transition_time.clone();
    }
    new
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

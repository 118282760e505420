//! Which run starts: the run the ScrapeJob owes now (a run-now token, the due schedule
//! occurrence, the run on creation) and whether its concurrency policy lets it start
//! beside the runs going, both decided by the ScrapeJob vocabulary; here they meet the
//! ScrapeJob's status, its Jobs and its events.

use std::time::Duration;

use gleaner_scrapejob::schedule::Schedule;
use gleaner_scrapejob::scheduling::{Admission, JobClock, Owed, admit, owed_run};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::{EventKind, Observed, PlannedEvent};
use crate::crd::{
    LastRun, RUN_NOW_ANNOTATION, RunResult, ScrapeJob, ScrapeJobSpec, ScrapeJobStatus,
};
use crate::run::{ObservedRun, RunRequest, Trigger, time};
use crate::schedule::{from_utc, to_utc};

/// What starting the owed run asks of the reconcile.
#[derive(Debug, Default)]
pub(super) struct Started {
    /// Running Jobs to stop first (`concurrencyPolicy: Replace`).
    pub replace: Vec<String>,
    /// The run to start.
    pub create: Option<RunRequest>,
}

/// The run-now request on the ScrapeJob that has not started a run yet.
fn pending_run_now(scrapejob: &ScrapeJob, old: &ScrapeJobStatus) -> Option<Trigger> {
    let asked = Trigger::run_now(scrapejob.annotations().get(RUN_NOW_ANNOTATION)?)?;
    let answered = matches!(&asked, Trigger::RunNow(token)
        if old.last_run_now_token.as_ref() == Some(token));
    (!answered).then_some(asked)
}

/// The run the ScrapeJob owes now, from its spec, its status and its Jobs: the last
/// handled occurrence is in the status (else the ScrapeJob's creation), and the run on
/// creation is owed while it has neither a Job nor a last run.
fn owed(observed: &Observed<'_>, schedule: Option<&Schedule>) -> Owed {
    let sj = observed.scrapejob;
    let old = sj.status.clone().unwrap_or_default();
    let created_at = sj
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(observed.now, |t| t.0);
    let last_handled = old.last_scheduled_at.as_ref().map_or(created_at, |t| t.0);
    let run_now = pending_run_now(sj, &old);
    owed_run(&JobClock {
        schedule,
        suspend: sj.spec.suspend,
        last_handled: to_utc(last_handled),
        run_now: run_now.as_ref(),
        initial_run_owed: observed.runs.is_empty() && old.last_run.is_none(),
        now: to_utc(observed.now),
    })
}

/// Starts the run the ScrapeJob owes, if its concurrency policy lets it, and records in
/// `status` what was handled: the occurrence (started, skipped, or passed over while
/// suspended) and the run-now token answered. A run whose Job exists already was started
/// by an earlier reconcile whose status write was lost: it is only recorded.
pub(super) fn start_owed_run(
    observed: &Observed<'_>,
    schedule: Option<&Schedule>,
    running: &[&ObservedRun],
    status: &mut ScrapeJobStatus,
    events: &mut Vec<PlannedEvent>,
) -> Started {
    let owed = owed(observed, schedule);
    let Some(trigger) = owed.trigger.clone() else {
        record_handled(status, &owed, None);
        return Started::default();
    };
    let sj = observed.scrapejob;
    let request = RunRequest::new(&sj.name_any(), &sj.uid().unwrap_or_default(), trigger);
    if observed.runs.iter().any(|r| r.name == request.job_name) {
        record_handled(status, &owed, Some(&Admission::Start));
        return Started::default();
    }
    let active: Vec<String> = running.iter().map(|r| r.name.clone()).collect();
    let admission = admit(sj.spec.concurrency_policy, &request.trigger, &active);
    record_handled(status, &owed, Some(&admission));
    match admission {
        // A run asked for now waits for the running one; its token stays pending.
        Admission::Wait => Started::default(),
        Admission::Skip => {
            events.push(skipped(&request.trigger, &active));
            Started::default()
        }
        Admission::Start => start(request, Vec::new(), observed.now, status, events),
        Admission::Replace(replace) => start(request, replace, observed.now, status, events),
    }
}

/// Records the occurrence handled (see [`Owed::handled`]) and, once its run starts, the
/// run-now token answered.
fn record_handled(
    status: &mut ScrapeJobStatus,
    owed: &Owed,
    admission: Option<&Admission<String>>,
) {
    if let Some(t) = owed.handled(admission) {
        status.last_scheduled_at = Some(time(from_utc(t)));
    }
    if let (Some(Trigger::RunNow(token)), Some(Admission::Start | Admission::Replace(_))) =
        (&owed.trigger, admission)
    {
        status.last_run_now_token = Some(token.clone());
    }
}

/// The event of a scheduled run skipped under `concurrencyPolicy: Forbid`.
fn skipped(trigger: &Trigger, active: &[String]) -> PlannedEvent {
    let at = match trigger {
        Trigger::Schedule(t) => from_utc(*t).to_string(),
        Trigger::Initial | Trigger::RunNow(_) => trigger.kind().to_owned(),
    };
    PlannedEvent {
        kind: EventKind::Normal,
        reason: "RunSkipped",
        action: "Schedule",
        note: format!(
            "scheduled run at {at} skipped: {} is still running (concurrencyPolicy Forbid)",
            active.join(", ")
        ),
    }
}

/// Starts `request` after stopping `replace`: the events that say so, and the run as the
/// last run.
fn start(
    request: RunRequest,
    replace: Vec<String>,
    now: Timestamp,
    status: &mut ScrapeJobStatus,
    events: &mut Vec<PlannedEvent>,
) -> Started {
    if !replace.is_empty() {
        events.push(PlannedEvent {
            kind: EventKind::Normal,
            reason: "RunReplaced",
            action: "DeleteJob",
            note: format!(
                "stopping {} for a new run (concurrencyPolicy Replace)",
                replace.join(", ")
            ),
        });
    }
    events.push(PlannedEvent {
        kind: EventKind::Normal,
        reason: "RunStarted",
        action: "CreateJob",
        note: format!(
            "started run {} as Job {} ({})",
            request.run_id,
            request.job_name,
            request.trigger.kind()
        ),
    });
    status.last_run = Some(LastRun {
        name: request.job_name.clone(),
        run_id: Some(request.run_id.clone()),
        started_at: Some(time(now)),
        result: Some(RunResult::Running),
        ..LastRun::default()
    });
    Started {
        replace,
        create: Some(request),
    }
}

/// When the schedule runs next (never while suspended), and how long to wait for it: the
/// reconcile looks again just after.
pub(super) fn next_scheduled(
    schedule: Option<&Schedule>,
    spec: &ScrapeJobSpec,
    now: Timestamp,
) -> Option<(Timestamp, Duration)> {
    let schedule = schedule.filter(|_| !spec.suspend)?;
    let next = from_utc(schedule.next_after(to_utc(now))?);
    let wait = next.duration_since(now).unsigned_abs();
    Some((next, wait + Duration::from_secs(1)))
}

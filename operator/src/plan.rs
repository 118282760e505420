//! The reconcile decision as a pure function: from a ScrapeJob, the runs (Jobs) it owns and
//! the time, decide which Jobs to create and delete, the status to write and the events to send.
//! It never asks why it was called; the same world gives the same plan.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::{
    ConcurrencyPolicy, LastRun, Phase, RUN_NOW_ANNOTATION, RunResult, ScrapeJob, ScrapeJobStatus,
};
use crate::run::{ObservedRun, RunRequest, RunState, RunSummary, Trigger, time};
use crate::validation::{check_egress, validate};
use gleaner_egress::EgressPolicy;

/// Longest wait before looking at a ScrapeJob again with nothing else to wake it.
pub const RESYNC: Duration = Duration::from_secs(300);
/// Longest run-now token honoured (a label-like value).
const MAX_TOKEN_LEN: usize = 253;

/// What the world looks like to one reconcile.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The ScrapeJob.
    pub scrapejob: &'a ScrapeJob,
    /// The Jobs it owns, in any order.
    pub runs: Vec<ObservedRun>,
    /// The scraper's summary of the run named, when it was read (see [`summary_wanted`]).
    pub summary: Option<(String, RunSummary)>,
    /// The time now.
    pub now: Timestamp,
    /// Where runs may connect: a spec naming another host is invalid here.
    pub egress: &'a EgressPolicy,
}

/// Severity of a planned event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Informational.
    Normal,
    /// Needs attention.
    Warning,
}

/// An event to publish about the ScrapeJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// Normal or Warning.
    pub kind: EventKind,
    /// PascalCase reason, e.g. `RunStarted`.
    pub reason: &'static str,
    /// PascalCase action, e.g. `CreateJob`.
    pub action: &'static str,
    /// Human-readable note.
    pub note: String,
}

/// What the reconcile should do, in order: delete `replace`, create `create`, write `status`,
/// publish `events`, delete `prune`, and look again after `requeue_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Running Jobs to stop because a new run replaces them.
    pub replace: Vec<String>,
    /// The run to start.
    pub create: Option<RunRequest>,
    /// The status to apply.
    pub status: ScrapeJobStatus,
    /// Events to publish.
    pub events: Vec<PlannedEvent>,
    /// Finished Jobs beyond the history limits.
    pub prune: Vec<String>,
    /// When to reconcile again if nothing changes before.
    pub requeue_after: Duration,
}

/// The run whose termination summary the plan needs: the newest run, once it has finished,
/// unless the status already holds its final result; a sharded run also while it goes (the
/// shards that have finished add up to its progress).
pub fn summary_wanted<'r>(
    scrapejob: &ScrapeJob,
    runs: &'r [ObservedRun],
) -> Option<&'r ObservedRun> {
    let newest = newest(runs)?;
    if newest.state == RunState::Active {
        return (newest.shards > 1 && !newest.deleting).then_some(newest);
    }
    let recorded = scrapejob
        .status
        .as_ref()
        .and_then(|s| s.last_run.as_ref())
        .is_some_and(|l| l.name == newest.name && is_final(l));
    (!recorded).then_some(newest)
}

fn is_final(last: &LastRun) -> bool {
    last.result.is_some_and(RunResult::is_final)
}

fn newest(runs: &[ObservedRun]) -> Option<&ObservedRun> {
    runs.iter()
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
}

fn run_now_token(scrapejob: &ScrapeJob) -> Option<String> {
    let token = scrapejob.annotations().get(RUN_NOW_ANNOTATION)?.trim();
    (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then(|| token.to_owned())
}

/// Decides everything for one reconcile.
pub fn plan(observed: &Observed<'_>) -> Plan {
    let sj = observed.scrapejob;
    let now = observed.now;
    let spec = &sj.spec;
    let name = sj.name_any();
    let uid = sj.uid().unwrap_or_default();
    let old = sj.status.clone().unwrap_or_default();
    let generation = sj.metadata.generation;
    let created_at = sj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);

    let mut status = ScrapeJobStatus {
        phase: None,
        observed_generation: generation,
        last_run: old.last_run.clone(),
        next_run_at: None,
        last_scheduled_at: old.last_scheduled_at.clone(),
        last_run_now_token: old.last_run_now_token.clone(),
        conditions: Vec::new(),
    };
    let mut events = Vec::new();
    let mut replace = Vec::new();
    let mut create = None;
    let mut requeue_after = RESYNC;

    let running: Vec<&ObservedRun> = observed.runs.iter().filter(|r| r.is_running()).collect();
    let validated = validate(&name, spec)
        .and_then(|schedule| check_egress(observed.egress, spec).map(|()| schedule));
    let ready = match &validated {
        Err(invalid) => {
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
        Ok(schedule) => {
            let last_handled = old.last_scheduled_at.as_ref().map_or(created_at, |t| t.0);
            let due_schedule = schedule
                .as_ref()
                .and_then(|s| s.latest_due(last_handled, now));
            let token = run_now_token(sj).filter(|t| old.last_run_now_token.as_ref() != Some(t));
            let never_ran = observed.runs.is_empty() && old.last_run.is_none();

            // At most one new run per reconcile; a manual run also stands for a due schedule time.
            let trigger = if let Some(token) = token.clone() {
                Some(Trigger::RunNow(token))
            } else if spec.suspend {
                None
            } else if let Some(t) = due_schedule {
                Some(Trigger::Schedule(t))
            } else if schedule.is_none() && never_ran {
                Some(Trigger::Initial)
            } else {
                None
            };
            if spec.suspend {
                // Times passed over while suspended never run later.
                if let Some(t) = due_schedule {
                    status.last_scheduled_at = Some(time(t));
                }
            }

            if let Some(trigger) = trigger {
                let request = RunRequest::new(&name, &uid, trigger.clone());
                let already = observed.runs.iter().any(|r| r.name == request.job_name);
                let blocked =
                    !running.is_empty() && spec.concurrency_policy == ConcurrencyPolicy::Forbid;
                if already {
                    // Started by an earlier reconcile whose status write was lost: just record it.
                    mark_handled(&mut status, &trigger, due_schedule);
                } else if blocked {
                    match &trigger {
                        Trigger::Schedule(t) => {
                            status.last_scheduled_at = Some(time(*t));
                            events.push(PlannedEvent {
                                kind: EventKind::Normal,
                                reason: "RunSkipped",
                                action: "Schedule",
                                note: format!(
                                    "scheduled run at {t} skipped: {} is still running (concurrencyPolicy Forbid)",
                                    running[0].name
                                ),
                            });
                        }
                        // A manual run waits for the running one; the token stays pending.
                        Trigger::RunNow(_) | Trigger::Initial => {}
                    }
                } else {
                    replace = running.iter().map(|r| r.name.clone()).collect();
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
                            trigger.kind()
                        ),
                    });
                    mark_handled(&mut status, &trigger, due_schedule);
                    status.last_run = Some(LastRun {
                        name: request.job_name.clone(),
                        run_id: Some(request.run_id.clone()),
                        started_at: Some(time(now)),
                        result: Some(RunResult::Running),
                        ..LastRun::default()
                    });
                    create = Some(request);
                }
            }

            if let Some(schedule) = schedule.as_ref().filter(|_| !spec.suspend)
                && let Some(next) = schedule.next_after(now)
            {
                status.next_run_at = Some(time(next));
                let wait = next.duration_since(now).unsigned_abs();
                requeue_after = requeue_after.min(wait + Duration::from_secs(1));
            }

            let message = if spec.suspend {
                "suspended: no scheduled runs".to_owned()
            } else if let Some(next) = &status.next_run_at {
                format!("next run at {}", next.0)
            } else {
                "runs on creation and on gleaner.dev/run-now".to_owned()
            };
            condition("Ready", true, "SpecValid", message)
        }
    };

    // The newest run is the last run, unless one was just started.
    if create.is_none() {
        if let Some(newest) = newest(&observed.runs) {
            let summary = observed
                .summary
                .as_ref()
                .filter(|(job, _)| *job == newest.name)
                .map(|(_, s)| s);
            let previous = old.last_run.as_ref().filter(|l| l.name == newest.name);
            let last = last_run(newest, summary, previous);
            let finished_now = is_final(&last) && !previous.is_some_and(is_final);
            if finished_now {
                let ok = last.result == Some(RunResult::Succeeded);
                events.push(PlannedEvent {
                    kind: if ok {
                        EventKind::Normal
                    } else {
                        EventKind::Warning
                    },
                    reason: run_reason(last.result),
                    action: "WatchJob",
                    note: truncate(&run_note(&last), 1000),
                });
            }
            status.last_run = Some(last);
        } else if let Some(last) = status.last_run.as_mut().filter(|l| !is_final(l)) {
            // The run's Job vanished before it finished (deleted by hand).
            last.result = Some(RunResult::Failed);
            last.message = Some("the run's Job was deleted before it finished".to_owned());
        }
    }

    let run_active = create.is_some() || running.iter().any(|r| !replace.contains(&r.name));
    let active_name = create.as_ref().map(|c| c.job_name.clone()).or_else(|| {
        running
            .iter()
            .find(|r| !replace.contains(&r.name))
            .map(|r| r.name.clone())
    });
    let last_result = status.last_run.as_ref().and_then(|l| l.result);
    status.phase = Some(if validated.is_err() {
        Phase::Failed
    } else if run_active {
        Phase::Running
    } else if spec.suspend {
        Phase::Suspended
    } else {
        match last_result {
            Some(RunResult::Succeeded) => Phase::Succeeded,
            Some(RunResult::Failed | RunResult::Cancelled) => Phase::Failed,
            Some(RunResult::Running) | None => Phase::Pending,
        }
    });

    let mut conditions = vec![ready];
    conditions.push(match &active_name {
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
    status.conditions = conditions
        .into_iter()
        .map(|mut c| {
            c.observed_generation = generation;
            c.last_transition_time = time(now);
            keep_transition_time(&old.conditions, c)
        })
        .collect();

    let prune = prune(
        &observed.runs,
        spec.successful_runs_history_limit,
        spec.failed_runs_history_limit,
    );

    Plan {
        replace,
        create,
        status,
        events,
        prune,
        requeue_after,
    }
}

fn mark_handled(status: &mut ScrapeJobStatus, trigger: &Trigger, due_schedule: Option<Timestamp>) {
    if let Trigger::RunNow(token) = trigger {
        status.last_run_now_token = Some(token.clone());
    }
    if let Some(t) = due_schedule {
        status.last_scheduled_at = Some(time(t));
    }
}

/// LastRun of an observed run, with the scraper's summary when there is one.
fn last_run(
    run: &ObservedRun,
    summary: Option<&RunSummary>,
    previous: Option<&LastRun>,
) -> LastRun {
    if let Some(prev) = previous.filter(|p| is_final(p)) {
        return prev.clone();
    }
    let mut result = match run.state {
        RunState::Active => RunResult::Running,
        RunState::Succeeded => RunResult::Succeeded,
        RunState::Failed => RunResult::Failed,
    };
    let mut message = run.failure.clone();
    // A finished Job's result is refined by what the scraper said: it exits non-zero on
    // failure and on cancellation, and a summary can only make a success worse.
    if let Some(reported) = summary.map(|s| RunResult::from(s.status))
        && result != RunResult::Running
        && reported.is_final()
        && reported != result
        && reported != RunResult::Succeeded
    {
        result = reported;
        message = summary
            .and_then(|s| s.failure.clone())
            .or(message)
            .or_else(|| {
                Some(format!(
                    "the scraper reported the run as {}",
                    reported_word(reported)
                ))
            });
    }
    // A failed sharded run says which shards failed and why, rather than only that its Job
    // reached the backoff limit.
    if run.shards > 1
        && !matches!(result, RunResult::Running | RunResult::Succeeded)
        && let Some(shards) = summary.and_then(|s| s.failure.as_ref())
        && message.as_ref() != Some(shards)
    {
        message = Some(match message {
            Some(job) => format!("{job}; {shards}"),
            None => shards.clone(),
        });
    }
    let stamp = |t: Option<&String>| t.and_then(|t| t.parse::<Timestamp>().ok());
    let started = previous
        .and_then(|p| p.started_at.clone())
        .map(|t| t.0)
        .or_else(|| stamp(summary.and_then(|s| s.started_at.as_ref())))
        .or(run.started)
        .or(run.created);
    let finished = if result == RunResult::Running {
        None
    } else {
        stamp(summary.and_then(|s| s.finished_at.as_ref())).or(run.finished)
    };
    let count = |f: fn(&RunSummary) -> u64| summary.map_or(0, f);
    LastRun {
        name: run.name.clone(),
        run_id: run
            .run_id
            .clone()
            .or_else(|| summary.map(|s| s.run_id.clone())),
        started_at: started.map(time),
        finished_at: finished.map(time),
        result: Some(result),
        pages_fetched: count(|s| s.pages_fetched),
        pages_unchanged: count(|s| s.pages_unchanged),
        pages_failed: count(|s| s.pages_failed),
        companies_created: count(|s| s.companies_created),
        companies_updated: count(|s| s.companies_updated),
        companies_written: count(RunSummary::companies_written),
        message,
    }
}

fn reported_word(result: RunResult) -> &'static str {
    match result {
        RunResult::Succeeded => "succeeded",
        RunResult::Failed => "failed",
        RunResult::Cancelled => "cancelled",
        RunResult::Running => "is running",
    }
}

/// Event and condition reason for a finished run.
fn run_reason(result: Option<RunResult>) -> &'static str {
    match result {
        Some(RunResult::Succeeded) => "RunSucceeded",
        Some(RunResult::Cancelled) => "RunCancelled",
        _ => "RunFailed",
    }
}

fn run_note(last: &LastRun) -> String {
    let outcome = last.result.map_or("is running", reported_word);
    let mut note = format!(
        "run {} {outcome}: {} pages fetched, {} failed, {} companies created, {} updated",
        last.name,
        last.pages_fetched,
        last.pages_failed,
        last.companies_created,
        last.companies_updated
    );
    if let Some(msg) = &last.message {
        note.push_str(&format!(" ({msg})"));
    }
    note
}

/// Finished Jobs beyond the history limits, oldest first; running and deleting Jobs are kept.
pub fn prune(runs: &[ObservedRun], keep_succeeded: u32, keep_failed: u32) -> Vec<String> {
    let mut out = Vec::new();
    for (state, keep) in [
        (RunState::Succeeded, keep_succeeded),
        (RunState::Failed, keep_failed),
    ] {
        let mut finished: Vec<&ObservedRun> = runs
            .iter()
            .filter(|r| r.state == state && !r.deleting)
            .collect();
        // Newest first; keep the first `keep`.
        finished.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        out.extend(finished.iter().skip(keep).rev().map(|r| r.name.clone()));
    }
    out
}

fn find<'c>(conditions: &'c [Condition], kind: &str) -> Option<&'c Condition> {
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

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests;

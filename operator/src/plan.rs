//! The reconcile decision as a pure function: from a ScrapeJob, the runs (Jobs) it owns and
//! the time, decide which Jobs to create and delete, the status to write and the events to send.
//! It never asks why it was called; the same world gives the same plan.
//!
//! [`plan`] puts together named decisions: which run starts (`start`), what the newest run
//! says (`last_run`), the phase and conditions shown (`conditions`), and which finished runs
//! history no longer keeps ([`prune`]).

mod conditions;
mod last_run;
mod start;

use std::time::Duration;

use gleaner_egress::EgressPolicy;
use gleaner_scrapejob::history::{FinishedRun, runs_to_prune};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::{Phase, ScrapeJob, ScrapeJobStatus};
use crate::run::{ObservedRun, RunRequest, RunState, RunSummary, time};
use crate::schedule::to_utc;
use crate::validation::{check_egress, validate};
pub use conditions::keep_transition_time;
use conditions::{conditions, invalid_spec, spec_valid};
use last_run::follow_newest_run;
pub use last_run::summary_wanted;
use start::{Started, next_scheduled, start_owed_run};

/// Longest wait before looking at a ScrapeJob again with nothing else to wake it.
pub const RESYNC: Duration = Duration::from_secs(300);

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

/// Decides everything for one reconcile.
pub fn plan(observed: &Observed<'_>) -> Plan {
    let sj = observed.scrapejob;
    let spec = &sj.spec;
    let old = sj.status.clone().unwrap_or_default();
    let mut status = ScrapeJobStatus {
        phase: None,
        observed_generation: sj.metadata.generation,
        last_run: old.last_run.clone(),
        next_run_at: None,
        last_scheduled_at: old.last_scheduled_at.clone(),
        last_run_now_token: old.last_run_now_token.clone(),
        conditions: Vec::new(),
    };
    let mut events = Vec::new();
    let mut requeue_after = RESYNC;
    let running: Vec<&ObservedRun> = observed.runs.iter().filter(|r| r.is_running()).collect();

    let validated = validate(&sj.name_any(), spec)
        .and_then(|schedule| check_egress(observed.egress, spec).map(|()| schedule));
    let (ready, started) = match &validated {
        Err(invalid) => (invalid_spec(invalid, &old, &mut events), Started::default()),
        Ok(schedule) => {
            let started = start_owed_run(
                observed,
                schedule.as_ref(),
                &running,
                &mut status,
                &mut events,
            );
            if let Some((next, wait)) = next_scheduled(schedule.as_ref(), spec, observed.now) {
                status.next_run_at = Some(time(next));
                requeue_after = requeue_after.min(wait);
            }
            (spec_valid(spec, status.next_run_at.as_ref()), started)
        }
    };

    // The newest run is the last run, unless one was just started.
    if started.create.is_none() {
        follow_newest_run(observed, &old, &mut status, &mut events);
    }

    let active_name = active_run(&started, &running);
    status.phase = Some(Phase::of(
        validated.is_ok(),
        active_name.is_some(),
        spec.suspend,
        status.last_run.as_ref().and_then(|l| l.result),
    ));
    status.conditions = conditions(
        ready,
        active_name.as_deref(),
        &status,
        &old,
        sj,
        observed.now,
    );

    Plan {
        replace: started.replace,
        create: started.create,
        status,
        events,
        prune: prune(
            &observed.runs,
            spec.successful_runs_history_limit,
            spec.failed_runs_history_limit,
        ),
        requeue_after,
    }
}

/// The Job running once the reconcile is done: the one it starts, else one already running
/// that it does not replace.
fn active_run(started: &Started, running: &[&ObservedRun]) -> Option<String> {
    let kept = || {
        running
            .iter()
            .find(|r| !started.replace.contains(&r.name))
            .map(|r| r.name.clone())
    };
    started
        .create
        .as_ref()
        .map(|c| c.job_name.clone())
        .or_else(kept)
}

/// Finished Jobs beyond the history limits ([`runs_to_prune`]: by finish time, newest
/// kept), successful ones first, each oldest first. Running Jobs are kept, and Jobs already
/// being deleted are neither kept nor pruned again.
pub fn prune(runs: &[ObservedRun], keep_succeeded: u32, keep_failed: u32) -> Vec<String> {
    let history: Vec<FinishedRun<String>> = runs
        .iter()
        .filter(|r| !r.deleting)
        .filter_map(|r| {
            let succeeded = match r.state {
                RunState::Active => return None,
                RunState::Succeeded => true,
                RunState::Failed => false,
            };
            Some(FinishedRun {
                id: r.name.clone(),
                succeeded,
                finished_at: r.finished.map(to_utc),
                created_at: r.created.map(to_utc),
            })
        })
        .collect();
    runs_to_prune(&history, keep_succeeded, keep_failed)
}

#[cfg(test)]
mod tests;

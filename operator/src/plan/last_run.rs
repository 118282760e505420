//! What the newest run says: its LastRun (the Job's state refined by the scraper's summary),
//! the event when it finishes, and the words the status and events use for an outcome.

use k8s_openapi::jiff::Timestamp;

use super::conditions::truncate;
use super::{EventKind, Observed, PlannedEvent};
use crate::crd::{LastRun, RunResult, ScrapeJob, ScrapeJobStatus};
use crate::run::{ObservedRun, RunState, RunSummary, time};

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

/// Whether the run has ended, by its recorded result.
pub(super) fn is_final(last: &LastRun) -> bool {
    last.result.is_some_and(RunResult::is_final)
}

/// The newest run: the latest created (the name breaks a tie).
pub(super) fn newest(runs: &[ObservedRun]) -> Option<&ObservedRun> {
    runs.iter()
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
}

/// The newest run becomes the last run: its state and summary, with an event when it has
/// just finished. With no Job left, a last run that had not finished failed (its Job was
/// deleted by hand).
pub(super) fn follow_newest_run(
    observed: &Observed<'_>,
    old: &ScrapeJobStatus,
    status: &mut ScrapeJobStatus,
    events: &mut Vec<PlannedEvent>,
) {
    let Some(newest) = newest(&observed.runs) else {
        if let Some(last) = status.last_run.as_mut().filter(|l| !is_final(l)) {
            last.result = Some(RunResult::Failed);
            last.message = Some("the run's Job was deleted before it finished".to_owned());
        }
        return;
    };
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

/// A result as the notes word it.
fn reported_word(result: RunResult) -> &'static str {
    match result {
        RunResult::Succeeded => "succeeded",
        RunResult::Failed => "failed",
        RunResult::Cancelled => "cancelled",
        RunResult::Running => "is running",
    }
}

/// Event and condition reason for a finished run.
pub(super) fn run_reason(result: Option<RunResult>) -> &'static str {
    match result {
        Some(RunResult::Succeeded) => "RunSucceeded",
        Some(RunResult::Cancelled) => "RunCancelled",
        _ => "RunFailed",
    }
}

/// Event and condition note for a run: its outcome, its counts and why it failed.
pub(super) fn run_note(last: &LastRun) -> String {
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

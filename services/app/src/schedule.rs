//! The scheduler's decisions, as pure functions of the job, its runs and the time.

use chrono::{DateTime, Utc};
use croner::Cron;
use gleaner_scrapejob::ConcurrencyPolicy;
use uuid::Uuid;

/// The latest occurrence of `cron` in `(since, now]`: the run that is due now. Occurrences
/// missed while the app was down collapse into this one (at most one catch-up run), found
/// by one backward search from `now` however long the outage, so a sparse schedule (every
/// minute on Sundays) is not left at an older occurrence by a bounded forward walk.
pub fn due_occurrence(
    cron: &Cron,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let latest = cron.find_previous_occurrence(&now, true).ok()?;
    (latest > since).then_some(latest)
}

/// The next occurrence of `cron` after `now`.
pub fn next_occurrence(cron: &Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&now, false).ok()
}

/// What to do with a due scheduled run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start it.
    Start,
    /// Skip it: another run is still going and the policy is Forbid.
    Skip,
    /// Stop following these runs (they are replaced), then start it.
    Replace(Vec<Uuid>),
}

/// Apply the job's concurrency policy to a due run, given the runs still going.
pub fn on_due(policy: ConcurrencyPolicy, active: &[Uuid]) -> Decision {
    match (policy, active.is_empty()) {
        (_, true) => Decision::Start,
        (ConcurrencyPolicy::Forbid, false) => Decision::Skip,
        (ConcurrencyPolicy::Replace, false) => Decision::Replace(active.to_vec()),
    }
}

/// A finished run, for history pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    /// Run id.
    pub id: Uuid,
    /// Whether it succeeded (failed and cancelled runs count as failed).
    pub succeeded: bool,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
}

/// The finished runs beyond the job's history limits: all but the newest
/// `successful_limit` successful ones and the newest `failed_limit` failed ones.
pub fn runs_to_prune(runs: &[FinishedRun], successful_limit: u32, failed_limit: u32) -> Vec<Uuid> {
    let mut sorted: Vec<&FinishedRun> = runs.iter().collect();
    sorted.sort_by(|a, b| b.finished_at.cmp(&a.finished_at).then(b.id.cmp(&a.id)));
    let (mut ok, mut failed) = (0u32, 0u32);
    let mut prune = Vec::new();
    for run in sorted {
        let (kept, limit) = if run.succeeded {
            (&mut ok, successful_limit)
        } else {
            (&mut failed, failed_limit)
        };
        if *kept < limit {
            *kept += 1;
        } else {
            prune.push(run.id);
        }
    }
    prune
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use gleaner_scrapejob::schedule::parse_cron;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn due_is_the_latest_occurrence_since_the_last_one() {
        let cron = parse_cron("0 3 * * *").expect("cron");
        assert_eq!(due_occurrence(&cron, at(2, 0), at(2, 59)), None);
        assert_eq!(due_occurrence(&cron, at(2, 0), at(3, 0)), Some(at(3, 0)));
        // Already acted on: not due again.
        assert_eq!(due_occurrence(&cron, at(3, 0), at(3, 30)), None);
        let every_15 = parse_cron("*/15 * * * *").expect("cron");
        // Three occurrences missed: one catch-up run, the latest.
        assert_eq!(
            due_occurrence(&every_15, at(1, 0), at(1, 50)),
            Some(at(1, 45))
        );
        assert_eq!(next_occurrence(&every_15, at(1, 50)), Some(at(2, 0)));
    }

    #[test]
    fn a_long_outage_still_gives_one_run_at_the_latest_occurrence() {
        let every_minute = parse_cron("* * * * *").expect("cron");
        let since = at(0, 0) - chrono::Duration::days(30);
        assert_eq!(
            due_occurrence(&every_minute, since, at(5, 7)),
            Some(at(5, 7))
        );
    }

    #[test]
    fn a_long_outage_of_a_sparse_schedule_gives_its_latest_occurrence() {
        // Every minute on Sundays, down for 110 days: 10,080 occurrences missed.
        let sundays = parse_cron("* * * * 0").expect("cron");
        let since = Utc
            .with_ymd_and_hms(2013, 2, 26, 13, 48, 38)
            .single()
            .expect("time");
        let now = since + chrono::Duration::seconds(9_540_682);
        let due = due_occurrence(&sundays, since, now).expect("due");
        assert_eq!(
            due,
            Utc.with_ymd_and_hms(2013, 6, 16, 23, 59, 0)
                .single()
                .expect("time")
        );
        assert!(sundays.find_next_occurrence(&due, false).expect("next") > now);
    }

    #[test]
    fn forbid_skips_and_replace_replaces_while_a_run_is_going() {
        let running = [Uuid::new_v4()];
        assert_eq!(on_due(ConcurrencyPolicy::Forbid, &[]), Decision::Start);
        assert_eq!(on_due(ConcurrencyPolicy::Replace, &[]), Decision::Start);
        assert_eq!(on_due(ConcurrencyPolicy::Forbid, &running), Decision::Skip);
        assert_eq!(
            on_due(ConcurrencyPolicy::Replace, &running),
            Decision::Replace(running.to_vec())
        );
    }

    #[test]
    fn history_keeps_the_newest_runs_of_each_kind() {
        let run = |n: u32, succeeded: bool| FinishedRun {
            id: Uuid::from_u128(u128::from(n)),
            succeeded,
            finished_at: at(1, n),
        };
        let runs = [
            run(1, true),
            run(2, false),
            run(3, true),
            run(4, true),
            run(5, false),
            run(6, true),
        ];
        let mut pruned = runs_to_prune(&runs, 2, 1);
        pruned.sort();
        // Kept: successes 6 and 4, failure 5.
        assert_eq!(pruned, vec![runs[0].id, runs[1].id, runs[2].id]);
        assert!(runs_to_prune(&runs, 100, 100).is_empty());
        assert_eq!(runs_to_prune(&runs, 0, 0).len(), runs.len());
    }
}

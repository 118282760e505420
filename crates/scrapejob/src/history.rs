//! Which finished runs a job keeps (`successfulRunsHistoryLimit`, `failedRunsHistoryLimit`).

use chrono::{DateTime, Utc};

/// A run, as history pruning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun<Id> {
    /// The run's id (a run id, a Job name).
    pub id: Id,
    /// Whether it succeeded (failed and cancelled runs count as failed).
    pub succeeded: bool,
    /// When it ended; `None` while it goes, or when that is unknown. Such a run is not
    /// history yet: it is never pruned, and takes no place among the runs kept.
    pub finished_at: Option<DateTime<Utc>>,
    /// When it was created, which orders runs that ended at the same time.
    pub created_at: Option<DateTime<Utc>>,
}

/// The finished runs beyond a job's history limits: all but the newest `successful_limit`
/// successful runs and the newest `failed_limit` failed ones. Newest is by finish time,
/// then creation time, then id, so the answer does not depend on the order of `runs`.
/// The successful runs to prune come first, then the failed ones, each oldest first.
pub fn runs_to_prune<Id: Ord + Clone>(
    runs: &[FinishedRun<Id>],
    successful_limit: u32,
    failed_limit: u32,
) -> Vec<Id> {
    let mut prune = Vec::new();
    for (succeeded, limit) in [(true, successful_limit), (false, failed_limit)] {
        let mut finished: Vec<&FinishedRun<Id>> = runs
            .iter()
            .filter(|r| r.succeeded == succeeded && r.finished_at.is_some())
            .collect();
        // Newest first; the first `limit` are kept.
        finished.sort_by(|a, b| newest_first(b).cmp(&newest_first(a)));
        let kept = usize::try_from(limit).unwrap_or(usize::MAX);
        prune.extend(finished.iter().skip(kept).rev().map(|r| r.id.clone()));
    }
    prune
}

fn newest_first<Id>(run: &FinishedRun<Id>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>, &Id) {
    (run.finished_at, run.created_at, &run.id)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(m: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 12, 1, 1, m, 0).single()
    }

    fn run(id: u32, succeeded: bool, finished: u32) -> FinishedRun<u32> {
        FinishedRun {
            id,
            succeeded,
            finished_at: at(finished),
            created_at: at(0),
        }
    }

    #[test]
    fn history_keeps_the_newest_finished_runs_of_each_kind() {
        let runs = [
            run(1, true, 1),
            run(2, false, 2),
            run(3, true, 3),
            run(4, true, 4),
            run(5, false, 5),
            run(6, true, 6),
        ];
        // Kept: successes 6 and 4, failure 5.
        assert_eq!(runs_to_prune(&runs, 2, 1), [1, 3, 2], "oldest first");
        assert!(runs_to_prune(&runs, 100, 100).is_empty());
        assert_eq!(runs_to_prune(&runs, 0, 0).len(), runs.len());
    }

    #[test]
    fn finish_time_orders_runs_and_creation_then_id_break_ties() {
        // Created first but finished last: the newest.
        let mut late = run(1, true, 50);
        late.created_at = at(0);
        let mut early = run(2, true, 10);
        early.created_at = at(5);
        assert_eq!(runs_to_prune(&[late, early], 1, 0), [2]);
        // Same finish: the one created later is newer; then the larger id.
        let same = |id, created| FinishedRun {
            created_at: at(created),
            ..run(id, true, 30)
        };
        assert_eq!(runs_to_prune(&[same(1, 9), same(2, 3)], 1, 0), [2]);
        assert_eq!(runs_to_prune(&[same(2, 3), same(1, 3)], 1, 0), [1]);
    }

    #[test]
    fn runs_without_a_finish_time_are_never_pruned() {
        let going = FinishedRun {
            finished_at: None,
            ..run(9, false, 0)
        };
        assert_eq!(runs_to_prune(&[going.clone(), run(1, false, 1)], 0, 0), [1]);
        // Nor do they take a kept place.
        assert!(runs_to_prune(&[going, run(1, false, 1)], 0, 1).is_empty());
    }
}

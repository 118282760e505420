//! Property tests for what the app reads from clients: the `Last-Event-ID` a
//! reconnecting client sends (whatever it says, the events it gets have growing
//! ids and the end comes once). Which schedule occurrence is due is decided, and
//! tested, in gleaner-scrapejob.

use gleaner_app::routes::runs::next_event;
use gleaner_app::runs::{Run, RunStatus};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A run's states as the app polls them: progress never goes back, and the
/// last state may be final.
fn arb_run_states() -> impl Strategy<Value = Vec<Run>> {
    (
        prop::collection::vec((0i32..1000, 0i32..50), 1..12),
        prop::sample::select(vec![
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]),
        any::<bool>(),
    )
        .prop_map(|(steps, last_status, huge)| {
            let (mut fetched, mut failed) = if huge {
                (i32::MAX - 2_000, i32::MAX - 100)
            } else {
                (0, 0)
            };
            let n = steps.len();
            steps
                .into_iter()
                .enumerate()
                .map(|(i, (more, more_failed))| {
                    fetched = fetched.saturating_add(more);
                    failed = failed.saturating_add(more_failed);
                    let mut run = Run::queued(uuid::Uuid::nil(), "job");
                    run.status = if i + 1 == n {
                        last_status
                    } else {
                        RunStatus::Running
                    };
                    run.pages_fetched = fetched;
                    run.pages_failed = failed;
                    run
                })
                .collect()
        })
}

/// What a reconnecting client may send as `Last-Event-ID`, read as the
/// handler reads it (an integer, else from the start).
fn arb_last_event_id() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just("".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..3000).prop_map(|n| n.to_string()),
        Just(" 17 ".to_owned()),
        Just("9223372036854775808".to_owned()),
        ".{0,12}",
    ]
    .prop_map(|header| header.trim().parse::<i64>().unwrap_or(-1))
}

proptest! {
    #![proptest_config(config(256))]

    /// Following a run from any `Last-Event-ID`: every event's id is above
    /// the last one the client has, ids grow, and a final run ends the stream
    /// with exactly one `end` event unless the client already had it.
    #[test]
    fn run_events_after_any_last_event_id(states in arb_run_states(), last in arb_last_event_id()) {
        let mut last_seen = last;
        let mut ends = 0;
        for run in &states {
            if let Some((name, id)) = next_event(run, last_seen) {
                prop_assert!(id > last_seen);
                if name == "end" {
                    prop_assert!(run.is_final());
                    ends += 1;
                }
                last_seen = id;
            }
        }
        let final_run = states.last().expect("at least one state");
        if final_run.is_final() {
            let end_id = final_run.progress() + 1;
            prop_assert_eq!(ends, usize::from(end_id > last));
        } else {
            prop_assert_eq!(ends, 0);
        }
    }
}

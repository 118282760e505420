//! Property tests for what the app reads from clients and job specs: the
//! `Last-Event-ID` a reconnecting client sends (whatever it says, the events it
//! gets have growing ids and the end comes once), and cron schedules as the
//! scheduler runs them (a due run lies in the window and is the latest one).

use chrono::{DateTime, Duration, Utc};
use gleaner_app::routes::runs::next_event;
use gleaner_app::schedule::{due_occurrence, next_occurrence};
use gleaner_app::runs::{Run, RunStatus};
use gleaner_scrapejob::schedule::parse_cron;
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

fn arb_cron() -> impl Strategy<Value = String> {
    let field = |max: u32| {
        prop_oneof![
            3 => Just("*".to_owned()),
            2 => (0..=max).prop_map(|n| n.to_string()),
            1 => (1..=max.min(30)).prop_map(|n| format!("*/{n}")),
            1 => (0..=max / 2, max / 2..=max).prop_map(|(a, b)| format!("{a}-{b}")),
        ]
    };
    (field(59), field(23), field(31), field(12), field(7))
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a time between 2000 and 2100")
}

proptest! {
    #![proptest_config(config(128))]

    /// For any schedule the spec check accepts and any window (up to years
    /// of downtime), the due run lies in the window and no later occurrence
    /// does; the next one is after now.
    #[test]
    fn the_due_run_is_the_latest_occurrence_in_the_window(
        cron in arb_cron(),
        since in 946_684_800i64..4_102_444_800,
        gap in prop_oneof![0i64..7_200, 0i64..400_000_000],
    ) {
        let Ok(cron) = parse_cron(&cron) else {
            return Ok(());
        };
        let (since, now) = (at(since), at(since) + Duration::seconds(gap));
        let due = due_occurrence(&cron, since, now);
        if let Some(due) = due {
            prop_assert!(since < due && due <= now, "{due} outside ({since}, {now}]");
            let after = cron.find_next_occurrence(&due, false).ok();
            prop_assert!(after.is_none_or(|t| t > now), "{after:?} is later and due too");
        } else if let Ok(first) = cron.find_next_occurrence(&since, false) {
            prop_assert!(first > now, "{first} was due");
        }
        if let Some(next) = next_occurrence(&cron, now) {
            prop_assert!(next > now);
        }
    }
}

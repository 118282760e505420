//! Which run a job owes at one moment, and whether it may start beside the runs still
//! going: the decisions every backend that runs jobs makes the same way.

use chrono::{DateTime, Utc};

use crate::schedule::Schedule;
use crate::spec::ConcurrencyPolicy;
use crate::trigger::Trigger;

/// What a job's schedule and requests say at one moment.
#[derive(Debug, Clone, Copy)]
pub struct JobClock<'a> {
    /// The job's schedule, if it has one.
    pub schedule: Option<&'a Schedule>,
    /// Whether the job is suspended.
    pub suspend: bool,
    /// The occurrence last handled (run, skipped, or passed over while suspended), else
    /// when the job was created: occurrences up to it never run.
    pub last_handled: DateTime<Utc>,
    /// A run asked for now and not answered yet (a [`Trigger::RunNow`]).
    pub run_now: Option<&'a Trigger>,
    /// Whether the job still owes its run on creation (it has no schedule and never ran).
    pub initial_run_owed: bool,
    /// The time now.
    pub now: DateTime<Utc>,
}

/// The run a job owes now, if any, and the schedule occurrence that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// The run to start: at most one, whatever was missed.
    pub trigger: Option<Trigger>,
    /// The schedule occurrence due now ([`Schedule::due`]). A run asked for now also
    /// stands for it; while the job is suspended it is passed over.
    pub occurrence: Option<DateTime<Utc>>,
}

/// The run `clock` says is owed. A run asked for now comes first, and starts even while the
/// job is suspended; then, unless suspended, the due occurrence; then the run on creation
/// of a job without a schedule. Occurrences that pass while a job is suspended are never
/// made up for.
pub fn owed_run(clock: &JobClock<'_>) -> Owed {
    let occurrence = clock
        .schedule
        .and_then(|s| s.due(clock.last_handled, clock.now));
    let trigger = if let Some(run_now) = clock.run_now {
        Some(run_now.clone())
    } else if clock.suspend {
        None
    } else if let Some(t) = occurrence {
        Some(Trigger::Schedule(t))
    } else if clock.schedule.is_none() && clock.initial_run_owed {
        Some(Trigger::Initial)
    } else {
        None
    };
    Owed {
        trigger,
        occurrence,
    }
}

impl Owed {
    /// The occurrence to record as handled once the owed run is acted on (`admission`
    /// `None`: no run was owed). An occurrence is handled when its run starts or is skipped,
    /// and when it passes while the job is suspended; it stays due while a run waits.
    pub fn handled<Id>(&self, admission: Option<&Admission<Id>>) -> Option<DateTime<Utc>> {
        match admission {
            Some(Admission::Wait) => None,
            _ => self.occurrence,
        }
    }
}

/// Whether an owed run may start, given the job's runs still going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission<Id> {
    /// Start it: nothing else is going.
    Start,
    /// Stop these runs, then start it (`concurrencyPolicy: Replace`).
    Replace(Vec<Id>),
    /// A scheduled run is skipped: another run is going (`concurrencyPolicy: Forbid`). Its
    /// occurrence counts as handled.
    Skip,
    /// A run asked for now (or the run on creation) waits until the running one ends
    /// (`concurrencyPolicy: Forbid`); it is still owed.
    Wait,
}

/// Applies the job's concurrency policy to the owed run `trigger`, given the runs going.
pub fn admit<Id: Clone>(
    policy: ConcurrencyPolicy,
    trigger: &Trigger,
    active: &[Id],
) -> Admission<Id> {
    if active.is_empty() {
        return Admission::Start;
    }
    match (policy, trigger) {
        (ConcurrencyPolicy::Replace, _) => Admission::Replace(active.to_vec()),
        (ConcurrencyPolicy::Forbid, Trigger::Schedule(_)) => Admission::Skip,
        (ConcurrencyPolicy::Forbid, Trigger::RunNow(_) | Trigger::Initial) => Admission::Wait,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn clock(schedule: Option<&Schedule>, now: DateTime<Utc>) -> JobClock<'_> {
        JobClock {
            schedule,
            suspend: false,
            last_handled: at(0, 0),
            run_now: None,
            initial_run_owed: true,
            now,
        }
    }

    #[test]
    fn the_owed_run_is_run_now_then_the_schedule_then_the_run_on_creation() {
        let hourly = Schedule::parse("0 * * * *").expect("cron");
        let run_now = Trigger::RunNow("t".into());
        let due = owed_run(&clock(Some(&hourly), at(2, 30)));
        assert_eq!(due.trigger, Some(Trigger::Schedule(at(2, 0))));
        assert_eq!(due.occurrence, Some(at(2, 0)));
        let asked = owed_run(&JobClock {
            run_now: Some(&run_now),
            ..clock(Some(&hourly), at(2, 30))
        });
        assert_eq!(asked.trigger, Some(run_now));
        assert_eq!(asked.occurrence, Some(at(2, 0)), "stood for by the run");
        assert_eq!(
            owed_run(&clock(None, at(2, 30))).trigger,
            Some(Trigger::Initial)
        );
        assert_eq!(
            owed_run(&JobClock {
                initial_run_owed: false,
                ..clock(None, at(2, 30))
            })
            .trigger,
            None
        );
        assert_eq!(
            owed_run(&clock(Some(&hourly), at(0, 30))),
            Owed {
                trigger: None,
                occurrence: None
            },
            "a scheduled job has no run on creation"
        );
    }

    #[test]
    fn suspended_jobs_pass_occurrences_over_but_answer_run_now() {
        let hourly = Schedule::parse("0 * * * *").expect("cron");
        let suspended = JobClock {
            suspend: true,
            ..clock(Some(&hourly), at(2, 30))
        };
        let owed = owed_run(&suspended);
        assert_eq!(owed.trigger, None);
        assert_eq!(owed.handled::<u32>(None), Some(at(2, 0)), "passed over");
        let run_now = Trigger::RunNow("t".into());
        let asked = owed_run(&JobClock {
            run_now: Some(&run_now),
            ..suspended
        });
        assert_eq!(asked.trigger, Some(run_now));
        assert_eq!(
            owed_run(&JobClock {
                suspend: true,
                ..clock(None, at(2, 30))
            })
            .trigger,
            None,
            "no run on creation while suspended"
        );
    }

    #[test]
    fn forbid_skips_scheduled_runs_and_holds_asked_ones_replace_replaces() {
        use ConcurrencyPolicy::{Forbid, Replace};
        let scheduled = Trigger::Schedule(at(1, 0));
        let asked = Trigger::RunNow("t".into());
        let going = [7u32];
        for trigger in [&scheduled, &asked, &Trigger::Initial] {
            assert_eq!(admit::<u32>(Forbid, trigger, &[]), Admission::Start);
            assert_eq!(admit::<u32>(Replace, trigger, &[]), Admission::Start);
            assert_eq!(admit(Replace, trigger, &going), Admission::Replace(vec![7]));
        }
        assert_eq!(admit(Forbid, &scheduled, &going), Admission::Skip);
        assert_eq!(admit(Forbid, &asked, &going), Admission::Wait);
        assert_eq!(admit(Forbid, &Trigger::Initial, &going), Admission::Wait);

        let owed = Owed {
            trigger: Some(asked),
            occurrence: Some(at(1, 0)),
        };
        assert_eq!(owed.handled(Some(&Admission::<u32>::Wait)), None);
        assert_eq!(owed.handled(Some(&Admission::<u32>::Skip)), Some(at(1, 0)));
        assert_eq!(owed.handled(Some(&Admission::<u32>::Start)), Some(at(1, 0)));
    }
}

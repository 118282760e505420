//! Schedules every backend that runs jobs is tested against: a job's schedule, the
//! occurrence it last handled, the time now, and the occurrence due now. The operator's
//! reconcile and the app's scheduler each give these answers through their own entry point.

/// One schedule case. Times are RFC 3339, in UTC.
#[derive(Debug, Clone, Copy)]
pub struct DueCase {
    /// What the case is about.
    pub name: &'static str,
    /// The job's schedule.
    pub schedule: &'static str,
    /// The occurrence the job last handled.
    pub last_handled: &'static str,
    /// The time now.
    pub now: &'static str,
    /// The occurrence due now, whose run the job owes.
    pub due: Option<&'static str>,
}

/// The cases, from the everyday to outages of years and clock changes (which a UTC
/// schedule does not follow).
pub const DUE_CASES: &[DueCase] = &[
    DueCase {
        name: "hourly, down four hours: one catch-up run, the latest",
        schedule: "0 * * * *",
        last_handled: "2026-11-22T01:00:00Z",
        now: "2026-11-22T05:10:00Z",
        due: Some("2026-11-22T05:00:00Z"),
    },
    DueCase {
        name: "hourly, the next occurrence not reached",
        schedule: "0 * * * *",
        last_handled: "2026-11-22T05:00:00Z",
        now: "2026-11-22T05:59:59Z",
        due: None,
    },
    DueCase {
        name: "exactly on time",
        schedule: "0 * * * *",
        last_handled: "2026-11-22T05:00:00Z",
        now: "2026-11-22T06:00:00Z",
        due: Some("2026-11-22T06:00:00Z"),
    },
    DueCase {
        name: "down across the spring clock change in Europe (02:30 is no Berlin time that night)",
        schedule: "30 2 * * *",
        last_handled: "2026-03-28T02:30:00Z",
        now: "2026-03-29T12:00:00Z",
        due: Some("2026-03-29T02:30:00Z"),
    },
    DueCase {
        name: "down across the autumn clock change in Europe (01:30 UTC, once)",
        schedule: "30 1 * * *",
        last_handled: "2026-10-24T01:30:00Z",
        now: "2026-10-26T00:00:00Z",
        due: Some("2026-10-25T01:30:00Z"),
    },
    DueCase {
        name: "every minute on Sundays, down 110 days: 10,080 occurrences missed",
        schedule: "* * * * 0",
        last_handled: "2013-02-26T13:48:38Z",
        now: "2013-06-17T00:00:00Z",
        due: Some("2013-06-16T23:59:00Z"),
    },
    DueCase {
        name: "the 29th of February, down eleven years across 2100 (no leap day)",
        schedule: "0 0 29 2 *",
        last_handled: "2093-01-01T00:00:00Z",
        now: "2104-02-28T00:00:00Z",
        due: Some("2096-02-29T00:00:00Z"),
    },
    DueCase {
        name: "daily, down ten years",
        schedule: "0 3 * * *",
        last_handled: "2016-01-01T03:00:00Z",
        now: "2026-06-01T02:00:00Z",
        due: Some("2026-05-31T03:00:00Z"),
    },
];

#[cfg(all(test, feature = "cron"))]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::schedule::Schedule;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn the_shared_schedule_gives_every_case_its_answer() {
        for case in DUE_CASES {
            let schedule = Schedule::parse(case.schedule).expect("a schedule");
            let due = schedule.due(utc(case.last_handled), utc(case.now));
            assert_eq!(due, case.due.map(utc), "{}", case.name);
        }
    }
}

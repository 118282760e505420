//! Cron schedules (UTC, five fields) and which scheduled time is due.

use croner::Cron;
use gleaner_scrapejob::schedule::parse_cron;
use k8s_openapi::jiff::Timestamp;

/// A parsed cron schedule, evaluated in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
}

pub use gleaner_scrapejob::schedule::ScheduleError;

/// How many missed schedule times are looked at, at most, to find the latest one.
/// A schedule firing every minute that was missed for a week stays cheap.
const MAX_MISSED_SCAN: usize = 100_000;

impl Schedule {
    /// Parses a standard five-field cron expression (minute hour day-of-month month
    /// day-of-week) that fires; the same check as the spec validation.
    pub fn parse(pattern: &str) -> Result<Self, ScheduleError> {
        let cron = parse_cron(pattern)?;
        Ok(Schedule { cron })
    }

    /// The first schedule time strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let start = to_chrono(t)?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        from_chrono(next)
    }

    /// The latest schedule time in `(after, now]`, if any: the one catch-up run after downtime.
    pub fn latest_due(&self, after: Timestamp, now: Timestamp) -> Option<Timestamp> {
        if now <= after {
            return None;
        }
        // The previous occurrence at or before `now` is the most recent due time.
        let start = to_chrono(now)?;
        let prev = self.cron.find_previous_occurrence(&start, true).ok();
        if let Some(prev) = prev.and_then(from_chrono) {
            return (prev > after).then_some(prev);
        }
        // Fall back to walking forward (bounded) if the backward search gave up.
        let mut latest = None;
        let mut t = after;
        for _ in 0..MAX_MISSED_SCAN {
            match self.next_after(t) {
                Some(next) if next <= now => {
                    latest = Some(next);
                    t = next;
                }
                _ => break,
            }
        }
        latest
    }
}

fn to_chrono(t: Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().unsigned_abs())
}

fn from_chrono(t: chrono::DateTime<chrono::Utc>) -> Option<Timestamp> {
    Timestamp::new(
        t.timestamp(),
        i32::try_from(t.timestamp_subsec_nanos()).ok()?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_five_field_cron() {
        assert!(Schedule::parse("0 3 * * *").is_ok());
        assert!(Schedule::parse("*/15 * * * 1-5").is_ok());
        assert!(Schedule::parse(" 0 3 * * * ").is_ok());
    }

    #[test]
    fn rejects_bad_cron() {
        assert!(Schedule::parse("0 3 * *").is_err());
        assert!(
            Schedule::parse("0 0 3 * * *").is_err(),
            "seconds are not allowed"
        );
        assert!(Schedule::parse("61 3 * * *").is_err());
        assert!(Schedule::parse("a b c d e").is_err());
        assert!(Schedule::parse("0 0 31 2 *").is_err(), "never fires");
    }

    #[test]
    fn next_run_is_in_utc() {
        let s = Schedule::parse("0 3 * * *").unwrap();
        assert_eq!(
            s.next_after(ts("2026-11-22T01:00:00Z")),
            Some(ts("2026-11-22T03:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-11-22T03:00:00Z")),
            Some(ts("2026-11-23T03:00:00Z")),
            "strictly after"
        );
    }

    #[test]
    fn latest_due_is_one_catch_up_not_a_burst() {
        let s = Schedule::parse("0 * * * *").unwrap();
        // Down from 01:30 to 05:10: four hourly runs missed, only 05:00 is due.
        assert_eq!(
            s.latest_due(ts("2026-11-22T01:00:00Z"), ts("2026-11-22T05:10:00Z")),
            Some(ts("2026-11-22T05:00:00Z"))
        );
        // Nothing due yet.
        assert_eq!(
            s.latest_due(ts("2026-11-22T05:00:00Z"), ts("2026-11-22T05:59:59Z")),
            None
        );
        // Exactly on time counts.
        assert_eq!(
            s.latest_due(ts("2026-11-22T05:00:00Z"), ts("2026-11-22T06:00:00Z")),
            Some(ts("2026-11-22T06:00:00Z"))
        );
        assert_eq!(
            s.latest_due(ts("2026-11-22T06:00:00Z"), ts("2026-11-22T05:00:00Z")),
            None
        );
    }
}

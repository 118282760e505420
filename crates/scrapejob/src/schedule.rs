//! Cron schedules (UTC, five fields): the syntax, checked the same way wherever a spec is
//! read, and which occurrence is due, decided the same way by every backend that runs jobs.

use std::fmt;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::limits::SCHEDULE_FIELDS;

/// Why a schedule string is not a usable cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// The schedule as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid cron schedule {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for ScheduleError {}

/// Parses a standard five-field cron expression (minute hour day-of-month month
/// day-of-week) that fires at least once.
pub fn parse_cron(pattern: &str) -> Result<Cron, ScheduleError> {
    let err = |reason: String| ScheduleError {
        pattern: pattern.to_owned(),
        reason,
    };
    if let Some(problem) = separator_problem(pattern) {
        return Err(err(problem));
    }
    let trimmed = pattern.trim();
    if trimmed.split_whitespace().count() != SCHEDULE_FIELDS {
        return Err(err(
            "expected five fields: minute hour day-of-month month day-of-week".to_owned(),
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(trimmed)
        .map_err(|e| err(e.to_string()))?;
    // A pattern such as "0 0 31 2 *" parses but never fires.
    if cron
        .find_next_occurrence(&chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, false)
        .is_err()
    {
        return Err(err("the schedule never fires".to_owned()));
    }
    Ok(cron)
}

/// A parsed cron schedule, evaluated in UTC: a schedule never follows a local clock, so a
/// daylight-saving change anywhere moves none of its occurrences.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
}

impl Schedule {
    /// Parses a schedule as [`parse_cron`] does.
    pub fn parse(pattern: &str) -> Result<Self, ScheduleError> {
        parse_cron(pattern).map(|cron| Schedule { cron })
    }

    /// The occurrence that is due at `now`: the latest one in `(since, now]`, where `since`
    /// is the occurrence last handled (or the job's creation).
    ///
    /// The missed-occurrence policy: every occurrence missed while nothing ran (an outage,
    /// a long-blocked run) collapses into this one, so a job owes at most one catch-up run.
    /// It is found by one backward search from `now`, whose cost is bounded whatever the
    /// outage: a sparse schedule (every minute on Sundays, the 29th of February) down for
    /// years still gets its latest occurrence, never an older one where a forward walk
    /// stopped counting.
    pub fn due(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self.cron.find_previous_occurrence(&now, true).ok()?;
        (latest > since).then_some(latest)
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

/// Whitespace as the Kubernetes API server's regular expressions read `\s` (Go RE2: ASCII
/// only), the only separators the CRD's schedule pattern sees between fields.
pub fn is_schema_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Other whitespace (a vertical tab, a no-break or other Unicode space) would separate
/// fields here but not for the API server, so a schedule holding it is refused: no cron
/// field contains a space, so the CRD and the parser then agree on every schedule.
pub fn separator_problem(pattern: &str) -> Option<String> {
    pattern
        .chars()
        .find(|&c| c.is_whitespace() && !is_schema_space(c))
        .map(|c| format!("fields are separated by spaces or tabs, not {c:?}"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn due_is_the_latest_occurrence_since_the_last_one() {
        let daily = Schedule::parse("0 3 * * *").expect("cron");
        let day = |h, m| at(2026, 12, 1, h, m);
        assert_eq!(daily.due(day(2, 0), day(2, 59)), None);
        assert_eq!(
            daily.due(day(2, 0), day(3, 0)),
            Some(day(3, 0)),
            "on time counts"
        );
        assert_eq!(daily.due(day(3, 0), day(3, 30)), None, "already handled");
        assert_eq!(daily.due(day(4, 0), day(3, 30)), None, "since after now");
        let hourly = Schedule::parse("0 * * * *").expect("cron");
        // Down from 01:30 to 05:10: four hourly runs missed, one catch-up run at 05:00.
        assert_eq!(hourly.due(day(1, 0), day(5, 10)), Some(day(5, 0)));
        assert_eq!(hourly.next_after(day(5, 10)), Some(day(6, 0)));
        assert_eq!(
            hourly.next_after(day(6, 0)),
            Some(day(7, 0)),
            "strictly after"
        );
    }

    #[test]
    fn a_long_outage_of_a_sparse_schedule_gives_its_latest_occurrence() {
        // Every minute on Sundays, down for 110 days: 10,080 occurrences missed.
        let sundays = Schedule::parse("* * * * 0").expect("cron");
        let since = Utc
            .with_ymd_and_hms(2013, 2, 26, 13, 48, 38)
            .single()
            .expect("time");
        let now = since + chrono::Duration::seconds(9_540_682);
        let due = sundays.due(since, now).expect("due");
        assert_eq!(due, at(2013, 6, 16, 23, 59));
        assert!(sundays.next_after(due).expect("next") > now);
        // The 29th of February, down for eleven years across 2100 (no leap day).
        let leap = Schedule::parse("0 0 29 2 *").expect("cron");
        assert_eq!(
            leap.due(at(2093, 1, 1, 0, 0), at(2104, 2, 28, 0, 0)),
            Some(at(2096, 2, 29, 0, 0))
        );
        assert_eq!(
            leap.next_after(at(2096, 2, 29, 0, 0)),
            Some(at(2104, 2, 29, 0, 0))
        );
    }

    #[test]
    fn five_field_cron_that_fires() {
        assert!(parse_cron("0 3 * * *").is_ok());
        assert!(parse_cron("*/15 * * * 1-5").is_ok());
        assert!(parse_cron(" 0 3 * * * ").is_ok());
        assert!(parse_cron("0 3 * *").is_err());
        assert!(
            parse_cron("0 0 3 * * *").is_err(),
            "seconds are not allowed"
        );
        assert!(parse_cron("61 3 * * *").is_err());
        assert!(parse_cron("a b c d e").is_err());
        assert!(parse_cron("0 0 31 2 *").is_err(), "never fires");
        assert!(parse_cron("0\t3\n*\r* *").is_ok());
        assert!(
            parse_cron("0\x0b3 * * *").is_err(),
            "a vertical tab is no separator"
        );
        assert!(
            parse_cron("0\u{a0}3 * * * *").is_err(),
            "nor a no-break space"
        );
    }
}

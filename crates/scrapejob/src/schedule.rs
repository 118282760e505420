//! Cron schedule syntax (UTC, five fields), checked the same way wherever a spec is read.

use std::fmt;

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
    use super::*;

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

//! Cron schedules as the operator meets them: the shared [`Schedule`] (UTC, five fields,
//! which occurrence is due), and the edge between the Kubernetes API's times (jiff) and the
//! times the ScrapeJob vocabulary decides on (chrono).

use chrono::{DateTime, Utc};
use k8s_openapi::jiff::Timestamp;

pub use gleaner_scrapejob::schedule::{Schedule, ScheduleError};

/// A Kubernetes time as the ScrapeJob vocabulary's time.
pub fn to_utc(t: Timestamp) -> DateTime<Utc> {
    // jiff signs the fraction as the seconds; chrono's fraction is never negative.
    let (mut seconds, mut nanos) = (t.as_second(), t.subsec_nanosecond());
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    DateTime::from_timestamp(seconds, nanos.unsigned_abs()).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A time the ScrapeJob vocabulary decided on as a Kubernetes time (saturating at the
/// years a Kubernetes time can hold, which a five-field schedule never reaches).
pub fn from_utc(t: DateTime<Utc>) -> Timestamp {
    let nanos = i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0);
    Timestamp::new(t.timestamp(), nanos).unwrap_or(if t.timestamp() < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_cross_the_edge_unchanged() {
        for s in [
            "2026-11-22T03:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.5Z",
            "2096-02-29T00:00:00.000000001Z",
        ] {
            let t: Timestamp = s.parse().expect("a time");
            assert_eq!(from_utc(to_utc(t)), t, "{s}");
        }
        assert_eq!(
            to_utc("2026-11-22T03:00:00Z".parse().expect("a time")).to_rfc3339(),
            "2026-11-22T03:00:00+00:00"
        );
    }
}

//! Rate limiting by GCRA (the generic cell rate algorithm), shared by every
//! caller that needs a ceiling per key: the gateway's per-user and
//! per-address limits, a scrape's per-host ceiling across shards.
//!
//! One key holds one number, its theoretical arrival time (TAT). A request
//! is allowed when it does not arrive more than `burst` emission intervals
//! before the TAT; allowing it moves the TAT one interval on. Redis runs the
//! whole check-and-update as one Lua script on its own clock, so concurrent
//! callers on any number of processes cannot exceed the burst between them.
//! [`LocalRateLimiter`] is the same algorithm in memory, for one process
//! while Redis is unreachable.

use std::time::Duration;

/// A rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    per_second: f64,
    burst: u32,
}

impl Quota {
    /// `per_second` sustained (may be fractional: 0.5 is one every two
    /// seconds) with up to `burst` at once. Both must be positive.
    pub fn new(per_second: f64, burst: u32) -> Result<Self, String> {
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(format!("rate {per_second} must be a positive number"));
        }
        if burst == 0 {
            return Err("burst must be at least 1".into());
        }
        Ok(Self { per_second, burst })
    }

    /// Requests allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Sustained requests per second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Milliseconds between two requests at the sustained rate.
    fn interval_ms(&self) -> f64 {
        1000.0 / self.per_second
    }

    /// The quota for each of `shares` limiters that together must keep a ceiling of
    /// `per_second` requests: no one-second window holds more than `per_second`
    /// requests (at least one), even when each request arrives up to
    /// [`CEILING_MARGIN`] later than the limiter allowed it.
    ///
    /// GCRA with a burst of 1 allows requests at least one interval apart, so any
    /// window of `w` seconds holds at most `floor(w / interval) + 1` of them. A window
    /// may hold `n = max(1, floor(per_second))` requests; `n + 1` requests one interval
    /// apart must span more than a second plus the margin: interval = `(1 + margin) / n`.
    /// Split between `shares` independent limiters (each its own clock, as a shard
    /// whose shared limiter is unreachable), each may put `floor(n / shares)` into a
    /// window, so each gets interval `(1 + margin) / floor(n / shares)`. When `n` is
    /// less than `shares` a share gets one request every `shares / n` windows; the sum
    /// can then exceed `n` in a window when shares happen to line up. The interval is
    /// never shorter than `shares / per_second`.
    pub fn ceiling(per_second: f64, shares: u32) -> Result<Self, String> {
        Self::new(per_second, 1)?;
        let shares = f64::from(shares.max(1));
        let window = per_second.floor().max(1.0);
        let per_share = (window / shares).floor();
        let interval = if per_share >= 1.0 {
            (1.0 + CEILING_MARGIN) / per_share
        } else {
            (1.0 + CEILING_MARGIN) * shares / window
        };
        let interval = interval.max(shares / per_second);
        Self::new(1.0 / interval, 1)
    }

    /// Time between two requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        millis(self.interval_ms())
    }
}

/// How late (in seconds, per one-second window) a request may reach its destination
/// after its limiter allowed it without breaking a [`Quota::ceiling`]: scheduling,
/// connection set-up and network jitter between the limiter and the site.
pub const CEILING_MARGIN: f64 = 0.1;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The burst (what `RateLimit-Limit` reports).
    pub limit: u32,
    /// Requests that could still go ahead right now.
    pub remaining: u32,
    /// When refused: how long until one request would be allowed.
    pub retry_after: Duration,
    /// How long until the full burst is available again.
    pub reset_after: Duration,
}

impl Decision {
    /// `Retry-After` in whole seconds, never 0 for a refusal.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(u64::from(!self.allowed))
    }

    /// Seconds until the full burst is back (`RateLimit-Reset`).
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_after)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// One GCRA step on times in milliseconds, taking up to `wanted` (at least one)
/// requests at once: the decision (its `remaining` counts what is left after all
/// of them), how many were granted (0 when refused), and the new TAT (`None` when
/// refused: the TAT does not move). Taking `n` at once is the same as `n` steps at
/// the same instant, stopping at the first refusal. Shared by the in-memory limiter
/// and mirrored line by line in the Redis script (`redis.rs`).
fn gcra(now: f64, tat: Option<f64>, quota: Quota, wanted: u32) -> (Decision, u32, Option<f64>) {
    let interval = quota.interval_ms();
    let tolerance = interval * f64::from(quota.burst);
    let tat = tat.map_or(now, |t| t.max(now));
    // now - (tat + interval - tolerance), written so that a burst of 1 (tolerance equal
    // to the interval) allows a request exactly at its TAT despite rounding.
    let diff = (now - tat) + (tolerance - interval);
    if diff < 0.0 {
        let decision = Decision {
            allowed: false,
            limit: quota.burst,
            remaining: 0,
            retry_after: millis(-diff),
            reset_after: millis(tat - now),
        };
        return (decision, 0, None);
    }
    // The first request fits (diff >= 0); each further one needs one interval more.
    let available = ((diff / interval).floor() as u32).saturating_add(1);
    let granted = wanted.max(1).min(available);
    let new_tat = tat + interval * f64::from(granted);
    let decision = Decision {
        allowed: true,
        limit: quota.burst,
        remaining: available - granted,
        retry_after: Duration::ZERO,
        reset_after: millis(new_tat - now),
    };
    (decision, granted, Some(new_tat))
}

fn millis(ms: f64) -> Duration {
    Duration::from_micros((ms.max(0.0) * 1000.0).ceil() as u64)
}

mod lease;
mod local;
mod redis;

pub use lease::{LeaseBook, LeasePolicy, Spend, Take};
pub use local::LocalRateLimiter;
pub use redis::{GiveBack, Grant, RedisRateLimiter};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::local::LOCAL_SWEEP_AT;

    fn quota(per_second: f64, burst: u32) -> Quota {
        Quota::new(per_second, burst).unwrap()
    }

    #[test]
    fn the_burst_passes_at_once_and_the_next_waits_one_interval() {
        let limiter = LocalRateLimiter::new();
        let q = quota(10.0, 3);
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                let d = limiter.check_at("k", q, 1000.0);
                assert!(d.allowed);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check_at("k", q, 1000.0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        assert_eq!(refused.retry_after_secs(), 1);
        // One interval later exactly one more is allowed.
        assert!(limiter.check_at("k", q, 1100.0).allowed);
        assert!(!limiter.check_at("k", q, 1100.0).allowed);
    }

    #[test]
    fn the_sustained_rate_is_allowed_forever() {
        let limiter = LocalRateLimiter::new();
        let q = quota(2.0, 1);
        for i in 0..100 {
            let d = limiter.check_at("k", q, 1000.0 + f64::from(i) * 500.0);
            assert!(d.allowed, "request {i}");
        }
    }

    #[test]
    fn a_burst_of_one_allows_a_request_exactly_on_time() {
        let q = quota(3.0, 1);
        // The first request of a key, whatever the clock says.
        for now in [0.001, 1234.567, 1e9 + 0.3] {
            assert!(
                LocalRateLimiter::new().check_at("k", q, now).allowed,
                "{now}"
            );
        }
        // Then one at each TAT, which a refused caller waits for.
        let limiter = LocalRateLimiter::new();
        let mut at = 0.007;
        for i in 0..30 {
            assert!(limiter.check_at("k", q, at).allowed, "request {i}");
            let refused = limiter.check_at("k", q, at);
            assert!(!refused.allowed);
            at += refused.retry_after.as_secs_f64() * 1000.0;
        }
    }

    #[test]
    fn keys_are_counted_apart() {
        let limiter = LocalRateLimiter::new();
        let q = quota(1.0, 1);
        assert!(limiter.check_at("a", q, 0.0).allowed);
        assert!(!limiter.check_at("a", q, 0.0).allowed);
        assert!(limiter.check_at("b", q, 0.0).allowed);
    }

    #[test]
    fn idle_keys_are_dropped_when_the_map_is_full() {
        let limiter = LocalRateLimiter::new();
        let q = quota(1000.0, 1);
        for i in 0..LOCAL_SWEEP_AT {
            limiter.check_at(&i.to_string(), q, 0.0);
        }
        assert_eq!(limiter.len(), LOCAL_SWEEP_AT);
        // A second later every earlier key has its burst back.
        limiter.check_at("new", q, 1000.0);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn reset_is_when_the_whole_burst_is_back() {
        let limiter = LocalRateLimiter::new();
        let q = quota(10.0, 20);
        let first = limiter.check_at("k", q, 0.0);
        assert_eq!(first.remaining, 19);
        assert_eq!(first.reset_after, Duration::from_millis(100));
        assert_eq!(first.reset_secs(), 1);
    }

    /// Times (ms) at which `limiters` (one per share, each started at its own phase)
    /// allow requests when every share asks every millisecond for `secs` seconds.
    fn allowed_times(q: Quota, phases: &[f64], secs: u32) -> Vec<f64> {
        let mut times = Vec::new();
        for phase in phases {
            let limiter = LocalRateLimiter::new();
            for ms in 0..secs * 1000 {
                let now = phase + f64::from(ms);
                if limiter.check_at("host", q, now).allowed {
                    times.push(now);
                }
            }
        }
        times.sort_by(f64::total_cmp);
        times
    }

    /// The most requests in any window of `window_ms` when each arrives up to `late_ms`
    /// after it was allowed (the worst case: the earliest late, the latest on time).
    fn peak(times: &[f64], window_ms: f64, late_ms: f64) -> usize {
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= window_ms + late_ms {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    #[test]
    fn a_ceiling_holds_in_every_one_second_window_with_jitter() {
        for per_second in [0.5, 1.0, 2.0, 2.5, 7.0, 10.0, 20.0, 33.3, 100.0] {
            let q = Quota::ceiling(per_second, 1).unwrap();
            let times = allowed_times(q, &[0.0], 6);
            let limit = per_second.floor().max(1.0) as usize;
            let late = CEILING_MARGIN * 1000.0 * 0.99;
            assert!(peak(&times, 1000.0, late) <= limit, "{per_second}/s: {q:?}");
            // Not needlessly slow: at least 80% of the ceiling over the run.
            let sustained = times.len() as f64 / 6.0;
            assert!(
                sustained >= 0.8 * per_second.min(limit as f64) - 1.0,
                "{per_second}/s: {sustained}"
            );
        }
    }

    #[test]
    fn shares_of_a_ceiling_add_up_to_at_most_the_ceiling_whatever_their_phase() {
        for (per_second, shares) in [(20.0, 4), (20.0, 3), (10.0, 4), (100.0, 64), (5.0, 5)] {
            let q = Quota::ceiling(per_second, shares).unwrap();
            assert!(q.per_second() <= per_second / f64::from(shares));
            for offsets in [0.0, 1.0, 17.0, 333.0] {
                let phases: Vec<f64> = (0..shares).map(|i| f64::from(i) * offsets).collect();
                let times = allowed_times(q, &phases, 4);
                let late = CEILING_MARGIN * 1000.0 * 0.99;
                let top = peak(&times, 1000.0, late);
                assert!(
                    top <= per_second as usize,
                    "{per_second}/s over {shares}: {top}"
                );
            }
        }
    }

    #[test]
    fn bad_quotas_are_refused() {
        assert!(Quota::ceiling(0.0, 4).is_err());
        assert!(Quota::ceiling(f64::INFINITY, 1).is_err());
        assert!(Quota::new(0.0, 1).is_err());
        assert!(Quota::new(f64::NAN, 1).is_err());
        assert!(Quota::new(1.0, 0).is_err());
        assert!(Quota::new(0.5, 1).is_ok());
    }
}

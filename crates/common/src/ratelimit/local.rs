//! GCRA in one process's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::{Decision, Quota, gcra};

/// How many keys the in-memory limiter holds before it drops the idle ones.
pub(super) const LOCAL_SWEEP_AT: usize = 10_000;

/// GCRA in this process's memory: the same decisions as
/// [`super::RedisRateLimiter`] for one process, for when Redis is unreachable.
/// Keys whose burst is fully back are dropped, so memory stays bounded by
/// the keys active within one reset period.
pub struct LocalRateLimiter {
    epoch: Instant,
    tats: Mutex<HashMap<String, f64>>,
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request under `key` against `quota`.
    pub fn check(&self, key: &str, quota: Quota) -> Decision {
        let now = self.epoch.elapsed().as_secs_f64() * 1000.0;
        self.check_at(key, quota, now)
    }

    pub(super) fn check_at(&self, key: &str, quota: Quota, now: f64) -> Decision {
        // A poisoned lock only means another thread panicked mid-update of
        // a map of plain numbers: the numbers are still usable.
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        let (decision, _, new_tat) = gcra(now, tats.get(key).copied(), quota, 1);
        if let Some(tat) = new_tat {
            if tats.len() >= LOCAL_SWEEP_AT && !tats.contains_key(key) {
                tats.retain(|_, t| *t > now);
            }
            tats.insert(key.to_owned(), tat);
        }
        decision
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.tats.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

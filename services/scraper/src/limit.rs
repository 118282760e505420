//! The per-host ceiling of a run: `requestsPerSecond` to one host, across every shard.
//!
//! With Redis (`REDIS_URL`), every shard of a run counts its requests to a host in one
//! GCRA key, `gleaner:scrape:ratelimit:<run id>:<host>`, checked and updated by the Lua
//! script of [`gleaner_common::ratelimit::RedisRateLimiter`] on Redis's clock (the
//! gateway's limiter): all shards together get the whole rate. Without Redis, or while
//! it does not answer, each shard limits itself in memory to its share, the rate
//! divided by the shard count ([`Quota::ceiling`]). A shard that loses Redis goes on in
//! memory (one warning, and `scraper_ratelimit_local_total` counts the requests so
//! allowed), and tries Redis again every second.
//!
//! Changing between Redis and memory, a shard first stays quiet long enough that no
//! one-second window at the site can hold requests allowed both ways (which could add up
//! to more than the ceiling): [`QUIET`] when Redis is lost, and when it is back also the
//! time the other shards may take to notice. That holds as long as the shards see Redis
//! alike (lost together, back together). Every request counts: retries and robots.txt.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::Pool;
use gleaner_common::ratelimit::{CEILING_MARGIN, LocalRateLimiter, Quota, RedisRateLimiter};
use uuid::Uuid;

use crate::metrics::ScraperMetrics;

/// Redis keys of the per-host limits of runs.
pub const PREFIX: &str = "gleaner:scrape:ratelimit:";
/// A check Redis does not answer within this is decided in memory.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// While Redis is unreachable, how often a shard tries it again.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a shard sends nothing after it stops using Redis: a one-second window
/// plus the margin of the ceiling.
pub const QUIET: Duration = Duration::from_millis(1000 + (CEILING_MARGIN * 1000.0) as u64);

/// Where the decisions are made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Redis,
    Local,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// No request before this (after a change of mode).
    quiet_until: Option<Instant>,
    /// While in memory: when to try Redis again.
    retry_redis_at: Option<Instant>,
}

/// The shared part: Redis and the run's key.
struct Shared {
    redis: RedisRateLimiter,
    run: Uuid,
    quota: Quota,
}

/// The per-host limiter of one shard of a run.
pub struct HostLimiter {
    shared: Option<Shared>,
    local: LocalRateLimiter,
    local_quota: Quota,
    state: Mutex<State>,
    warned: AtomicBool,
    metrics: ScraperMetrics,
    source: String,
}

impl HostLimiter {
    /// A limiter in memory: `requests_per_second` divided among `shards`.
    pub fn local(
        requests_per_second: f64,
        shards: u32,
        metrics: ScraperMetrics,
        source: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            shared: None,
            local: LocalRateLimiter::new(),
            local_quota: Quota::ceiling(requests_per_second, shards)?,
            state: Mutex::new(State {
                mode: Mode::Local,
                quiet_until: None,
                retry_redis_at: None,
            }),
            warned: AtomicBool::new(false),
            metrics,
            source: source.to_owned(),
        })
    }

    /// A limiter shared through `redis` by every shard of `run` (in memory at its
    /// share while Redis is unreachable).
    pub fn shared(
        redis: Pool,
        run: Uuid,
        requests_per_second: f64,
        shards: u32,
        metrics: ScraperMetrics,
        source: &str,
    ) -> Result<Self, String> {
        let mut limiter = Self::local(requests_per_second, shards, metrics, source)?;
        limiter.shared = Some(Shared {
            redis: RedisRateLimiter::new(redis, PREFIX, REDIS_TIMEOUT),
            run,
            quota: Quota::ceiling(requests_per_second, 1)?,
        });
        limiter.state = Mutex::new(State {
            mode: Mode::Redis,
            quiet_until: None,
            retry_redis_at: None,
        });
        Ok(limiter)
    }

    /// Whether decisions are made in memory now.
    pub fn is_local(&self) -> bool {
        self.lock().mode == Mode::Local
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update of plain values.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until one request to `host` may go.
    pub async fn until_ready(&self, host: &str) {
        while let Some(wait) = self.try_acquire(host).await {
            tokio::time::sleep(wait).await;
        }
    }

    /// One request to `host` now (`None`), or how long to wait before asking again.
    async fn try_acquire(&self, host: &str) -> Option<Duration> {
        let now = Instant::now();
        let (mode, try_redis) = {
            let state = self.lock();
            if let Some(until) = state.quiet_until
                && now < until
            {
                return Some(until - now);
            }
            let try_redis = self.shared.is_some()
                && (state.mode == Mode::Redis || state.retry_redis_at.is_none_or(|at| now >= at));
            (state.mode, try_redis)
        };
        if try_redis && let Some(shared) = &self.shared {
            let key = format!("{}:{host}", shared.run);
            match shared.redis.check(&key, shared.quota).await {
                Ok(decision) => {
                    if mode == Mode::Local {
                        // Back on Redis: first let the other shards notice and their
                        // in-memory requests leave the window.
                        let quiet = QUIET + REDIS_RETRY_AFTER + self.local_quota.interval();
                        let mut state = self.lock();
                        if state.mode == Mode::Local {
                            state.mode = Mode::Redis;
                            state.quiet_until = Some(Instant::now() + quiet);
                            state.retry_redis_at = None;
                            tracing::info!(
                                "Redis answers again: the per-host rate limit is shared again"
                            );
                        }
                        return Some(quiet);
                    }
                    return (!decision.allowed).then_some(decision.retry_after);
                }
                Err(e) => {
                    let mut state = self.lock();
                    state.retry_redis_at = Some(Instant::now() + REDIS_RETRY_AFTER);
                    if state.mode == Mode::Redis {
                        state.mode = Mode::Local;
                        state.quiet_until = Some(Instant::now() + QUIET);
                        if !self.warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                error = %e,
                                "Redis unreachable: each shard limits its requests in memory at its share of the rate"
                            );
                        }
                        return Some(QUIET);
                    }
                }
            }
        }
        let decision = self.local.check(host, self.local_quota);
        if decision.allowed {
            if self.shared.is_some() {
                self.metrics.ratelimit_local(&self.source);
            }
            None
        } else {
            Some(decision.retry_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_the_shard_gets_its_share_of_the_rate() {
        let limiter = HostLimiter::local(20.0, 4, ScraperMetrics::unregistered(), "t").unwrap();
        assert!(limiter.is_local());
        assert_eq!(limiter.try_acquire("h").await, None);
        let wait = limiter.try_acquire("h").await.unwrap();
        // 20/s over 4 shards: 5 a second each, with the margin.
        assert!(wait > Duration::from_millis(200), "{wait:?}");
        // Hosts are limited apart.
        assert_eq!(limiter.try_acquire("other").await, None);
    }

    #[tokio::test]
    async fn unreachable_redis_falls_back_after_a_quiet_window() {
        // Nothing listens on port 1: every check fails at once.
        let pool = gleaner_common::redis::connect("redis://127.0.0.1:1", 1)
            .await
            .unwrap();
        let metrics = ScraperMetrics::unregistered();
        let limiter =
            HostLimiter::shared(pool, Uuid::nil(), 20.0, 4, metrics.clone(), "t").unwrap();
        assert!(!limiter.is_local());
        assert_eq!(limiter.try_acquire("h").await, Some(QUIET));
        assert!(limiter.is_local());
        // Still quiet.
        assert!(limiter.try_acquire("h").await.is_some());
    }
}

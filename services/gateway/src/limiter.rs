//! The edge rate limit: the shared GCRA in Redis, so every gateway replica
//! counts against one budget, and the same algorithm in memory while Redis
//! is unreachable, so the gateway keeps serving (each replica then limits
//! on its own).
//!
//! A busy key's requests are taken from Redis several at a time and spent here
//! for at most [`LEASE_TTL`] (`gleaner_common::ratelimit::LeaseBook`, which states
//! the bounds): every request is still counted against the shared budget, at most
//! [`LEASE_TTL`] before it goes ahead, and a refusal is answered here until its
//! `Retry-After` without asking Redis again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::prelude::Pool;
use gleaner_common::ratelimit::{
    Decision, LeaseBook, LeasePolicy, LocalRateLimiter, Quota, RedisRateLimiter, Spend,
};

use crate::metrics::GatewayMetrics;

/// Redis keys of the edge limits.
const PREFIX: &str = "gleaner:gateway:ratelimit:";
/// A check that Redis does not answer within this is answered in memory.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After Redis fails, how long the gateway limits in memory before trying it again.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long requests leased from Redis may be spent: the limit holds in every
/// window give or take this (at the default 10 requests/s, one request).
pub const LEASE_TTL: Duration = Duration::from_millis(100);
/// The most requests one lease takes: a busy key asks Redis once per this many.
pub const LEASE_MAX: u32 = 32;

/// Who a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An authenticated user, by user id.
    User,
    /// An anonymous client, by address.
    Address,
}

impl Scope {
    /// The `scope` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Address => "address",
        }
    }
}

/// The gateway's rate limiter.
pub struct EdgeLimiter {
    redis: RedisRateLimiter,
    leases: LeaseBook,
    local: LocalRateLimiter,
    quota: Quota,
    /// While set and in the future, Redis is skipped.
    redis_retry_at: Mutex<Option<Instant>>,
    metrics: GatewayMetrics,
}

impl EdgeLimiter {
    /// A limiter allowing `quota` per key.
    pub fn new(redis: Pool, quota: Quota, lease: LeasePolicy, metrics: GatewayMetrics) -> Self {
        Self {
            redis: RedisRateLimiter::new(redis, PREFIX, REDIS_TIMEOUT),
            leases: LeaseBook::new(lease),
            local: LocalRateLimiter::new(),
            quota,
            redis_retry_at: Mutex::new(None),
            metrics,
        }
    }

    /// The quota per key.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Whether limits are kept in memory now (Redis unreachable).
    pub fn is_local(&self) -> bool {
        self.metrics.local_limiter.get() == 1
    }

    /// Count one request of `key` in `scope`.
    pub async fn check(&self, scope: Scope, key: &str) -> Decision {
        let scope = scope.as_str();
        let mut key_in_scope = String::with_capacity(scope.len() + 1 + key.len());
        key_in_scope.push_str(scope);
        key_in_scope.push(':');
        key_in_scope.push_str(key);
        let key = key_in_scope;
        let take = match self.leases.spend(&key, self.quota) {
            Spend::Decided(decision) => return decision,
            Spend::Take(take) => take,
        };
        let skip_redis = self
            .redis_retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| Instant::now() < at);
        if !skip_redis {
            match self
                .redis
                .take(&key, self.quota, take.wanted, take.back.as_ref())
                .await
            {
                Ok(grant) => {
                    if self.metrics.local_limiter.get() == 1 {
                        tracing::info!("Redis answers again: rate limits are shared again");
                        self.metrics.local_limiter.set(0);
                    }
                    return self.leases.record(&key, self.quota, &grant);
                }
                Err(error) => {
                    if self.metrics.local_limiter.get() == 0 {
                        tracing::warn!(%error, "Redis is unreachable: rate limits are kept in memory until it answers");
                        self.metrics.local_limiter.set(1);
                    }
                    *self
                        .redis_retry_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        Some(Instant::now() + REDIS_RETRY_AFTER);
                }
            }
        }
        self.metrics.fallbacks.inc();
        self.local.check(&key, self.quota)
    }
}

//! Login throttling in Redis: failed logins are counted per account and per
//! client address in fixed windows; over the limit, logins are refused with
//! `Retry-After` until the window ends. A window is short (minutes), so the
//! real owner is never locked out for long; a success clears the account count.

use std::time::Duration;

use fred::prelude::*;

use crate::sessions::PREFIX;

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures allowed per account per window.
    pub per_account: i64,
    /// Failures allowed per client address per window.
    pub per_address: i64,
    /// Window length.
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 30,
            window: Duration::from_secs(300),
        }
    }
}

const COUNT_FAILURE: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local m = redis.call('INCR', KEYS[2])
if m == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {n, m}
"#;

/// The login throttle.
#[derive(Clone)]
pub struct LoginThrottle {
    redis: Pool,
    limits: ThrottleLimits,
}

fn account_key(account: &str) -> String {
    format!("{PREFIX}login-failures:account:{}", account.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("{PREFIX}login-failures:address:{address}")
}

impl LoginThrottle {
    /// A throttle with `limits`.
    pub fn new(redis: Pool, limits: ThrottleLimits) -> Self {
        Self { redis, limits }
    }

    /// `Some(seconds to wait)` if this account or address is throttled now.
    pub async fn check(&self, account: &str, address: &str) -> Result<Option<u64>, Error> {
        let keys = [account_key(account), address_key(address)];
        let counts: Vec<Option<i64>> = self.redis.mget(keys.to_vec()).await?;
        let limits = [self.limits.per_account, self.limits.per_address];
        let mut wait = None;
        for ((key, count), limit) in keys.iter().zip(counts).zip(limits) {
            if count.unwrap_or(0) >= limit {
                let ttl: i64 = self.redis.ttl(key).await?;
                let secs = if ttl > 0 { ttl as u64 } else { 1 };
                wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
            }
        }
        Ok(wait)
    }

    /// Count a failed login.
    pub async fn record_failure(&self, account: &str, address: &str) -> Result<(), Error> {
        let _: Value = self
            .redis
            .eval(
                COUNT_FAILURE,
                vec![account_key(account), address_key(address)],
                vec![self.limits.window.as_secs().to_string()],
            )
            .await?;
        Ok(())
    }

    /// Forget the account's failures after a successful login.
    pub async fn record_success(&self, account: &str) -> Result<(), Error> {
        self.redis.del(account_key(account)).await
    }
}

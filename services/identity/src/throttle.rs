//! Login throttling and per-address rate limits, in Redis.
//!
//! Failed logins are counted per account and per client address in fixed
//! windows. The count is taken *before* the password is checked: one Lua
//! script checks both limits and reserves an attempt, so parallel requests
//! cannot all slip past a read-then-write check; a successful login gives its
//! reservation back. Over a limit, logins are refused with `Retry-After`
//! until the window ends (minutes), so the real owner is never locked out
//! for long.
//!
//! Separately, every login and every registration counts against the client
//! address's request budget, whatever its outcome.

use std::time::Duration;

use fred::prelude::*;
use gleaner_common::client_addr::ClientAddr;

use crate::sessions::PREFIX;

/// Limits of the login throttle and the per-address rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed logins allowed per account per window.
    pub per_account: i64,
    /// Failed logins allowed per client address per window.
    pub per_address: i64,
    /// Window of the failure counts.
    pub window: Duration,
    /// Login requests allowed per client address per `rate_window`.
    pub logins_per_address: i64,
    /// Registrations allowed per client address per `rate_window`.
    pub registrations_per_address: i64,
    /// Window of the request rate limits.
    pub rate_window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 30,
            window: Duration::from_secs(300),
            logins_per_address: 60,
            registrations_per_address: 10,
            rate_window: Duration::from_secs(60),
        }
    }
}

/// Why a login may not proceed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failed logins for this account.
    Account { retry_after: u64 },
    /// Too many failed logins from this address.
    Address { retry_after: u64 },
    /// Too many requests from this address.
    Rate { retry_after: u64 },
}

impl Refusal {
    /// Seconds until the window that refused ends.
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Account { retry_after }
            | Refusal::Address { retry_after }
            | Refusal::Rate { retry_after } => retry_after,
        }
    }

    /// Which limit refused, for logs.
    pub fn scope(self) -> &'static str {
        match self {
            Refusal::Account { .. } => "account",
            Refusal::Address { .. } => "address",
            Refusal::Rate { .. } => "rate",
        }
    }
}

/// A reserved login attempt: counted as failed unless `release`d.
#[derive(Debug)]
#[must_use = "a reservation is a failure unless released"]
pub struct Reservation {
    account_key: String,
    address_key: String,
}

// KEYS: request rate, account failures, address failures.
// ARGV: rate limit, rate window, account limit, address limit, failure window.
// Returns {0, kind, seconds} when refused (kind 1 rate, 2 account, 3 address), {1} when reserved.
const RESERVE: &str = r#"
local function wait(key)
  local ttl = redis.call('TTL', key)
  if ttl < 1 then return 1 end
  return ttl
end
local function bump(key, window)
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
  return n
end
if bump(KEYS[1], ARGV[2]) > tonumber(ARGV[1]) then return {0, 1, wait(KEYS[1])} end
local a = tonumber(redis.call('GET', KEYS[2]) or '0')
if a >= tonumber(ARGV[3]) then return {0, 2, wait(KEYS[2])} end
local b = tonumber(redis.call('GET', KEYS[3]) or '0')
if b >= tonumber(ARGV[4]) then return {0, 3, wait(KEYS[3])} end
bump(KEYS[2], ARGV[5])
bump(KEYS[3], ARGV[5])
return {1}
"#;

// Give back a reservation: never below zero, never resurrecting an expired key.
const RELEASE: &str = r#"
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 0 then redis.call('DECR', key) end
end
return 1
"#;

// KEYS: a request counter. ARGV: limit, window. Returns 0, or the seconds to wait.
const HIT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then return 1 end
  return ttl
end
return 0
"#;

/// The login throttle and rate limits.
#[derive(Clone)]
pub struct LoginThrottle {
    redis: Pool,
    limits: ThrottleLimits,
}

fn account_key(account: &str) -> String {
    format!("{PREFIX}login-failures:account:{}", account.to_lowercase())
}

fn address_key(client: &ClientAddr) -> String {
    format!("{PREFIX}login-failures:address:{}", client.limit_key())
}

fn rate_key(action: &str, client: &ClientAddr) -> String {
    format!("{PREFIX}rate:{action}:{}", client.limit_key())
}

fn secs(d: Duration) -> String {
    d.as_secs().max(1).to_string()
}

impl LoginThrottle {
    /// A throttle with `limits`.
    pub fn new(redis: Pool, limits: ThrottleLimits) -> Self {
        Self { redis, limits }
    }

    /// Count a login request and reserve a failed attempt for `account` from
    /// `client`, or say why not. Atomic: of any number of parallel attempts,
    /// at most the limit get a reservation.
    pub async fn reserve(
        &self,
        account: &str,
        client: &ClientAddr,
    ) -> Result<Result<Reservation, Refusal>, Error> {
        let reservation = Reservation {
            account_key: account_key(account),
            address_key: address_key(client),
        };
        let l = &self.limits;
        let answer: Vec<i64> = self
            .redis
            .eval(
                RESERVE,
                vec![
                    rate_key("login", client),
                    reservation.account_key.clone(),
                    reservation.address_key.clone(),
                ],
                vec![
                    l.logins_per_address.to_string(),
                    secs(l.rate_window),
                    l.per_account.to_string(),
                    l.per_address.to_string(),
                    secs(l.window),
                ],
            )
            .await?;
        let retry_after = answer.get(2).copied().unwrap_or(1).max(1) as u64;
        Ok(match answer.as_slice() {
            [1] => Ok(reservation),
            [0, 1, _] => Err(Refusal::Rate { retry_after }),
            [0, 2, _] => Err(Refusal::Account { retry_after }),
            [0, 3, _] => Err(Refusal::Address { retry_after }),
            _ => {
                return Err(Error::new(
                    ErrorKind::Unknown,
                    "unexpected answer from the throttle script",
                ));
            }
        })
    }

    /// A successful login: the attempt was not a failure after all.
    pub async fn release(&self, reservation: Reservation) -> Result<(), Error> {
        let _: i64 = self
            .redis
            .eval(
                RELEASE,
                vec![reservation.account_key, reservation.address_key],
                Vec::<String>::new(),
            )
            .await?;
        Ok(())
    }

    /// Count a registration from `client`: `Some(seconds to wait)` when over the limit.
    pub async fn registration(&self, client: &ClientAddr) -> Result<Option<u64>, Error> {
        let wait: i64 = self
            .redis
            .eval(
                HIT,
                vec![rate_key("register", client)],
                vec![
                    self.limits.registrations_per_address.to_string(),
                    secs(self.limits.rate_window),
                ],
            )
            .await?;
        Ok((wait > 0).then_some(wait as u64))
    }
}

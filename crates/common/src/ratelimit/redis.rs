//! GCRA in Redis, on Redis's clock.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fred::interfaces::{ClientLike as _, LuaInterface as _};
use fred::prelude::{Error, Pool, Value};
use fred::types::config::Options;

use super::{Decision, Quota};

/// The GCRA step of `super::gcra` as one atomic script on Redis's clock.
/// KEYS[1] the key; ARGV[1] the interval in ms; ARGV[2] the burst; ARGV[3] how many
/// requests to take at once (at least 1); ARGV[4] how many requests an earlier take
/// left unspent, given back first; ARGV[5] the TAT that take stored: they are given
/// back only while it is still the one stored (nothing else was counted since, so the
/// TAT without them is exactly this one less their intervals).
/// Returns `{granted, remaining, retry_after_us, reset_after_us, stored_tat}`
/// (granted 0: refused; stored_tat as stored, "" when nothing is).
const GCRA_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored or now)
local back = tonumber(ARGV[4] or '0')
local given_back = back > 0 and stored and stored == ARGV[5]
if given_back then tat = tat - interval * back end
if tat < now then tat = now end
local diff = (now - tat) + (tolerance - interval)
if diff < 0 then
  if given_back then
    stored = string.format('%.3f', tat)
    redis.call('SET', KEYS[1], stored, 'PX', math.max(1, math.ceil(tat - now)))
  end
  return {0, 0, math.ceil(-diff * 1000), math.ceil((tat - now) * 1000), stored or ''}
end
local available = math.floor(diff / interval) + 1
local granted = math.min(math.max(1, tonumber(ARGV[3])), available)
local new_tat = tat + interval * granted
stored = string.format('%.3f', new_tat)
redis.call('SET', KEYS[1], stored, 'PX', math.max(1, math.ceil(new_tat - now)))
return {granted, available - granted, 0, math.ceil((new_tat - now) * 1000), stored}
"#;

/// Requests an earlier [`RedisRateLimiter::take`] granted and the caller did not spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveBack {
    /// How many.
    pub count: u32,
    /// The TAT that take stored ([`Grant::tat`]).
    pub tat: String,
}

/// What one [`RedisRateLimiter::take`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The decision as of the take: `remaining` is what is left after all of
    /// `granted`, `reset_after` counts them all.
    pub decision: Decision,
    /// Requests granted (0: refused).
    pub granted: u32,
    /// The TAT stored after the take, as stored (what a [`GiveBack`] names).
    pub tat: Option<String>,
}

/// GCRA in Redis, atomic across every process sharing the Redis.
///
/// The script is sent whole once; after that it is called by its SHA-1 (`EVALSHA`,
/// the hash as `SCRIPT LOAD` reported it), and sent whole again whenever Redis has
/// forgotten it (`NOSCRIPT`: a restart, `SCRIPT FLUSH`, another server).
#[derive(Clone)]
pub struct RedisRateLimiter {
    redis: Pool,
    prefix: String,
    timeout: Duration,
    script_sha: Arc<OnceLock<String>>,
}

impl RedisRateLimiter {
    /// Keys go under `prefix` (e.g. `gleaner:ratelimit:`). A check that
    /// takes longer than `timeout`, or finds Redis disconnected, fails at once
    /// rather than queueing, so a caller can fall back.
    pub fn new(redis: Pool, prefix: &str, timeout: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            timeout,
            script_sha: Arc::new(OnceLock::new()),
        }
    }

    /// Count one request under `key` against `quota`.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, Error> {
        Ok(self.take(key, quota, 1, None).await?.decision)
    }

    /// Count up to `wanted` requests under `key` at once (as many as the budget
    /// has now, at least one unless refused): a lease a caller spends itself. `back`
    /// first gives back what an earlier take left unspent, when nothing else was
    /// counted under `key` since (otherwise it is dropped: giving it back then could let
    /// more through than the limit).
    pub async fn take(
        &self,
        key: &str,
        quota: Quota,
        wanted: u32,
        back: Option<&GiveBack>,
    ) -> Result<Grant, Error> {
        let options = Options {
            fail_fast: true,
            timeout: Some(self.timeout),
            max_attempts: Some(1),
            ..Default::default()
        };
        let client = self.redis.next().with_options(&options);
        let keys = vec![format!("{}{key}", self.prefix)];
        let args = vec![
            format!("{:.6}", quota.interval_ms()),
            quota.burst.to_string(),
            wanted.max(1).to_string(),
            back.map_or(0, |b| b.count).to_string(),
            back.map_or_else(String::new, |b| b.tat.clone()),
        ];
        let reply: Vec<Value> = match self.script_sha.get() {
            Some(sha) => match client
                .evalsha(sha.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(e) if e.details().starts_with("NOSCRIPT") => {
                    client.eval(GCRA_SCRIPT, keys, args).await?
                }
                reply => reply?,
            },
            None => {
                let reply = client.eval(GCRA_SCRIPT, keys, args).await?;
                // EVAL cached the script; its hash names it from now on.
                if let Ok(sha) = client.script_load::<String, _>(GCRA_SCRIPT).await {
                    let _ = self.script_sha.set(sha);
                }
                reply
            }
        };
        let unexpected = || {
            Error::new(
                fred::error::ErrorKind::Parse,
                "the rate-limit script returned an unexpected reply",
            )
        };
        let [granted, remaining, retry_us, reset_us, tat] = &reply[..] else {
            return Err(unexpected());
        };
        let [granted, remaining, retry_us, reset_us] =
            [granted, remaining, retry_us, reset_us].map(Value::as_i64);
        let (Some(granted), Some(remaining), Some(retry_us), Some(reset_us)) =
            (granted, remaining, retry_us, reset_us)
        else {
            return Err(unexpected());
        };
        let tat = tat.as_string().filter(|t| !t.is_empty());
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let granted = u32::try_from(granted).unwrap_or(0);
        Ok(Grant {
            decision: Decision {
                allowed: granted > 0,
                limit: quota.burst,
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                retry_after: micros(retry_us),
                reset_after: micros(reset_us),
            },
            granted,
            tat,
        })
    }
}

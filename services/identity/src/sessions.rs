//! Login sessions in Redis: one per login, holding the hash of the current
//! refresh token and of every secret it replaced. Refresh tokens are
//! `<session id>.<secret>`; each use swaps the secret atomically. Presenting
//! a secret that *was* valid for a live session means a token was stolen or
//! replayed: the session dies. A secret that never was valid is only refused
//! (the session id is in every access token, so guessing costs nothing and
//! must not let anyone end someone else's session).
//!
//! The set of a user's sessions is extended by every login and every refresh,
//! so it lives as long as the longest of them and "end all sessions" finds
//! each one.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fred::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Key prefix shared with the token verifiers' revocation records.
pub const PREFIX: &str = gleaner_common::auth::REDIS_PREFIX;

/// What happened to a presented refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Valid: here is the user, and the new refresh token.
    Rotated {
        user_id: Uuid,
        sid: String,
        refresh_token: String,
    },
    /// An already-used token: the session has been revoked.
    Reused { user_id: Uuid, sid: String },
    /// Unknown, expired or revoked session, a malformed token, or a secret
    /// that was never issued (the session is left alone).
    Invalid,
}

// KEYS: the session, the prefix of users' session sets.
// ARGV: presented secret hash, next secret hash, TTL, session id.
const ROTATE: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'refresh')
if not cur then return false end
local user = redis.call('HGET', KEYS[1], 'user')
local set = KEYS[2] .. user
if cur == ARGV[1] then
  redis.call('HSET', KEYS[1], 'refresh', ARGV[2], 'used:' .. ARGV[1], 1)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('SADD', set, ARGV[4])
  redis.call('EXPIRE', set, ARGV[3])
  return {'rotated', user}
end
if redis.call('HEXISTS', KEYS[1], 'used:' .. ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', set, ARGV[4])
  return {'reused', user}
end
return {'unknown', user}
"#;

/// The Redis-backed session store.
#[derive(Clone)]
pub struct Sessions {
    redis: Pool,
    ttl: Duration,
}

fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn session_key(sid: &str) -> String {
    format!("{PREFIX}session:{sid}")
}

fn user_sessions_prefix() -> String {
    format!("{PREFIX}user-sessions:")
}

fn user_sessions_key(user: Uuid) -> String {
    format!("{}{user}", user_sessions_prefix())
}

impl Sessions {
    /// A store whose sessions live `ttl` after their last refresh.
    pub fn new(redis: Pool, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    /// Start a session for `user`; returns `(sid, refresh_token)`.
    pub async fn create(&self, user: Uuid) -> Result<(String, String), Error> {
        let sid = Uuid::new_v4().simple().to_string();
        let secret = new_secret();
        let key = session_key(&sid);
        let ttl = self.ttl.as_secs() as i64;
        let tx = self.redis.next().multi();
        let _: () = tx
            .hset(
                &key,
                vec![
                    ("user", user.to_string()),
                    ("refresh", hash_secret(&secret)),
                    ("created_at", chrono::Utc::now().to_rfc3339()),
                ],
            )
            .await?;
        let _: () = tx.expire(&key, ttl, None).await?;
        let _: () = tx.sadd(user_sessions_key(user), &sid).await?;
        let _: () = tx.expire(user_sessions_key(user), ttl, None).await?;
        let _: () = tx.exec(true).await?;
        Ok((sid.clone(), format!("{sid}.{secret}")))
    }

    /// Rotate a presented refresh token.
    pub async fn rotate(&self, token: &str) -> Result<Rotation, Error> {
        let Some((sid, secret)) = token.split_once('.') else {
            return Ok(Rotation::Invalid);
        };
        if sid.len() != 32 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) || secret.is_empty() {
            return Ok(Rotation::Invalid);
        }
        let next = new_secret();
        let result: Value = self
            .redis
            .eval(
                ROTATE,
                vec![session_key(sid), user_sessions_prefix()],
                vec![
                    hash_secret(secret),
                    hash_secret(&next),
                    self.ttl.as_secs().to_string(),
                    sid.to_string(),
                ],
            )
            .await?;
        let parts: Vec<String> = match result {
            Value::Array(items) => items.into_iter().filter_map(|v| v.into_string()).collect(),
            _ => return Ok(Rotation::Invalid),
        };
        let user_id = match parts.get(1).and_then(|u| Uuid::parse_str(u).ok()) {
            Some(u) => u,
            None => return Ok(Rotation::Invalid),
        };
        Ok(match parts.first().map(String::as_str) {
            Some("rotated") => Rotation::Rotated {
                user_id,
                sid: sid.to_string(),
                refresh_token: format!("{sid}.{next}"),
            },
            Some("reused") => Rotation::Reused {
                user_id,
                sid: sid.to_string(),
            },
            _ => Rotation::Invalid,
        })
    }

    /// End one session.
    pub async fn delete(&self, user: Uuid, sid: &str) -> Result<(), Error> {
        let _: () = self.redis.del(session_key(sid)).await?;
        let _: () = self.redis.srem(user_sessions_key(user), sid).await?;
        Ok(())
    }

    /// Ids of `user`'s sessions (some may have expired since).
    pub async fn list(&self, user: Uuid) -> Result<Vec<String>, Error> {
        self.redis.smembers(user_sessions_key(user)).await
    }

    /// End every session of `user` except `keep`; returns the ended ids.
    pub async fn delete_all(&self, user: Uuid, keep: Option<&str>) -> Result<Vec<String>, Error> {
        let sids: Vec<String> = self.redis.smembers(user_sessions_key(user)).await?;
        let ended: Vec<String> = sids
            .into_iter()
            .filter(|s| Some(s.as_str()) != keep)
            .collect();
        for sid in &ended {
            self.delete(user, sid).await?;
        }
        Ok(ended)
    }
}

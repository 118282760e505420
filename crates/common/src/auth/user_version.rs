//! The version of a user's record, kept in Redis beside the revocation records so that a
//! service holding a copy of the record (identity's `GET /users/me`) learns in the same
//! `MGET` whether its copy is still the record.
//!
//! One key per user, `{prefix}user:version:{id}`, holds either
//! - a positive number: the record is settled, and this number names its present
//!   content. Every settled value is drawn at random (63 bits), so a value once replaced
//!   never names the record again, even after the key expired or Redis lost it;
//! - a negative number `-n`: `n` changes of the record are under way;
//! - nothing (never written, expired, or lost): unknown.
//!
//! A writer calls [`Revocations::begin_user_change`] before it changes the row and
//! [`Revocations::end_user_change`] after its transaction ended (committed or not). The
//! last change to end draws a new settled value. A reader may keep a copy of the record
//! under the settled value it read *before* reading the row, and use the copy only while
//! the key still holds that same value: any change that began after that read replaced
//! the value (first with a negative count, then with a fresh random number), so a copy
//! is never used once a change has begun, and a change that began before the read had
//! either ended (its commit is in what the reader read) or made the value negative (the
//! reader keeps nothing). A change whose end was never recorded (Redis unreachable)
//! leaves the count negative until the key expires ([`CHANGE_TTL`]), and an expired or
//! lost key is unknown: in both cases readers read the row every time, never a copy.

use fred::prelude::*;
use uuid::Uuid;

use super::Revocations;

/// How long a key counting changes under way lives: far longer than any change of a
/// user's row takes (a transaction and two Redis round trips). A change whose end was
/// lost with Redis leaves the record uncached for at most this long.
pub const CHANGE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a settled value lives without a change: a copy kept under it is read again
/// once a day at least.
pub const SETTLED_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// A user's record version as read with the revocation records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVersion {
    /// Settled: the record's content is named by this value until the next change begins.
    Settled(u64),
    /// A change of the record is under way (or its end was not recorded).
    Changing,
    /// No version is recorded (never written, expired or lost), or it was not read.
    Unknown,
}

impl UserVersion {
    /// The version read from the key's value.
    pub(super) fn from_value(value: Option<i64>) -> Self {
        match value {
            Some(v) if v > 0 => UserVersion::Settled(v.unsigned_abs()),
            Some(_) => UserVersion::Changing,
            None => UserVersion::Unknown,
        }
    }
}

/// One more change under way: a settled or unknown value becomes -1, -n becomes -(n+1).
const BEGIN_CHANGE: &str = r#"
local v = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local n = -1
if v < 0 then n = v - 1 end
redis.call('SET', KEYS[1], string.format('%d', n), 'EX', ARGV[1])
return n
"#;

/// One change fewer under way; the last one to end draws the new settled value (ARGV[1]).
/// A value that is not negative (the count expired or was lost meanwhile) is replaced by
/// the new settled value too: whatever a reader kept under it may predate this change.
const END_CHANGE: &str = r#"
local v = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if v < -1 then
  redis.call('SET', KEYS[1], string.format('%d', v + 1), 'EX', ARGV[2])
  return v + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// A fresh settled value: 63 random bits, never 0.
fn fresh_version() -> i64 {
    (rand::random::<u64>() >> 1).max(1) as i64
}

impl Revocations {
    /// The key holding `user`'s record version.
    pub(super) fn user_version_key(&self, user: Uuid) -> String {
        format!("{}user:version:{user}", self.prefix)
    }

    /// Record that a change of `user`'s row begins. Call it before the change; if it
    /// fails, do not change the row (copies kept elsewhere would not learn of it).
    pub async fn begin_user_change(&self, user: Uuid) -> Result<(), Error> {
        let _: i64 = self
            .redis
            .eval(
                BEGIN_CHANGE,
                vec![self.user_version_key(user)],
                vec![CHANGE_TTL.as_secs().to_string()],
            )
            .await?;
        Ok(())
    }

    /// Record that a change of `user`'s row begun with
    /// [`begin_user_change`](Self::begin_user_change) has ended (committed, rolled back
    /// or failed). If this fails the version stays "changing" until it expires, so no
    /// copy of the row is used meanwhile.
    pub async fn end_user_change(&self, user: Uuid) -> Result<(), Error> {
        let _: i64 = self
            .redis
            .eval(
                END_CHANGE,
                vec![self.user_version_key(user)],
                vec![
                    fresh_version().to_string(),
                    CHANGE_TTL.as_secs().to_string(),
                    SETTLED_TTL.as_secs().to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Give `user`'s record a settled version if it has none (the key never written,
    /// expired or lost). The row read before this call must not be kept under it: the
    /// next request reads the version, then the row.
    pub async fn settle_user_version(&self, user: Uuid) -> Result<(), Error> {
        self.redis
            .set::<(), _, _>(
                self.user_version_key(user),
                fresh_version(),
                Some(Expiration::EX(SETTLED_TTL.as_secs() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await
    }

    /// `user`'s record version, read alone (outside token verification).
    pub async fn user_version(&self, user: Uuid) -> Result<UserVersion, Error> {
        let value: Option<i64> = self.redis.get(self.user_version_key(user)).await?;
        Ok(UserVersion::from_value(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_versions() {
        assert_eq!(UserVersion::from_value(None), UserVersion::Unknown);
        assert_eq!(UserVersion::from_value(Some(-1)), UserVersion::Changing);
        assert_eq!(UserVersion::from_value(Some(-7)), UserVersion::Changing);
        assert_eq!(UserVersion::from_value(Some(0)), UserVersion::Changing);
        assert_eq!(UserVersion::from_value(Some(42)), UserVersion::Settled(42));
    }

    #[test]
    fn fresh_versions_are_positive() {
        for _ in 0..1000 {
            assert!(fresh_version() > 0);
        }
    }
}

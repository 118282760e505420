//! `GET /users/me` without a PostgreSQL read: the caller's user, as the JSON the
//! endpoint answers, kept under the settled version of the user's record that the
//! token's revocation check read from Redis in the same `MGET`
//! ([`gleaner_common::auth::UserVersion`], where the protocol is described).
//!
//! The copy is exact: every change of a users row (profile, password, role,
//! disablement, deletion) goes through [`changing`], which marks the version "changing"
//! in Redis before the row changes and draws a new random version after the
//! transaction ends, so a copy is used only while the version it was kept under is
//! still the version in Redis, on every replica at once. A change that cannot be
//! marked is not made (503). A row changed behind identity's back (by hand, in SQL) is
//! seen once the settled version is replaced or expires
//! ([`SETTLED_TTL`](gleaner_common::auth::SETTLED_TTL)).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use gleaner_common::auth::{AuthUser, Revocations, UserVersion};
use gleaner_common::{ApiError, ApiResult};
use uuid::Uuid;

use crate::state::AppState;
use crate::users;

/// The most users kept. An entry is the user's JSON (a few hundred bytes), so the map
/// stays under a few MiB; when full it starts again empty.
pub const CAPACITY: usize = 16_384;

/// Users' `GET /users/me` answers by id, each with the record version it was read under.
#[derive(Clone, Default)]
pub struct UserCache {
    entries: Arc<RwLock<HashMap<Uuid, (u64, Bytes)>>>,
}

impl UserCache {
    /// The JSON of `user` if it was kept under `version`.
    fn get(&self, user: Uuid, version: u64) -> Option<Bytes> {
        // A poisoned lock only means a thread panicked holding it; entries are whole.
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&user)
            .filter(|(v, _)| *v == version)
            .map(|(_, json)| json.clone())
    }

    fn insert(&self, user: Uuid, version: u64, json: Bytes) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&user) {
            entries.clear();
        }
        entries.insert(user, (version, json));
    }

    /// How many users are kept.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no user is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The caller's user as `GET /users/me` answers it (JSON): the kept copy when the
/// version read with the token's revocation records is the one it was kept under,
/// else the row, kept for the next request when that version is settled.
pub async fn current_user_json(state: &AppState, auth: &AuthUser) -> ApiResult<Bytes> {
    let id = auth.id();
    let version = auth.user_version();
    if let UserVersion::Settled(v) = version
        && let Some(json) = state.user_cache.get(id, v)
    {
        return Ok(json);
    }
    let row = users::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let json = Bytes::from(serde_json::to_vec(&row.to_user()).map_err(ApiError::internal)?);
    match version {
        // Read after the version: if a change began since, the version is no longer `v`.
        UserVersion::Settled(v) => state.user_cache.insert(id, v, json.clone()),
        UserVersion::Changing => {}
        // Nothing to keep it under; the next request reads a version first.
        UserVersion::Unknown => {
            if let Err(e) = state.revocations.settle_user_version(id).await {
                tracing::debug!(user_id = %id, error = %e, "cannot record a user version");
            }
        }
    }
    Ok(json)
}

/// Run `change`, a change of `user`'s row, marked in Redis as under way from before it
/// starts until after it ends (see the module's description). If the mark cannot be
/// made the change is not made: the Redis error is returned. If the end cannot be
/// recorded the change's result stands; the version stays "changing" (no copy is used)
/// until it expires. If the request is dropped mid-change (the client went away), the
/// end is recorded by a task of its own.
pub async fn changing<T, E, F>(state: &AppState, user: Uuid, change: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<fred::error::Error>,
{
    state.revocations.begin_user_change(user).await?;
    let mut guard = EndOnDrop {
        revocations: Some(state.revocations.clone()),
        user,
    };
    let result = change.await;
    if let Some(revocations) = guard.revocations.take() {
        end_change(revocations, user).await;
    }
    result
}

/// Records the end of a change when dropped before [`changing`] recorded it.
struct EndOnDrop {
    revocations: Option<Revocations>,
    user: Uuid,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if let Some(revocations) = self.revocations.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(end_change(revocations, self.user));
        }
    }
}

async fn end_change(revocations: Revocations, user: Uuid) {
    if let Err(e) = revocations.end_user_change(user).await {
        tracing::warn!(user_id = %user, error = %e,
            "cannot record the end of a user change; the user is read from PostgreSQL until the mark expires");
    }
}

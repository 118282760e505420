//! Token logic: signing access tokens, starting and refreshing login
//! sessions, logout and revocation. Handlers only translate HTTP to these.

use std::sync::Arc;
use std::time::Duration;

use gleaner_common::auth::{ACCESS_TOKEN_TYPE, ALGORITHM, AccessClaims, Role};
use jsonwebtoken::Header;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::keys::KeyRing;
use crate::sessions::Rotation;
use crate::state::AppState;
use crate::users::{self, StoreError, UserRow};

/// Signs access tokens with the current key.
pub struct TokenIssuer {
    keys: Arc<KeyRing>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// A freshly signed access token.
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Its claims.
    pub claims: AccessClaims,
}

impl TokenIssuer {
    /// An issuer for `iss`/`aud` with tokens living `ttl`.
    pub fn new(keys: Arc<KeyRing>, issuer: &str, audience: &str, ttl: Duration) -> Self {
        Self {
            keys,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        }
    }

    /// Access token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Sign an access token for `user` in session `sid`, of the user's
    /// token `generation` (read from the revocation records just before).
    pub fn issue(
        &self,
        user: Uuid,
        role: Role,
        sid: &str,
        generation: u64,
    ) -> anyhow::Result<IssuedToken> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            role,
            jti: Uuid::new_v4().simple().to_string(),
            sid: sid.to_string(),
            generation,
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            typ: ACCESS_TOKEN_TYPE.to_string(),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.keys.current_kid.clone());
        header.typ = Some("at+jwt".to_string());
        let token = jsonwebtoken::encode(&header, &claims, &self.keys.encoding)?;
        Ok(IssuedToken { token, claims })
    }
}

/// An access and refresh token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// EdDSA-signed JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
}

/// Why no token pair was issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenFlowError {
    /// Unknown, expired or revoked session, or a secret never issued.
    #[error("invalid or expired refresh token")]
    InvalidRefresh,
    /// A refresh secret was used a second time: the session is revoked.
    #[error("refresh token reused")]
    Reused {
        /// Whose session it was.
        user_id: Uuid,
    },
    /// The user was deleted or disabled meanwhile.
    #[error("the account is gone or disabled")]
    AccountGone,
    /// The users table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis (sessions, revocations) failed.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// Signing failed.
    #[error("signing: {0:#}")]
    Signing(anyhow::Error),
}

/// The settled user row a token may be issued from, and the generation to
/// put in it. The generation is read first: a revocation landing in between
/// can only make the token too old (refused), never too new.
async fn issuable(state: &AppState, user: Uuid) -> Result<(UserRow, u64), TokenFlowError> {
    let generation = state.revocations.generation(user).await?;
    match users::find_settled(&state.db, user).await? {
        Some(row) if !row.disabled => Ok((row, generation)),
        _ => Err(TokenFlowError::AccountGone),
    }
}

fn pair(
    state: &AppState,
    row: &UserRow,
    generation: u64,
    sid: &str,
    refresh_token: String,
) -> Result<TokenPair, TokenFlowError> {
    let access = state
        .issuer
        .issue(row.id, row.role(), sid, generation)
        .map_err(TokenFlowError::Signing)?;
    state.metrics.token_pair();
    Ok(TokenPair {
        access_token: access.token,
        token_type: "bearer",
        expires_in: state.issuer.ttl().as_secs(),
        refresh_token,
    })
}

/// Start a login session for a user whose password was just checked.
pub async fn start_session(state: &AppState, user: Uuid) -> Result<TokenPair, TokenFlowError> {
    let (row, generation) = issuable(state, user).await?;
    let (sid, refresh_token) = state.sessions.create(row.id).await?;
    pair(state, &row, generation, &sid, refresh_token)
}

/// Trade a refresh token for a new pair; replaying a spent one revokes its session.
pub async fn refresh(state: &AppState, token: &str) -> Result<TokenPair, TokenFlowError> {
    match state.sessions.rotate(token).await? {
        Rotation::Invalid => Err(TokenFlowError::InvalidRefresh),
        Rotation::Reused { user_id, sid } => {
            state
                .revocations
                .revoke_session(&sid, state.issuer.ttl())
                .await?;
            Err(TokenFlowError::Reused { user_id })
        }
        Rotation::Rotated {
            user_id,
            sid,
            refresh_token,
        } => match issuable(state, user_id).await {
            Ok((row, generation)) => pair(state, &row, generation, &sid, refresh_token),
            Err(TokenFlowError::AccountGone) => {
                state.sessions.delete(user_id, &sid).await?;
                Err(TokenFlowError::InvalidRefresh)
            }
            Err(e) => Err(e),
        },
    }
}

/// Revoke this access token (for the rest of its life) and its whole session.
pub async fn logout(state: &AppState, claims: &AccessClaims) -> Result<(), fred::error::Error> {
    let remaining = (claims.exp - chrono::Utc::now().timestamp()).max(1) as u64;
    state
        .revocations
        .revoke_token(&claims.jti, Duration::from_secs(remaining))
        .await?;
    state
        .revocations
        .revoke_session(&claims.sid, state.issuer.ttl())
        .await?;
    state.sessions.delete(claims.sub, &claims.sid).await
}

/// End every session and revoke every token of `user` at once.
pub async fn revoke_everything(state: &AppState, user: Uuid) -> Result<(), fred::error::Error> {
    state
        .revocations
        .revoke_user(user, state.issuer.ttl())
        .await?;
    state.sessions.delete_all(user, None).await?;
    Ok(())
}

/// End every session of `user` but `keep`, and revoke their access tokens;
/// returns how many ended.
pub async fn end_other_sessions(
    state: &AppState,
    user: Uuid,
    keep: &str,
) -> Result<usize, fred::error::Error> {
    let ended: Vec<String> = state
        .sessions
        .list(user)
        .await?
        .into_iter()
        .filter(|sid| sid != keep)
        .collect();
    // Revoke first: if Redis fails halfway, no ended session keeps a live token.
    for sid in &ended {
        state
            .revocations
            .revoke_session(sid, state.issuer.ttl())
            .await?;
        state.sessions.delete(user, sid).await?;
    }
    Ok(ended.len())
}

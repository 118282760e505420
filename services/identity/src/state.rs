//! Shared application state and the token issuer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use fred::clients::Pool;
use gleaner_common::auth::{
    ACCESS_TOKEN_TYPE, ALGORITHM, AccessClaims, Revocations, Role, TokenVerifier,
};
use gleaner_common::outbox::OutboxRelay;
use jsonwebtoken::Header;
use sqlx::PgPool;
use uuid::Uuid;

use crate::keys::KeyRing;
use crate::metrics::IdentityMetrics;
use crate::password::PasswordHasher;
use crate::sessions::Sessions;
use crate::throttle::LoginThrottle;

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

    /// Sign an access token for `user` in session `sid`.
    pub fn issue(&self, user: Uuid, role: Role, sid: &str) -> anyhow::Result<IssuedToken> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            role,
            jti: Uuid::new_v4().simple().to_string(),
            sid: sid.to_string(),
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

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: Pool,
    pub hasher: PasswordHasher,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
    pub revocations: Revocations,
    pub issuer: Arc<TokenIssuer>,
    pub verifier: Arc<TokenVerifier>,
    pub keys: Arc<KeyRing>,
    pub metrics: IdentityMetrics,
    pub relay: OutboxRelay,
    pub trust_forwarded_for: bool,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

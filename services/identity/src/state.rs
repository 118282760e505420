//! Shared application state.

use std::sync::Arc;

use axum::extract::FromRef;
use fred::clients::Pool;
use gleaner_common::auth::{Revocations, TokenVerifier};
use gleaner_common::client_addr::TrustedProxies;
use gleaner_common::outbox::OutboxRelay;
use sqlx::PgPool;

use crate::keys::KeyRing;
use crate::metrics::IdentityMetrics;
use crate::password::PasswordHasher;
use crate::sessions::Sessions;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;
use crate::user_cache::UserCache;

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
    pub trusted_proxies: TrustedProxies,
    /// `GET /users/me` answers kept under their record version.
    pub user_cache: UserCache,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> Self {
        state.trusted_proxies
    }
}

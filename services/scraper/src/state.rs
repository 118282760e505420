//! Shared application state.

use std::sync::Arc;

use axum::extract::FromRef;
use gleaner_common::auth::TokenVerifier;
use gleaner_common::outbox::OutboxRelay;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::Pipeline;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub pipeline: Pipeline,
    pub verifier: Arc<TokenVerifier>,
    pub relay: OutboxRelay,
    /// Background runs, awaited on shutdown.
    pub runs: TaskTracker,
    /// Cancelled on shutdown: running scrapes end as `cancelled`.
    pub stop: CancellationToken,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

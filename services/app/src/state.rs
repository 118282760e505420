//! Shared state of the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use gleaner_common::auth::TokenVerifier;
use gleaner_egress::EgressPolicy;
use sqlx::PgPool;

use crate::jobs::JobBackend;
use crate::scraper::ScraperClient;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The app's database.
    pub db: PgPool,
    /// Where scrape jobs live.
    pub jobs: Arc<dyn JobBackend>,
    /// Where scrape runs may connect: a job's source URLs must be allowed.
    pub scraper_egress: Arc<EgressPolicy>,
    /// The scraper service.
    pub scraper: ScraperClient,
    /// Access-token verifier.
    pub verifier: Arc<TokenVerifier>,
    /// How often run progress is read for Server-Sent Events.
    pub run_events_poll: Duration,
    /// Where webhooks may be sent: a new webhook's URL must be allowed.
    pub webhook_egress: Arc<EgressPolicy>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

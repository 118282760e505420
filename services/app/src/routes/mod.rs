//! The HTTP API: one module per resource, merged here.

pub mod jobs;
pub mod runs;
pub mod watchlist;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gleaner_common::ApiError;
use gleaner_common::auth::{AuthUser, Role, bearer_token};
use gleaner_common::openapi::{BearerAuth, StandardResponses};
use utoipa::OpenApi;

use crate::state::AppState;

/// Every route of the app API.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(jobs::router())
        .merge(runs::router())
        .merge(watchlist::router())
        .merge(crate::webhooks::routes::router())
}

/// An operator (or admin) and the token they called with, which the app passes on to the
/// scraper when it acts for them.
pub struct Operator {
    /// The caller.
    pub user: AuthUser,
    /// Their bearer token.
    pub token: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require(Role::Operator)?;
        let token = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("a bearer access token is required"))?
            .to_owned();
        Ok(Operator { user, token })
    }
}

/// The answers every operation can give (each needs PostgreSQL).
const RESPONSES: StandardResponses = StandardResponses::ALL;

/// The app service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gleaner app", description = "Scrape jobs and runs, run progress, watchlists, notifications and webhooks."),
    paths(
        jobs::create_job, jobs::list_jobs, jobs::get_job, jobs::patch_job, jobs::delete_job, jobs::start_run,
        runs::list_runs, runs::get_run, runs::run_events,
        watchlist::watch, watchlist::unwatch, watchlist::list_watchlist,
        watchlist::list_notifications, watchlist::mark_read,
        crate::webhooks::routes::create_webhook, crate::webhooks::routes::list_webhooks,
        crate::webhooks::routes::delete_webhook, crate::webhooks::routes::list_deliveries,
        crate::webhooks::routes::test_webhook,
    ),
    components(schemas(
        gleaner_common::error::Problem, gleaner_common::error::FieldError,
        crate::jobs::Job, crate::jobs::JobStatus, crate::jobs::LastRun, jobs::CreateJob,
        crate::runs::Run, crate::runs::RunError, crate::runs::RunStatus, crate::runs::Phase,
        crate::watchlist::WatchedCompany, crate::watchlist::Notification, gleaner_common::events::FieldChange,
        watchlist::MarkRead,
        crate::webhooks::Webhook, crate::webhooks::model::CreatedWebhook, crate::webhooks::model::CreateWebhook,
        crate::webhooks::Delivery, crate::webhooks::DeliveryStatus,
    )),
    modifiers(&BearerAuth, &RESPONSES),
    tags((name = "scrape-jobs", description = "Scrape jobs (operator)"),
         (name = "scrape-runs", description = "Scrape runs and their progress (operator)"),
         (name = "watchlist", description = "Watched companies and change notifications"),
         (name = "webhooks", description = "The caller's endpoints that receive their notifications, signed")),
)]
pub struct ApiDoc;

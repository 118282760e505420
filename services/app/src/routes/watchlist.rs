//! A user's watchlist and notifications (any signed-in user; each sees only their own).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use gleaner_common::auth::AuthUser;
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use gleaner_scrapejob::Idno;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::state::AppState;
use crate::watchlist::{self, Notification, WatchedCompany};

/// Routes of the watchlist and notifications.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/watchlist", get(list_watchlist))
        .route("/api/v1/watchlist/{idno}", put(watch).delete(unwatch))
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/notifications/read", post(mark_read))
}

fn idno(raw: &str) -> Result<String, ApiError> {
    Idno::parse(raw)
        .map(|i| i.as_str().to_owned())
        .map_err(|_| ApiError::not_found("no company has this IDNO (13 digits)"))
}

/// Watch a company: its changes become notifications (idempotent).
#[utoipa::path(put, path = "/api/v1/watchlist/{idno}", tag = "watchlist", security(("bearer" = [])),
    params(("idno" = String, Path, description = "The company's IDNO (13 digits)")),
    responses((status = 204), (status = 401, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem)))]
pub async fn watch(
    State(state): State<AppState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let idno = idno(&raw)?;
    // The name is a nicety: the watch is kept when the scraper cannot say it now.
    let name = match state.scraper.company_name(&idno).await {
        Ok(name) => name,
        Err(e) => {
            tracing::debug!(error = %e, "company name unavailable");
            None
        }
    };
    watchlist::watch(&state.db, user.id(), &idno, name.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop watching a company (idempotent).
#[utoipa::path(delete, path = "/api/v1/watchlist/{idno}", tag = "watchlist", security(("bearer" = [])),
    params(("idno" = String, Path, description = "The company's IDNO (13 digits)")),
    responses((status = 204), (status = 401, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem)))]
pub async fn unwatch(
    State(state): State<AppState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let idno = idno(&raw)?;
    watchlist::unwatch(&state.db, user.id(), &idno).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The companies the caller watches, most recently added first.
#[utoipa::path(get, path = "/api/v1/watchlist", tag = "watchlist", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<WatchedCompany>), (status = 401, body = gleaner_common::error::Problem)))]
pub async fn list_watchlist(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<WatchedCompany>>> {
    let page = page.validate()?;
    let (items, total) = watchlist::list(&state.db, user.id(), page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Notification filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationFilter {
    /// Only notifications not yet marked read.
    pub unread: Option<bool>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "watchlist", security(("bearer" = [])), params(NotificationFilter),
    responses((status = 200, body = Page<Notification>), (status = 401, body = gleaner_common::error::Problem)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    user: AuthUser,
    Query(f): Query<NotificationFilter>,
) -> ApiResult<Json<Page<Notification>>> {
    let page = PageParams {
        page: f.page,
        per_page: f.per_page,
    }
    .validate()?;
    let (items, total) = watchlist::notifications(
        &state.db,
        user.id(),
        f.unread.unwrap_or(false),
        page.limit(),
        page.offset(),
    )
    .await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Which notifications to mark read: `{"ids": [...]}` or `{"all": true}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These notifications (others' ids are ignored).
    pub ids: Option<Vec<i64>>,
    /// Every notification of the caller.
    pub all: Option<bool>,
}

/// Mark notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "watchlist", security(("bearer" = [])),
    request_body = MarkRead,
    responses((status = 204), (status = 401, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<MarkRead>,
) -> ApiResult<StatusCode> {
    match (req.ids, req.all) {
        (Some(ids), None | Some(false)) => {
            if ids.len() > 1000 {
                return Err(ApiError::invalid_field("ids", "at most 1000 ids"));
            }
            watchlist::mark_read(&state.db, user.id(), Some(&ids)).await?;
        }
        (None, Some(true)) => {
            watchlist::mark_read(&state.db, user.id(), None).await?;
        }
        _ => {
            return Err(ApiError::invalid_field(
                "ids",
                "give either ids or all: true",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

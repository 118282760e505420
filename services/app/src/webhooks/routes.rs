//! `/api/v1/webhooks`: a user's webhooks and their deliveries (any signed-in user; each
//! sees only their own, another's id is a 404).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use gleaner_common::auth::AuthUser;
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::model::{CreateWebhook, CreatedWebhook, Delivery, Webhook};
use super::{signing, store, target};
use crate::state::AppState;

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 1000;

/// Routes of webhooks.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", post(create_webhook).get(list_webhooks))
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(delete_webhook),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/api/v1/webhooks/{id}/test", post(test_webhook))
}

async fn owned(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Webhook> {
    store::get(&state.db, user.id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such webhook"))
}

/// Register a webhook: the caller's notifications are sent to `url`, signed with the
/// returned secret (shown only here). At most 10 per user.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook),
        (status = 401, body = gleaner_common::error::Problem),
        (status = 409, description = "The caller has 10 webhooks already", body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let url = target::check_url(&state.webhook_egress, &req.url)
        .map_err(|why| ApiError::invalid_field("url", why))?;
    let description = req.description.filter(|d| !d.is_empty());
    if description
        .as_deref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(ApiError::invalid_field(
            "description",
            format!("is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    let secret = signing::new_secret();
    let webhook = store::create(
        &state.db,
        user.id(),
        url.as_str(),
        description.as_deref(),
        &secret,
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict(format!(
            "a user may have at most {} webhooks; delete one first",
            store::MAX_PER_USER
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook,
            secret: secret.expose_secret().to_owned(),
        }),
    ))
}

/// The caller's webhooks, newest first (without their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Webhook>), (status = 401, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<Webhook>>> {
    let page = page.validate()?;
    let (items, total) = store::list(&state.db, user.id(), page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Delete one of the caller's webhooks and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 204), (status = 401, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    if store::delete(&state.db, user.id(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such webhook"))
    }
}

/// A webhook's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), PageParams),
    responses((status = 200, body = Page<Delivery>), (status = 401, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem), (status = 422, body = gleaner_common::error::Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<Delivery>>> {
    let page = page.validate()?;
    let webhook = owned(&state, &user, id).await?;
    let (items, total) =
        store::deliveries(&state.db, webhook.id, page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Send a `webhook.test` event to one of the caller's webhooks; the delivery is returned
/// and shows in its deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 202, body = Delivery), (status = 401, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem),
        (status = 409, description = "The webhook is disabled", body = gleaner_common::error::Problem)))]
pub async fn test_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    let webhook = owned(&state, &user, id).await?;
    if webhook.disabled {
        return Err(ApiError::conflict(
            "the webhook is disabled; delete it and create it again",
        ));
    }
    let delivery = store::enqueue_test(&state.db, &webhook).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

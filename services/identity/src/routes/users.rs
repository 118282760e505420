//! The user's own account, and user administration.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gleaner_common::auth::{AuthUser, Role};
use gleaner_common::client_addr::ClientAddr;
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::collect_errors;
use crate::accounts::{self, AccountError, AdminChange};
use crate::audit;
use crate::domain::{Email, FullName, NewPassword};
use crate::state::AppState;
use crate::user_cache;
use crate::users::{self, User};

/// Routes under `/api/v1/users`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/me", get(me).patch(update_me))
        .route("/api/v1/users/me/password", post(change_password))
        .route("/api/v1/users", get(list_users))
        .route(
            "/api/v1/users/{id}",
            get(get_user).patch(admin_update).delete(delete_user),
        )
}

async fn load(state: &AppState, id: Uuid) -> ApiResult<users::UserRow> {
    users::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = gleaner_common::error::Problem)))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    // The same JSON `Json<User>` writes, kept between requests (`user_cache`).
    let json = user_cache::current_user_json(&state, &auth).await?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json,
    )
        .into_response())
}

/// Profile changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New full name.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub full_name: Option<String>,
    /// New email (unique).
    #[schema(pattern = "^[^\\u0000]*$")]
    pub email: Option<String>,
}

/// Change the caller's name or email.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateMe,
    responses((status = 200, body = User), (status = 409, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<UpdateMe>,
) -> ApiResult<Json<User>> {
    let email = req.email.as_deref().map(Email::parse).transpose();
    let full_name = req.full_name.as_deref().map(FullName::parse).transpose();
    collect_errors([
        email.as_ref().err().cloned(),
        full_name.as_ref().err().cloned(),
    ])?;
    let (Ok(email), Ok(full_name)) = (email, full_name) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validation fell through"
        )));
    };
    let row = user_cache::changing(&state, auth.id(), async {
        users::update_profile(&state.db, auth.id(), email.as_ref(), full_name.as_ref())
            .await
            .map_err(AccountError::from)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(Json(row.to_user()))
}

/// Password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    #[schema(value_type = String, format = Password, pattern = "^[^\\u0000]*$")]
    pub current_password: SecretString,
    /// The new password (same rules as registration).
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub new_password: SecretString,
}

/// Change the caller's password; every other session of theirs ends.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204), (status = 422, body = gleaner_common::error::Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    client: ClientAddr,
    Json(req): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let new = NewPassword::parse(&req.new_password, "new_password")
        .map_err(|e| ApiError::validation(vec![e]))?;
    let ended = accounts::change_password(
        &state,
        auth.id(),
        &auth.claims.sid,
        &req.current_password,
        &new,
    )
    .await?;
    audit::password_changed(auth.id(), &client, ended);
    Ok(StatusCode::NO_CONTENT)
}

/// User list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Substring of username, email or full name.
    #[param(pattern = "^[^\\u0000]*$")]
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// List users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(UserFilter),
    responses((status = 200, body = Page<User>), (status = 403, body = gleaner_common::error::Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(filter): Query<UserFilter>,
) -> ApiResult<Json<Page<User>>> {
    auth.require(Role::Admin)?;
    let page = PageParams {
        page: filter.page,
        per_page: filter.per_page,
    }
    .validate()?;
    let (rows, total) = users::list(&state.db, filter.q.as_deref(), filter.role, page).await?;
    Ok(Json(Page::new(
        rows.iter().map(users::UserRow::to_user).collect(),
        page,
        total,
    )))
}

/// One user (admin, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = User), (status = 403, body = gleaner_common::error::Problem),
        (status = 404, body = gleaner_common::error::Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<User>> {
    if auth.id() != id {
        auth.require(Role::Admin)?;
    }
    Ok(Json(load(&state, id).await?.to_user()))
}

/// Admin changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdate {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
}

/// Change a user's role or disable them (admin). Disabling, or changing the
/// role, revokes every token the user holds at once.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = AdminUpdate,
    responses((status = 200, body = User), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem),
        (status = 409, description = "Would leave no active admin", body = gleaner_common::error::Problem)))]
pub async fn admin_update(
    State(state): State<AppState>,
    auth: AuthUser,
    client: ClientAddr,
    Path(id): Path<Uuid>,
    Json(req): Json<AdminUpdate>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Admin)?;
    let change = AdminChange {
        role: req.role,
        disabled: req.disabled,
    };
    let (before, after) = accounts::administer(&state, id, change).await?;
    if after.role() != before.role() {
        audit::role_changed(id, auth.id(), before.role(), after.role(), &client);
    }
    if after.disabled != before.disabled {
        audit::disabled_changed(id, auth.id(), after.disabled, &client);
    }
    Ok(Json(after.to_user()))
}

/// Delete a user (admin); their tokens die and `user.deleted` is published.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem),
        (status = 409, description = "Would leave no active admin", body = gleaner_common::error::Problem)))]
pub async fn delete_user(
    State(state): State<AppState>,
    auth: AuthUser,
    client: ClientAddr,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    accounts::delete(&state, id).await?;
    audit::user_deleted(id, auth.id(), &client);
    Ok(StatusCode::NO_CONTENT)
}

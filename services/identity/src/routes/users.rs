//! The user's own account, and user administration.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use gleaner_common::auth::{AuthUser, Role};
use gleaner_common::outbox;
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{Email, FullName, NewPassword};
use crate::state::AppState;
use crate::users::{self, OUTBOX_TABLE, User, collect_errors};

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

/// End every session and revoke every token of `user` at once.
pub async fn revoke_everything(state: &AppState, user: Uuid) -> ApiResult<()> {
    let now = chrono::Utc::now().timestamp();
    state
        .revocations
        .revoke_user_until(user, now, state.issuer.ttl())
        .await?;
    state.sessions.delete_all(user, None).await?;
    Ok(())
}

async fn load(state: &AppState, id: Uuid) -> ApiResult<users::UserRow> {
    users::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = gleaner_common::error::Problem)))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<User>> {
    Ok(Json(load(&state, auth.id()).await?.to_user()))
}

/// Profile changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New full name.
    pub full_name: Option<String>,
    /// New email (unique).
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
    let row = users::update_profile(&state.db, auth.id(), email.as_ref(), full_name.as_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(Json(row.to_user()))
}

/// Password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password (same rules as registration).
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Change the caller's password; every other session of theirs ends.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204), (status = 422, body = gleaner_common::error::Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let new = NewPassword::parse(&req.new_password, "new_password")
        .map_err(|e| ApiError::validation(vec![e]))?;
    let user = load(&state, auth.id()).await?;
    let ok = state
        .hasher
        .verify(&req.current_password, Some(&user.password_hash))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        return Err(ApiError::invalid_field(
            "current_password",
            "is not correct",
        ));
    }
    let hash = state
        .hasher
        .hash(new.secret())
        .await
        .map_err(ApiError::internal)?;
    users::update_password(&state.db, user.id, &hash).await?;
    let ended = state
        .sessions
        .delete_all(user.id, Some(&auth.claims.sid))
        .await?;
    for sid in &ended {
        state
            .revocations
            .revoke_session(sid, state.issuer.ttl())
            .await?;
    }
    tracing::info!(user_id = %user.id, sessions_ended = ended.len(), "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// User list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Substring of username, email or full name.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page (≤ 100).
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
    responses((status = 200, body = User), (status = 404, body = gleaner_common::error::Problem),
        (status = 409, description = "Would leave no active admin", body = gleaner_common::error::Problem)))]
pub async fn admin_update(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AdminUpdate>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Admin)?;
    let mut tx = state.db.begin().await?;
    let before = users::find_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let loses_admin = before.role() == Role::Admin
        && !before.disabled
        && (req.role.is_some_and(|r| r != Role::Admin) || req.disabled == Some(true));
    if loses_admin && users::other_active_admins(&mut tx, id).await? == 0 {
        return Err(ApiError::conflict("this would leave no active admin"));
    }
    let after = users::update_admin_fields(&mut tx, id, req.role, req.disabled).await?;
    // Revoke before committing: if Redis is down the change rolls back,
    // so a disabled user never keeps a working token.
    if (after.disabled && !before.disabled) || after.role != before.role {
        revoke_everything(&state, id).await?;
    }
    tx.commit().await?;
    tracing::info!(user_id = %id, by = %auth.id(), role = %after.role, disabled = after.disabled, "user updated by admin");
    Ok(Json(after.to_user()))
}

/// Delete a user (admin); their tokens die and `user.deleted` is published.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204), (status = 404, body = gleaner_common::error::Problem),
        (status = 409, description = "Would leave no active admin", body = gleaner_common::error::Problem)))]
pub async fn delete_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let mut tx = state.db.begin().await?;
    let user = users::find_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if user.role() == Role::Admin
        && !user.disabled
        && users::other_active_admins(&mut tx, id).await? == 0
    {
        return Err(ApiError::conflict("this would leave no active admin"));
    }
    users::delete(&mut tx, id).await?;
    outbox::enqueue(
        &mut tx,
        OUTBOX_TABLE,
        "user.deleted",
        &json!({"id": id, "username": user.username}),
    )
    .await?;
    revoke_everything(&state, id).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %id, by = %auth.id(), "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

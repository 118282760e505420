//! The HTTP API: one module per resource, merged here.

pub mod auth;
pub mod users;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use gleaner_common::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::state::AppState;

/// Every route of the identity API.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(users::router())
        .route("/.well-known/jwks.json", get(jwks))
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set", content_type = "application/json")))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.keys.jwks()),
    )
}

/// The identity service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gleaner identity", description = "Users, roles, tokens and sessions."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout,
        users::me, users::update_me, users::change_password,
        users::list_users, users::get_user, users::admin_update, users::delete_user,
        jwks,
    ),
    components(schemas(
        gleaner_common::error::Problem, gleaner_common::error::FieldError,
        gleaner_common::auth::Role, crate::users::User,
    )),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Registration, login and tokens"),
         (name = "users", description = "Accounts and administration")),
)]
pub struct ApiDoc;

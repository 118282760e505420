//! The HTTP API: one module per resource, merged here.

pub mod auth;
pub mod users;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use gleaner_common::error::POSTGRES;
use gleaner_common::openapi::{BearerAuth, StandardResponses};
use gleaner_common::{ApiError, FieldError};
use utoipa::OpenApi;

use crate::accounts::AccountError;
use crate::password::BUSY_RETRY_AFTER_SECS;
use crate::state::AppState;
use crate::tokens::TokenFlowError;
use crate::users::StoreError;

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

/// The answers every operation can give; the key set is served from memory.
const RESPONSES: StandardResponses = StandardResponses {
    served_from_memory: &["/.well-known/jwks.json"],
};

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
        gleaner_common::auth::Role, crate::users::User, crate::tokens::TokenPair,
    )),
    modifiers(&BearerAuth, &RESPONSES),
    tags((name = "auth", description = "Registration, login and tokens"),
         (name = "users", description = "Accounts and administration")),
)]
pub struct ApiDoc;

/// 422 listing every invalid field, if any.
pub fn collect_errors<I>(results: I) -> Result<(), ApiError>
where
    I: IntoIterator<Item = Option<FieldError>>,
{
    let errors: Vec<FieldError> = results.into_iter().flatten().collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// 503 with `Retry-After`: the password hashing queue is full.
pub fn hashing_busy() -> ApiError {
    ApiError::unavailable("password hashing", anyhow::anyhow!("hash queue full"))
        .with_retry_after(BUSY_RETRY_AFTER_SECS)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateEmail | StoreError::DuplicateUsername => {
                ApiError::conflict(e.to_string())
            }
            StoreError::Unavailable(cause) => ApiError::unavailable(POSTGRES, cause),
            StoreError::Database(cause) => ApiError::internal(cause),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::DuplicateEmail | AccountError::DuplicateUsername => {
                ApiError::conflict(e.to_string())
            }
            AccountError::NotFound => ApiError::not_found(e.to_string()),
            AccountError::LastAdmin => ApiError::conflict(e.to_string()),
            AccountError::WrongPassword => {
                ApiError::invalid_field("current_password", "is not correct")
            }
            AccountError::Busy => hashing_busy(),
            AccountError::DatabaseUnavailable(cause) => ApiError::unavailable(POSTGRES, cause),
            AccountError::RedisUnavailable(cause) => ApiError::from(cause),
            AccountError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<TokenFlowError> for ApiError {
    fn from(e: TokenFlowError) -> Self {
        match e {
            TokenFlowError::InvalidRefresh | TokenFlowError::AccountGone => {
                ApiError::unauthorized("invalid or expired refresh token")
            }
            TokenFlowError::Reused { .. } => ApiError::unauthorized(
                "this refresh token was already used; the session has been revoked",
            ),
            TokenFlowError::Store(e) => e.into(),
            TokenFlowError::Redis(cause) => ApiError::from(cause),
            TokenFlowError::Signing(cause) => ApiError::internal(cause),
        }
    }
}

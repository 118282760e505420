//! Registration, login, refresh, logout.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use gleaner_common::auth::{AuthUser, Role};
use gleaner_common::client_addr::ClientAddr;
use gleaner_common::extract::{
    body_rejection, has_form_content_type, has_json_content_type, parse_json,
};
use gleaner_common::{ApiError, ApiResult, Json};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{collect_errors, hashing_busy};
use crate::accounts::{self, NewAccount};
use crate::audit;
use crate::domain::{Email, FullName, NewPassword, Username};
use crate::password::HashError;
use crate::state::AppState;
use crate::throttle::Refusal;
use crate::tokens::{self, TokenFlowError, TokenPair};
use crate::users::{self, User};

/// Routes under `/api/v1/auth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
}

/// Registration request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address (unique, case-insensitive).
    #[schema(pattern = "^[^\\u0000]*$")]
    pub email: String,
    /// 3 to 32 letters, digits, `_`, `.` or `-`; unique (case-insensitive).
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// 8 to 1024 characters, not a common password.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub password: SecretString,
    /// Full name.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub full_name: Option<String>,
}

/// Register a new user (role `user`).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Email or username taken", body = gleaner_common::error::Problem),
        (status = 422, description = "Invalid field", body = gleaner_common::error::Problem),
        (status = 429, description = "Too many registrations from this address (Retry-After)", body = gleaner_common::error::Problem),
        (status = 503, description = "Password hashing saturated (Retry-After)", body = gleaner_common::error::Problem),
    ))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    // Counted before validation: invalid attempts cost the client too. The
    // limit is skipped, not enforced, while Redis is down: registration
    // needs only PostgreSQL, and hashing stays bounded by its queue.
    match state.throttle.registration(&client).await {
        Ok(None) => {}
        Ok(Some(wait)) => {
            audit::registration_throttled(&client, wait);
            return Err(ApiError::too_many_requests(
                wait,
                "too many registrations from this address; try again later",
            ));
        }
        Err(e) => tracing::warn!(error = %e, "registration rate limit unavailable; not applied"),
    }
    let email = Email::parse(&req.email);
    let username = Username::parse(&req.username);
    let full_name = req.full_name.as_deref().map(FullName::parse).transpose();
    let password = NewPassword::parse(&req.password, "password");
    collect_errors([
        email.as_ref().err().cloned(),
        username.as_ref().err().cloned(),
        full_name.as_ref().err().cloned(),
        password.as_ref().err().cloned(),
    ])?;
    let (Ok(email), Ok(username), Ok(full_name), Ok(password)) =
        (email, username, full_name, password)
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validation fell through"
        )));
    };
    let user = accounts::create(
        &state,
        NewAccount {
            email: &email,
            username: &username,
            full_name: full_name.as_ref(),
            role: Role::User,
            password: &password,
        },
    )
    .await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    ))
}

/// JSON login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password, pattern = "^[^\\u0000]*$")]
    pub password: SecretString,
}

/// OAuth2 password-grant form (RFC 6749 §4.3); extra OAuth2 fields are ignored.
#[derive(Debug, Deserialize)]
struct LoginForm {
    grant_type: Option<String>,
    username: String,
    password: SecretString,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid username or password")
}

fn parse_login(headers: &HeaderMap, body: &[u8]) -> ApiResult<LoginRequest> {
    if has_json_content_type(headers) {
        return parse_json(body);
    }
    if has_form_content_type(headers) {
        let form: LoginForm = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::invalid_field("form", e.to_string()))?;
        // No text column can store a NUL character.
        if form.username.contains('\0') {
            return Err(ApiError::invalid_field(
                "username",
                "must not contain NUL characters",
            ));
        }
        if form.grant_type.as_deref().is_some_and(|g| g != "password") {
            return Err(ApiError::bad_request(
                "unsupported grant_type: only \"password\" is accepted",
            ));
        }
        return Ok(LoginRequest {
            username: form.username,
            password: form.password,
        });
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "expected application/json or application/x-www-form-urlencoded",
    ))
}

/// Token responses must never be stored by a cache (RFC 6749 §5.1).
const NO_STORE: [(HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

/// Log in with a username (or email) and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Invalid credentials", body = gleaner_common::error::Problem),
        (status = 429, description = "Too many failed logins, or too many logins from this address (Retry-After)", body = gleaner_common::error::Problem),
        (status = 503, description = "Password hashing saturated (Retry-After)", body = gleaner_common::error::Problem),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = body.map_err(body_rejection)?;
    let req = parse_login(&headers, &body)?;
    let account = req.username.trim().to_lowercase();
    if account.is_empty() || account.len() > 254 {
        return Err(invalid_credentials());
    }
    let reservation = match state.throttle.reserve(&account, &client).await? {
        Ok(reservation) => reservation,
        Err(refusal) => {
            state.metrics.login("throttled");
            audit::login_throttled(&account, &client, refusal.scope(), refusal.retry_after());
            let detail = match refusal {
                Refusal::Rate { .. } => "too many logins from this address; try again later",
                Refusal::Account { .. } | Refusal::Address { .. } => {
                    "too many failed logins; try again later"
                }
            };
            return Err(ApiError::too_many_requests(refusal.retry_after(), detail));
        }
    };
    let user = match users::find_by_login(&state.db, &account).await {
        Ok(user) => user,
        Err(e) => {
            // An outage is not a failed login: give the attempt back.
            state.throttle.release(reservation).await?;
            return Err(e.into());
        }
    };
    let ok = match state
        .hasher
        .verify(
            &req.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await
    {
        Ok(ok) => ok,
        Err(HashError::Busy) => {
            // Not checked, so not a failure.
            state.throttle.release(reservation).await?;
            state.metrics.login("busy");
            return Err(hashing_busy());
        }
        Err(HashError::Failed(e)) => return Err(ApiError::internal(e)),
    };
    let user = match user {
        Some(user) if ok && !user.disabled => user,
        Some(user) if ok => {
            state.metrics.login("disabled");
            audit::login_failed(&account, &client, "disabled");
            tracing::debug!(user_id = %user.id, "disabled user refused");
            return Err(invalid_credentials());
        }
        _ => {
            state.metrics.login("invalid_credentials");
            audit::login_failed(&account, &client, "invalid_credentials");
            return Err(invalid_credentials());
        }
    };
    let pair = match tokens::start_session(&state, user.id).await {
        Ok(pair) => pair,
        Err(TokenFlowError::AccountGone) => {
            state.metrics.login("disabled");
            audit::login_failed(&account, &client, "disabled");
            return Err(invalid_credentials());
        }
        Err(e) => return Err(e.into()),
    };
    state.throttle.release(reservation).await?;
    state.metrics.login("success");
    tracing::info!(user_id = %user.id, client = %client, "login");
    Ok((NO_STORE, Json(pair)))
}

/// Refresh request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub refresh_token: String,
}

/// Trade a refresh token for a new pair; the old refresh token is spent.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New pair", body = TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token", body = gleaner_common::error::Problem),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<impl IntoResponse> {
    match tokens::refresh(&state, &req.refresh_token).await {
        Ok(pair) => Ok((NO_STORE, Json(pair))),
        Err(TokenFlowError::Reused { user_id }) => {
            audit::refresh_reused(user_id, &client);
            Err(TokenFlowError::Reused { user_id }.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Revoke the current access token and its login session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not authenticated", body = gleaner_common::error::Problem),
    ))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<StatusCode> {
    tokens::logout(&state, &auth.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

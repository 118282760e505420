//! Registration, login, refresh, logout.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use gleaner_common::auth::{AuthUser, Role};
use gleaner_common::extract::{
    body_rejection, has_form_content_type, has_json_content_type, parse_json,
};
use gleaner_common::outbox;
use gleaner_common::{ApiError, ApiResult, Json};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::{Email, FullName, NewPassword, Username};
use crate::sessions::Rotation;
use crate::state::AppState;
use crate::users::{self, NewUser, OUTBOX_TABLE, User, collect_errors};

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
    pub email: String,
    /// `^[A-Za-z0-9_.-]{3,32}$`, unique (case-insensitive).
    pub username: String,
    /// 8 to 1024 characters, not a common password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Full name.
    pub full_name: Option<String>,
}

/// Insert a user and its `user.created` event in one transaction.
pub async fn create_user(
    state: &AppState,
    email: &Email,
    username: &Username,
    full_name: Option<&FullName>,
    role: Role,
    password: &NewPassword,
) -> ApiResult<User> {
    let hash = state
        .hasher
        .hash(password.secret())
        .await
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let row = users::insert(
        &mut tx,
        &NewUser {
            email,
            username,
            full_name,
            role,
            password_hash: &hash,
        },
    )
    .await?;
    let user = row.to_user();
    outbox::enqueue(
        &mut tx,
        OUTBOX_TABLE,
        "user.created",
        &json!({"id": user.id, "email": user.email, "username": user.username, "role": user.role}),
    )
    .await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %user.id, role = role.as_str(), "user created");
    Ok(user)
}

/// Register a new user (role `user`).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Email or username taken", body = gleaner_common::error::Problem),
        (status = 422, description = "Invalid field", body = gleaner_common::error::Problem),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
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
    let user = create_user(
        &state,
        &email,
        &username,
        full_name.as_ref(),
        Role::User,
        &password,
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
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// OAuth2 password-grant form (RFC 6749 §4.3); extra OAuth2 fields are ignored.
#[derive(Debug, Deserialize)]
struct LoginForm {
    grant_type: Option<String>,
    username: String,
    password: SecretString,
}

/// An access and refresh token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// EdDSA-signed JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when trusted.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientAddr(ip.to_string()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        Ok(ClientAddr(peer))
    }
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

async fn issue_pair(
    state: &AppState,
    user: &users::UserRow,
    sid: &str,
    refresh_token: String,
) -> ApiResult<TokenPair> {
    let access = state
        .issuer
        .issue(user.id, user.role(), sid)
        .map_err(ApiError::internal)?;
    state.metrics.token_pair();
    Ok(TokenPair {
        access_token: access.token,
        token_type: "bearer",
        expires_in: state.issuer.ttl().as_secs(),
        refresh_token,
    })
}

/// Log in with a username (or email) and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Invalid credentials", body = gleaner_common::error::Problem),
        (status = 429, description = "Too many failed logins", body = gleaner_common::error::Problem),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<TokenPair>> {
    let body = body.map_err(body_rejection)?;
    let req = parse_login(&headers, &body)?;
    let account = req.username.trim().to_lowercase();
    if account.is_empty() || account.len() > 254 {
        return Err(invalid_credentials());
    }
    if let Some(wait) = state.throttle.check(&account, &address).await? {
        state.metrics.login("throttled");
        return Err(ApiError::too_many_requests(
            wait,
            "too many failed logins; try again later",
        ));
    }
    let user = users::find_by_login(&state.db, &account).await?;
    let ok = state
        .hasher
        .verify(
            &req.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(user) if ok => user,
        _ => {
            state.throttle.record_failure(&account, &address).await?;
            state.metrics.login("invalid_credentials");
            return Err(invalid_credentials());
        }
    };
    if user.disabled {
        state.metrics.login("disabled");
        return Err(invalid_credentials());
    }
    state.throttle.record_success(&account).await?;
    let (sid, refresh_token) = state.sessions.create(user.id).await?;
    let pair = issue_pair(&state, &user, &sid, refresh_token).await?;
    state.metrics.login("success");
    tracing::info!(user_id = %user.id, "login");
    Ok(Json(pair))
}

/// Refresh request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
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
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    match state.sessions.rotate(&req.refresh_token).await? {
        Rotation::Invalid => Err(ApiError::unauthorized("invalid or expired refresh token")),
        Rotation::Reused { user_id, sid } => {
            state
                .revocations
                .revoke_session(&sid, state.issuer.ttl())
                .await?;
            tracing::warn!(user_id = %user_id, session = %sid, "refresh token reuse: session revoked");
            Err(ApiError::unauthorized(
                "this refresh token was already used; the session has been revoked",
            ))
        }
        Rotation::Rotated {
            user_id,
            sid,
            refresh_token,
        } => {
            let user = users::find(&state.db, user_id).await?;
            match user {
                Some(user) if !user.disabled => {
                    Ok(Json(issue_pair(&state, &user, &sid, refresh_token).await?))
                }
                _ => {
                    state.sessions.delete(user_id, &sid).await?;
                    Err(ApiError::unauthorized("invalid or expired refresh token"))
                }
            }
        }
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
    let remaining = (auth.claims.exp - chrono::Utc::now().timestamp()).max(1) as u64;
    state
        .revocations
        .revoke_token(&auth.claims.jti, std::time::Duration::from_secs(remaining))
        .await?;
    state
        .revocations
        .revoke_session(&auth.claims.sid, state.issuer.ttl())
        .await?;
    state.sessions.delete(auth.id(), &auth.claims.sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

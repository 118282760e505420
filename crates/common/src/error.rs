//! RFC 9457 problem details: the one error type every handler returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

use crate::request_context;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How a 503 names PostgreSQL.
pub const POSTGRES: &str = "PostgreSQL";
/// How a 503 names Redis.
pub const REDIS: &str = "Redis";

/// One invalid field of a request: the one definition, shared with spec validation.
pub use gleaner_scrapejob::FieldError;

/// The problem+json body, as documented in the OpenAPI specs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// The request path that failed.
    pub instance: String,
    /// The request id (also in `X-Request-Id`).
    pub request_id: String,
    /// Invalid fields, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error a handler returns; rendered as problem+json by `IntoResponse`.
///
/// The `internal` source is logged once and never sent to the client.
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    internal: Option<anyhow::Error>,
}

/// Result alias for handlers.
pub type ApiResult<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// An error with a status and a client-facing detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            internal: None,
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: missing, invalid, expired or revoked credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409: conflicts with the current state (duplicates).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 with the invalid fields listed.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
    }

    /// 422 for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 429 with a `Retry-After` in seconds.
    pub fn too_many_requests(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    /// 503: a dependency is down. The cause is logged, not returned.
    pub fn unavailable(dependency: &str, cause: impl Into<anyhow::Error>) -> Self {
        Self {
            internal: Some(cause.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{dependency} is unavailable, try again later"),
            )
        }
    }

    /// 500: an unexpected fault. The cause is logged, not returned.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            internal: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "an unexpected error occurred",
            )
        }
    }

    /// The same error with a `Retry-After` in seconds (a 503 whose end is known).
    pub fn with_retry_after(mut self, retry_after_secs: u64) -> Self {
        self.retry_after = Some(retry_after_secs.max(1));
        self
    }

    /// The HTTP status this error renders with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The field errors, if any.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.detail)?;
        if let Some(cause) = &self.internal {
            write!(f, ": {cause:#}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            Self::unavailable(POSTGRES, e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<fred::error::Error> for ApiError {
    fn from(e: fred::error::Error) -> Self {
        Self::unavailable(REDIS, e)
    }
}

/// Title for a status: the standard reason phrase.
fn title_for(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ctx = request_context::current();
        if let Some(cause) = &self.internal {
            if self.status.is_server_error() {
                tracing::error!(status = self.status.as_u16(), error = %format!("{cause:#}"), "request failed");
            } else {
                tracing::warn!(status = self.status.as_u16(), error = %format!("{cause:#}"), "request failed");
            }
        }
        let problem = Problem {
            kind: format!(
                "https://gleaner.dev/problems/{}",
                title_for(self.status)
                    .to_ascii_lowercase()
                    .replace(' ', "-")
            ),
            title: title_for(self.status).to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            instance: ctx.as_ref().map(|c| c.path.clone()).unwrap_or_default(),
            request_id: ctx.map(|c| c.request_id).unwrap_or_default(),
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read, so the connection cannot carry
            // another request. Saying so keeps a client from reusing it and
            // meeting a broken pipe on its next request (RFC 9112 §9.6).
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Router fallback: unknown paths are problem+json 404s.
pub async fn not_found_fallback() -> ApiError {
    ApiError::not_found("no such resource")
}

/// Method-not-allowed fallback with the same body shape.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this resource",
    )
}

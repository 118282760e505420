//! Extractors whose rejections are problem+json `ApiError`s.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// JSON body extractor (and response) with problem+json rejections:
/// 415 without a JSON content type, 400 for malformed JSON, 422 naming the
/// field for unknown, missing or mistyped fields, 413 over the body limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Whether the request says its body is JSON (`application/json` or `+json`).
pub fn has_json_content_type(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|essence| {
        essence.eq_ignore_ascii_case("application/json")
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    })
}

/// Whether the request body is an HTML form.
pub fn has_form_content_type(headers: &HeaderMap) -> bool {
    media_type(headers)
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The media type of a `Content-Type` (request or response) without its parameters:
/// `text/event-stream` for `text/event-stream; charset=utf-8`.
pub fn media_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').next().map(str::trim)
}

/// Map a body-reading failure: over the limit is 413, the rest 400.
pub fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
    } else {
        ApiError::bad_request("the request body could not be read")
    }
}

/// Deserialize JSON bytes, turning serde's error into a 400 or a 422 that names the field.
/// A string holding a NUL character (`\u0000`) is a 422 too: no text column can store one.
/// Every request body is a JSON object; serde would also read a struct from an array.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_json_unchecked(bytes)?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    }
    if has_escaped_nul(bytes) {
        let field = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| nul_path(&v, String::new()))
            .unwrap_or_default();
        return Err(nul_error(field));
    }
    Ok(value)
}

/// 422: a NUL character in a field.
fn nul_error(field: String) -> ApiError {
    ApiError::validation(vec![FieldError::new(
        field,
        "must not contain NUL characters",
    )])
}

/// Whether JSON text has a `\u0000` escape (an escaped backslash before `u0000` is not one).
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The path (`a.b[0]`) of the first string, or object key, holding a NUL character.
fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then_some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{at}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(v, here)
            }
        }),
        _ => None,
    }
}

fn parse_json_unchecked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("malformed JSON: {inner}"))
            }
            Category::Data => {
                let message = strip_position(&inner.to_string());
                let field = if path == "." {
                    unknown_field_name(&message).unwrap_or_default()
                } else {
                    path
                };
                ApiError::validation(vec![FieldError::new(field, message)])
            }
        }
    })
}

/// serde_json appends " at line 1 column 9"; clients don't need it.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The field serde names in an error about the whole object (unknown, repeated or
/// missing), whose path is the object's, not the field's.
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = ["unknown field `", "duplicate field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))?;
    Some(rest.split('`').next()?.to_string())
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request body with content type application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor: invalid parameters are 422 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        // No text column can store a NUL character.
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_error(name.into_owned()));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let field = err.path().to_string();
                let message = err.into_inner().to_string();
                let field = if field == "." {
                    unknown_field_name(&message).unwrap_or_default()
                } else {
                    field
                };
                ApiError::validation(vec![FieldError::new(field, message)])
            })
    }
}

/// Path extractor: a path that does not parse names no resource, so 404.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A NUL character names nothing a database can hold.
        if parts.uri.path().contains("%00") {
            return Err(ApiError::not_found("no such resource"));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::not_found("no such resource"))
            }
            Err(other) => Err(ApiError::internal(anyhow::anyhow!(
                "path extraction: {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn a_nul_character_in_a_string_is_422_naming_the_field() {
        let err = parse_json::<Body>(br#"{"name":"a\u0000b"}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "name");
        // An escaped backslash followed by "u0000" is text, not a NUL.
        let ok = parse_json::<Body>(br#"{"name":"a\\u0000b"}"#).unwrap();
        assert_eq!(ok.name, "a\\u0000b");
        assert_eq!(
            nul_path(
                &serde_json::json!({"a": [1, {"b": "x\u{0}"}]}),
                String::new()
            )
            .as_deref(),
            Some("a[1].b")
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_422() {
        let err = parse_json::<Body>(br#" ["a", null]"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse_json::<Body>(br#" {"name": "a"}"#).is_ok());
    }

    #[test]
    fn malformed_json_is_400() {
        let err = parse_json::<Body>(b"{\"name\":").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn unknown_field_is_422_naming_it() {
        let err = parse_json::<Body>(br#"{"name":"a","evil":1}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "evil");
    }

    #[test]
    fn nested_type_error_names_path() {
        let err = parse_json::<Body>(br#"{"name":"a","inner":{"n":999}}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "inner.n");
    }

    #[test]
    fn missing_field_is_422() {
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.field_errors()[0].message.contains("name"));
        assert_eq!(err.field_errors()[0].field, "name");
    }

    #[test]
    fn repeated_field_is_422_naming_it() {
        let err = parse_json::<Body>(br#"{"name":"a","name":"b"}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "name");
    }
}

//! Conditional requests: ETag and Last-Modified on every document, and 304 when the
//! request's validators match.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

/// `HTTP-date` (RFC 9110), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: NaiveDateTime) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc2822(s)
                .ok()
                .map(|d| d.naive_utc())
        })
}

/// The strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// A 200 with ETag and Last-Modified, or a 304 when the request's validators match
/// (`If-None-Match` wins over `If-Modified-Since`, as RFC 9110 says).
pub(crate) fn conditional(
    headers: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    last_modified: NaiveDateTime,
) -> Response {
    let etag = etag_of(&body);
    let lm = http_date(last_modified);
    let not_modified = if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        inm.to_str().is_ok_and(|v| etag_matches(v, &etag))
    } else if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    {
        last_modified <= ims
    } else {
        false
    };
    let validators = [(header::ETAG, etag), (header::LAST_MODIFIED, lm)];
    if not_modified {
        (StatusCode::NOT_MODIFIED, validators).into_response()
    } else {
        (
            StatusCode::OK,
            validators,
            [(header::CONTENT_TYPE, content_type)],
            body,
        )
            .into_response()
    }
}

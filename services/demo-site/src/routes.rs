//! The routes: the openmoney JSON API (company list, company detail, financials), the
//! HTML company pages, robots.txt and the health checks.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Value, json};

use crate::conditional::conditional;
use crate::control::DemoControl;
use crate::data::DemoCompany;
use crate::faults::faults_and_log;
use crate::render;

/// Largest accepted `size` of a list page.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Build the site's router over `control`.
pub fn router(control: DemoControl) -> Router {
    Router::new()
        .route("/api/companies", get(list_companies))
        .route("/api/companies/{idno}", get(company_json))
        .route("/api/fin-data-v1/{idno}", get(financials_json))
        .route("/companies/{idno}", get(company_html))
        .route("/robots.txt", get(robots_txt))
        .route("/health", get(health))
        .route("/ready", get(health))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            control.clone(),
            faults_and_log,
        ))
        .with_state(control)
}
const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Last-Modified of documents that are not one company's (lists, robots.txt).
fn fixed_date() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// A JSON `{"message": text}` answer with `status`.
pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, JSON)],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

fn not_found_json() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

async fn not_found() -> Response {
    not_found_json()
}

async fn list_companies(
    State(ctl): State<DemoControl>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        match serde_urlencoded::from_str(query.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(_) => return message(StatusCode::BAD_REQUEST, "Malformed query string"),
        };
    let mut page: u64 = 1;
    let mut size: u64 = 20;
    for (k, v) in pairs {
        match k.as_str() {
            "page" => match v.trim().parse::<u64>() {
                Ok(p) if p >= 1 => page = p,
                _ => return message(StatusCode::BAD_REQUEST, "page must be an integer >= 1"),
            },
            "size" => match v.trim().parse::<u64>() {
                Ok(s) if (1..=MAX_PAGE_SIZE).contains(&s) => size = s,
                _ => {
                    return message(
                        StatusCode::BAD_REQUEST,
                        "size must be an integer between 1 and 100",
                    );
                }
            },
            _ => {}
        }
    }
    let (body, last_modified) = {
        let data = ctl.read();
        let total = data.total();
        let items = match (page - 1).checked_mul(size) {
            Some(start) => data.listed(start, size),
            None => Vec::new(),
        };
        // Fixed, unless a company on this page was changed later.
        let last_modified = items
            .iter()
            .map(|c| c.revision_date)
            .fold(fixed_date(), NaiveDateTime::max);
        let body = json!({
            "data": items.iter().map(|c| render::api_summary(c)).collect::<Vec<Value>>(),
            "totalItemCount": total,
            "page": page,
            "size": size,
        });
        (body.to_string().into_bytes(), last_modified)
    };
    conditional(&headers, JSON, body, last_modified)
}

fn is_idno(s: &str) -> bool {
    s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON API document of one company, unless the company is unknown or its
/// API answer has been switched off with `api_missing`.
fn api_document(
    ctl: &DemoControl,
    idno: &str,
    headers: &HeaderMap,
    render: fn(&DemoCompany) -> Value,
) -> Response {
    let found = {
        let data = ctl.read();
        if !is_idno(idno) || data.api_missing.contains(idno) {
            None
        } else {
            data.get(idno)
                .map(|c| (render(&c).to_string(), c.revision_date))
        }
    };
    match found {
        Some((body, lm)) => conditional(headers, JSON, body.into_bytes(), lm),
        None => not_found_json(),
    }
}

async fn company_json(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    api_document(&ctl, &idno, &headers, render::api_company)
}

async fn financials_json(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    api_document(&ctl, &idno, &headers, render::api_financials)
}

async fn company_html(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = {
        let data = ctl.read();
        data.get(&idno)
            .map(|c| (render::html_company(&c), c.revision_date))
    };
    match found {
        Some((body, lm)) => conditional(&headers, HTML, body.into_bytes(), lm),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, HTML)],
            render::html_not_found(),
        )
            .into_response(),
    }
}

async fn robots_txt(State(ctl): State<DemoControl>, headers: HeaderMap) -> Response {
    let body = ctl.read().robots_txt.clone();
    conditional(&headers, TEXT, body.into_bytes(), fixed_date())
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, JSON)],
        json!({"status": "ok"}).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;

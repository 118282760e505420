//! Bulk exports (`/api/v1/exports`): the whole registry in one download.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gleaner_common::auth::AuthUser;
use gleaner_common::{ApiResult, Query};
use serde::Deserialize;
use tower_http::compression::CompressionLayer;
use utoipa::IntoParams;

use crate::export::{Export, Format};
use crate::state::AppState;

/// Routes of the exports API. Responses are gzip-compressed when the client
/// accepts it (`Accept-Encoding: gzip`), still streamed.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/exports/companies",
        get(companies).layer(CompressionLayer::new()),
    )
}

/// Export parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `ndjson` (one company JSON with its `financials` per line), `csv` (RFC 4180,
    /// header row, one company per row) or `ftm` (FollowTheMoney entities, one JSON
    /// object per line).
    #[param(inline)]
    pub format: Format,
}

/// The whole registry as one file, streamed from one consistent snapshot (any signed-in user).
#[utoipa::path(get, path = "/api/v1/exports/companies", tag = "exports", security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The export, streamed (gzip with `Accept-Encoding: gzip`): \
            `ndjson` and `ftm` as `application/x-ndjson`, `csv` as `text/csv; charset=utf-8`. \
            A failure midway cuts the transfer instead of ending the file.",
            headers(("content-disposition" = String, description = "`attachment; filename=\"companies.ndjson\"` (`.csv`, `.ftm.json`)")),
            content(
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        (status = 401, description = "No valid access token", body = gleaner_common::error::Problem),
        (status = 422, description = "`format` missing or not one of `ndjson`, `csv`, `ftm`", body = gleaner_common::error::Problem),
    ))]
pub async fn companies(
    State(state): State<AppState>,
    _caller: AuthUser,
    Query(p): Query<ExportParams>,
) -> ApiResult<Response> {
    let export = Export::begin(&state.db, p.format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, p.format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", p.format.file_name()),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff".to_owned(),
            ),
        ],
        export.into_body(),
    )
        .into_response())
}

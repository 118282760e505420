//! Scrape jobs (docs/app.md), for operators and admins.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Operator;
use crate::jobs::{Job, name_errors, parse_spec};
use crate::state::AppState;

/// Routes of scrape jobs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scrape-jobs", post(create_job).get(list_jobs))
        .route(
            "/api/v1/scrape-jobs/{name}",
            get(get_job).patch(patch_job).delete(delete_job),
        )
        .route("/api/v1/scrape-jobs/{name}/runs", post(start_run))
}

/// A new scrape job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// Unique name: lowercase letters, digits and '-', at most 63 characters.
    pub name: String,
    /// What and how to scrape, as the ScrapeJob resource's spec (camelCase).
    #[schema(value_type = Object)]
    pub spec: Value,
}

/// Create a scrape job; one without schedule starts its run now (operator).
#[utoipa::path(post, path = "/api/v1/scrape-jobs", tag = "scrape-jobs", security(("bearer" = [])),
    request_body = CreateJob,
    responses((status = 201, body = Job), (status = 401, body = gleaner_common::error::Problem),
        (status = 403, body = gleaner_common::error::Problem), (status = 409, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn create_job(
    State(state): State<AppState>,
    op: Operator,
    Json(req): Json<CreateJob>,
) -> ApiResult<impl IntoResponse> {
    let mut errors = name_errors(&req.name);
    let spec = match parse_spec(req.spec, &state.scraper_egress) {
        Ok(spec) => Some(spec),
        Err(more) => {
            errors.extend(more);
            None
        }
    };
    let Some(spec) = spec.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let job = state.jobs.create(&req.name, spec, &op.token).await?;
    let location = format!("/api/v1/scrape-jobs/{}", job.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(job),
    ))
}

/// Scrape jobs, by name (operator).
#[utoipa::path(get, path = "/api/v1/scrape-jobs", tag = "scrape-jobs", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Job>), (status = 401, body = gleaner_common::error::Problem),
        (status = 403, body = gleaner_common::error::Problem)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    _op: Operator,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<Job>>> {
    let page = page.validate()?;
    let (items, total) = state.jobs.list(page).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// One scrape job (operator).
#[utoipa::path(get, path = "/api/v1/scrape-jobs/{name}", tag = "scrape-jobs", security(("bearer" = [])),
    params(("name" = String, Path, description = "Job name")),
    responses((status = 200, body = Job), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn get_job(
    State(state): State<AppState>,
    _op: Operator,
    Path(name): Path<String>,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.jobs.get(&name).await?))
}

/// Change part of a job's spec, e.g. `{"suspend": true}` (a JSON merge patch of the spec;
/// `null` removes an optional field such as `schedule`) (operator).
#[utoipa::path(patch, path = "/api/v1/scrape-jobs/{name}", tag = "scrape-jobs", security(("bearer" = [])),
    params(("name" = String, Path, description = "Job name")),
    request_body(content = Object, description = "Spec fields to change"),
    responses((status = 200, body = Job), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn patch_job(
    State(state): State<AppState>,
    _op: Operator,
    Path(name): Path<String>,
    Json(patch): Json<Map<String, Value>>,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.jobs.patch(&name, patch).await?))
}

/// Delete a job; runs in progress finish on their own (operator).
#[utoipa::path(delete, path = "/api/v1/scrape-jobs/{name}", tag = "scrape-jobs", security(("bearer" = [])),
    params(("name" = String, Path, description = "Job name")),
    responses((status = 204), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn delete_job(
    State(state): State<AppState>,
    _op: Operator,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.jobs.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a run of the job now, whatever its schedule or suspension (operator).
#[utoipa::path(post, path = "/api/v1/scrape-jobs/{name}/runs", tag = "scrape-jobs", security(("bearer" = [])),
    params(("name" = String, Path, description = "Job name")),
    responses((status = 202, body = crate::runs::Run), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem),
        (status = 503, body = gleaner_common::error::Problem)))]
pub async fn start_run(
    State(state): State<AppState>,
    op: Operator,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let run = state.jobs.start_run(&name, &op.token).await?;
    let location = format!("/api/v1/scrape-runs/{}", run.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(run),
    ))
}

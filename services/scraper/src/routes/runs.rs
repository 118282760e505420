//! Runs: the internal endpoint that starts a scrape (the app service calls
//! it outside a cluster), and the run views.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::runs::RunFilter;
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routes::Operator;
use crate::routes::companies::RunAccepted;
use crate::run::{NewRun, Run};
use crate::spec::RunSpec;
use crate::state::AppState;
use crate::store::runs::{self, ScrapeRun};

/// Routes of runs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/runs", post(start_run))
        .route("/api/v1/scrape-runs", get(list_runs))
        .route("/api/v1/scrape-runs/{id}", get(get_run))
}

/// Start a scrape run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The scrape job this run belongs to.
    pub job: String,
    /// What and how to scrape: a ScrapeJob spec (camelCase, as in the ScrapeJob resource).
    #[schema(value_type = Object)]
    pub spec: RunSpec,
    /// Run id to use; one that already exists is refused with 409 (a caller cannot take
    /// over another run).
    pub run_id: Option<Uuid>,
}

/// Start a scrape now; it runs in the background (operator).
#[utoipa::path(post, path = "/internal/v1/runs", tag = "runs", security(("bearer" = [])),
    request_body = StartRun,
    responses((status = 202, body = RunAccepted), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 409, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn start_run(
    State(state): State<AppState>,
    _caller: Operator,
    Json(req): Json<StartRun>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    let mut errors = crate::spec::field_errors(&req.spec);
    if req.job.is_empty() || req.job.len() > 253 {
        errors.push(gleaner_common::FieldError::new(
            "job",
            "must be 1 to 253 characters",
        ));
    }
    state.pipeline.egress().check_spec(&req.spec, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let run_id = req.run_id.unwrap_or_else(Uuid::new_v4);
    let new = NewRun::scrape(run_id, &req.job, &req.spec).map_err(ApiError::internal)?;
    if !Run::create(&state.db, &new).await? {
        return Err(ApiError::conflict("a run with this run_id already exists"));
    }
    let pipeline = state.pipeline.clone();
    let stop = state.stop.clone();
    let relay = state.relay.clone();
    state.runs.spawn(async move {
        match pipeline.scrape(run_id, &req.job, &req.spec, stop).await {
            Ok(summary) => tracing::info!(run_id = %run_id, status = %summary.status, "run ended"),
            Err(e) => {
                tracing::error!(run_id = %run_id, error = %format!("{e:#}"), "run could not start")
            }
        }
        relay.wake();
    });
    Ok((StatusCode::ACCEPTED, Json(RunAccepted { run_id })))
}

/// Runs, newest first (operator).
#[utoipa::path(get, path = "/api/v1/scrape-runs", tag = "runs", security(("bearer" = [])), params(RunFilter),
    responses((status = 200, body = Page<ScrapeRun>), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem)))]
pub async fn list_runs(
    State(state): State<AppState>,
    _caller: Operator,
    Query(f): Query<RunFilter>,
) -> ApiResult<Json<Page<ScrapeRun>>> {
    let page = PageParams {
        page: f.page,
        per_page: f.per_page,
    }
    .validate()?;
    let (items, total) = runs::list(
        &state.db,
        f.job.as_deref(),
        f.status,
        page.limit(),
        page.offset(),
    )
    .await?;
    Ok(Json(Page::new(items, page, total)))
}

/// One run (operator).
#[utoipa::path(get, path = "/api/v1/scrape-runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = ScrapeRun), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn get_run(
    State(state): State<AppState>,
    _caller: Operator,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ScrapeRun>> {
    runs::get(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such run"))
}

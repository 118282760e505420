//! The companies API (`/api/v1/companies`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::company::{Company, FinancialYear};
use crate::routes::Operator;
use crate::run::{NewRun, Run};
use crate::source::SourceName;
use crate::spec::is_idno;
use crate::state::AppState;
use crate::store::companies::{self, CompanySummary, HistoryEntry, SearchFilter, Sort};
use crate::store::raw::{self, SourceDocument};

/// Routes of the companies API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/companies", get(search))
        .route("/api/v1/companies/{idno}", get(company))
        .route("/api/v1/companies/{idno}/history", get(history))
        .route("/api/v1/companies/{idno}/financials", get(financials))
        .route("/api/v1/companies/{idno}/sources", get(sources))
        .route("/api/v1/sources/{id}/raw", get(raw_document))
        .route("/api/v1/transform", post(transform))
}

/// Company status filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Active,
    Inactive,
}

/// Sort order.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum SortParam {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-registered_at")]
    RegisteredDesc,
    #[serde(rename = "relevance")]
    Relevance,
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Full-text query over name, address and activities (accent-insensitive).
    #[param(pattern = "^[^\\u0000]*$")]
    pub q: Option<String>,
    /// `active` or `inactive`.
    pub status: Option<StatusFilter>,
    /// Legal form (`SRL`, `SA`, ...), case-insensitive.
    #[param(pattern = "^[^\\u0000]*$")]
    pub legal_form: Option<String>,
    /// CAEM activity code, e.g. `47.73`.
    #[param(pattern = "^[^\\u0000]*$")]
    pub activity: Option<String>,
    /// City, accent-insensitive.
    #[param(pattern = "^[^\\u0000]*$")]
    pub city: Option<String>,
    /// Registered on or after (YYYY-MM-DD). Not after `registered_to` when both are
    /// given: a `registered_from` later than `registered_to` is refused (422).
    pub registered_from: Option<NaiveDate>,
    /// Registered on or before (YYYY-MM-DD). Not before `registered_from` when both are
    /// given: a `registered_to` earlier than `registered_from` is refused (422).
    pub registered_to: Option<NaiveDate>,
    /// `name`, `-registered_at` or `relevance` (default: relevance with `q`, else name).
    #[param(inline)]
    pub sort: Option<SortParam>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A page of search results (the paged list shape `{items, page, per_page, total}`, plus `total_exact`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyPage {
    /// Companies on this page.
    pub items: Vec<CompanySummary>,
    /// Page number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Matching companies; counted exactly up to 5,000, else 5,000.
    pub total: i64,
    /// False when `total` is the 5,000 lower bound.
    pub total_exact: bool,
}

/// Search companies.
#[utoipa::path(get, path = "/api/v1/companies", tag = "companies", params(SearchParams),
    responses((status = 200, body = CompanyPage), (status = 422, body = gleaner_common::error::Problem)))]
pub async fn search(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<CompanyPage>> {
    let page = PageParams {
        page: p.page,
        per_page: p.per_page,
    }
    .validate()?;
    let q = non_empty(p.q);
    if q.as_deref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    if let (Some(from), Some(to)) = (p.registered_from, p.registered_to)
        && from > to
    {
        return Err(ApiError::invalid_field(
            "registered_from",
            "must not be after registered_to",
        ));
    }
    let sort = match (p.sort, q.is_some()) {
        (Some(SortParam::Name), _) => Sort::Name,
        (Some(SortParam::RegisteredDesc), _) => Sort::RegisteredDesc,
        (Some(SortParam::Relevance), _) | (None, true) => Sort::Relevance,
        (None, false) => Sort::Name,
    };
    let filter = SearchFilter {
        q,
        status: p.status.map(|s| match s {
            StatusFilter::Active => "active".to_string(),
            StatusFilter::Inactive => "inactive".to_string(),
        }),
        legal_form: non_empty(p.legal_form),
        activity: non_empty(p.activity),
        city: non_empty(p.city),
        registered_from: p.registered_from,
        registered_to: p.registered_to,
    };
    let found = companies::search(&state.db, &filter, sort, page.limit(), page.offset()).await?;
    Ok(Json(CompanyPage {
        items: found.items,
        page: page.page,
        per_page: page.per_page,
        total: found.total,
        total_exact: found.total_exact,
    }))
}

/// 404 for anything but a 13-digit IDNO.
fn idno_or_404(idno: &str) -> ApiResult<()> {
    if is_idno(idno) {
        Ok(())
    } else {
        Err(ApiError::not_found("no such company"))
    }
}

async fn require_company(state: &AppState, idno: &str) -> ApiResult<()> {
    idno_or_404(idno)?;
    if companies::exists(&state.db, idno).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("no such company"))
    }
}

/// One company.
#[utoipa::path(get, path = "/api/v1/companies/{idno}", tag = "companies",
    params(("idno" = String, Path, description = "13-digit fiscal code")),
    responses((status = 200, body = Company), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn company(
    State(state): State<AppState>,
    Path(idno): Path<String>,
) -> ApiResult<Json<Company>> {
    idno_or_404(&idno)?;
    companies::get(&state.db, &idno)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such company"))
}

/// Paging only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageOnly {
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// Field changes of a company, newest first.
#[utoipa::path(get, path = "/api/v1/companies/{idno}/history", tag = "companies",
    params(("idno" = String, Path, description = "13-digit fiscal code"), PageOnly),
    responses((status = 200, body = Page<HistoryEntry>), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn history(
    State(state): State<AppState>,
    Path(idno): Path<String>,
    Query(p): Query<PageOnly>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    let page = PageParams {
        page: p.page,
        per_page: p.per_page,
    }
    .validate()?;
    require_company(&state, &idno).await?;
    let (items, total) = companies::history(&state.db, &idno, page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Financial statements per year, oldest first.
#[utoipa::path(get, path = "/api/v1/companies/{idno}/financials", tag = "companies",
    params(("idno" = String, Path, description = "13-digit fiscal code")),
    responses((status = 200, body = Vec<FinancialYear>), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn financials(
    State(state): State<AppState>,
    Path(idno): Path<String>,
) -> ApiResult<Json<Vec<FinancialYear>>> {
    require_company(&state, &idno).await?;
    Ok(Json(companies::financials(&state.db, &idno).await?))
}

/// Raw documents behind a company (operator).
#[utoipa::path(get, path = "/api/v1/companies/{idno}/sources", tag = "sources", security(("bearer" = [])),
    params(("idno" = String, Path, description = "13-digit fiscal code"), PageOnly),
    responses((status = 200, body = Page<SourceDocument>), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, description = "No such company", body = gleaner_common::error::Problem)))]
pub async fn sources(
    State(state): State<AppState>,
    _caller: Operator,
    Path(idno): Path<String>,
    Query(p): Query<PageOnly>,
) -> ApiResult<Json<Page<SourceDocument>>> {
    let page = PageParams {
        page: p.page,
        per_page: p.per_page,
    }
    .validate()?;
    require_company(&state, &idno).await?;
    let (items, total) = raw::for_company(&state.db, &idno, page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// A raw document, byte for byte, with its content type (operator).
#[utoipa::path(get, path = "/api/v1/sources/{id}/raw", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 200, description = "The stored bytes, with their content type"), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn raw_document(
    State(state): State<AppState>,
    _caller: Operator,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let doc = raw::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such document"))?;
    let content_type = doc
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_string());
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::ETAG, format!("\"{}\"", doc.sha256)),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff".to_string(),
            ),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
        ],
        Body::from(doc.body),
    )
        .into_response())
}

/// Re-transform request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// Only documents fetched since then.
    pub since: Option<DateTime<Utc>>,
    /// Only this company's documents.
    #[schema(pattern = "^[0-9]{13}$")]
    pub idno: Option<String>,
}

/// A started run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunAccepted {
    /// Follow it at `/api/v1/scrape-runs/{run_id}`.
    pub run_id: Uuid,
}

/// Re-run the transform over stored raw documents, no fetching (operator).
#[utoipa::path(post, path = "/api/v1/transform", tag = "sources", security(("bearer" = [])),
    request_body = TransformRequest,
    responses((status = 202, body = RunAccepted), (status = 403, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn transform(
    State(state): State<AppState>,
    _caller: Operator,
    Json(req): Json<TransformRequest>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    if let Some(idno) = &req.idno
        && !is_idno(idno)
    {
        return Err(ApiError::invalid_field("idno", "must be 13 digits"));
    }
    let run_id = Uuid::new_v4();
    let source = SourceName::default();
    let new = NewRun::transform(run_id, source, req.since, req.idno.as_deref());
    Run::create(&state.db, &new).await?;
    let pipeline = state.pipeline.clone();
    state.runs.spawn(async move {
        if let Err(e) = pipeline
            .retransform(run_id, source, req.since, req.idno.as_deref())
            .await
        {
            tracing::error!(run_id = %run_id, error = %format!("{e:#}"), "transform run failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(RunAccepted { run_id })))
}

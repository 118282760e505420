//! People and relations: `/api/v1/people`, `/api/v1/people/{id}`,
//! `/api/v1/companies/{idno}/related` and `/api/v1/companies/{idno}/graph`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use gleaner_common::pagination::{Page, PageParams};
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::names;
use crate::relations::RoleKind;
use crate::spec::is_idno;
use crate::state::AppState;
use crate::store::companies;
use crate::store::relations::{self, Graph, PeopleFilter, Person, PersonSummary, RelatedCompany};

/// Routes of people and relations.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/people", get(search_people))
        .route("/api/v1/people/{id}", get(person))
        .route("/api/v1/companies/{idno}/related", get(related))
        .route("/api/v1/companies/{idno}/graph", get(graph))
}

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

/// People search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeopleParams {
    /// A name or its beginning, in any word order, case and accents (`doina bivol`
    /// finds `Bivol Doina`); every word must begin a word of the name. At most 500
    /// characters.
    #[param(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub q: Option<String>,
    /// Only people who hold or held this role in some company.
    #[param(inline)]
    pub role: Option<RoleKind>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// A page of people (the paged list shape `{items, page, per_page, total}`, plus `total_exact`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeoplePage {
    /// People on this page.
    pub items: Vec<PersonSummary>,
    /// Page number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Matching people; counted exactly up to 5,000, else 5,000.
    pub total: i64,
    /// False when `total` is the 5,000 lower bound.
    pub total_exact: bool,
}

/// Search people by name.
#[utoipa::path(get, path = "/api/v1/people", tag = "people", params(PeopleParams),
    responses((status = 200, body = PeoplePage), (status = 422, body = gleaner_common::error::Problem)))]
pub async fn search_people(
    State(state): State<AppState>,
    Query(p): Query<PeopleParams>,
) -> ApiResult<Json<PeoplePage>> {
    let page = PageParams {
        page: p.page,
        per_page: p.per_page,
    }
    .validate()?;
    if p.q
        .as_deref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::invalid_field(
            "q",
            "must be at most 500 characters",
        ));
    }
    let filter = PeopleFilter {
        words: p.q.as_deref().map(names::words).unwrap_or_default(),
        role: p.role,
    };
    let found = relations::search_people(&state.db, &filter, page.limit(), page.offset()).await?;
    Ok(Json(PeoplePage {
        items: found.items,
        page: page.page,
        per_page: page.per_page,
        total: found.total,
        total_exact: found.total_exact,
    }))
}

/// One person and every role held under their name.
#[utoipa::path(get, path = "/api/v1/people/{id}", tag = "people",
    params(("id" = String, Path, description = "Person id: 20 hex digits", pattern = "^[0-9a-f]{20}$")),
    responses((status = 200, body = Person), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn person(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Person>> {
    if !names::is_person_id(&id) {
        return Err(ApiError::not_found("no such person"));
    }
    relations::person(&state.db, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such person"))
}

/// 404 unless `idno` is a 13-digit IDNO of a known company.
async fn require_company(state: &AppState, idno: &str) -> ApiResult<()> {
    if is_idno(idno) && companies::exists(&state.db, idno).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("no such company"))
    }
}

/// Paging only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RelatedParams {
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub page: Option<u32>,
    /// Items per page (≤ 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// Companies tied to this one: a person with a current role in both (`shared_person`),
/// or a current founding role either way (`owns`, `owned_by`); most ties first.
#[utoipa::path(get, path = "/api/v1/companies/{idno}/related", tag = "people",
    params(("idno" = String, Path, description = "13-digit fiscal code"), RelatedParams),
    responses((status = 200, body = Page<RelatedCompany>), (status = 404, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn related(
    State(state): State<AppState>,
    Path(idno): Path<String>,
    Query(p): Query<RelatedParams>,
) -> ApiResult<Json<Page<RelatedCompany>>> {
    let page = PageParams {
        page: p.page,
        per_page: p.per_page,
    }
    .validate()?;
    require_company(&state, &idno).await?;
    let (items, total) = relations::related(&state.db, &idno, page.limit(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Deepest graph, in roles from the company.
pub const MAX_DEPTH: i64 = 3;
/// Most nodes in a graph.
pub const MAX_NODES: i64 = 500;

/// Graph parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GraphParams {
    /// How many roles away from the company to go, 1 to 3 (default 1).
    #[param(minimum = 1, maximum = 3)]
    pub depth: Option<i64>,
    /// Most nodes, 1 to 500 (default 200); `truncated` says when nodes were left out.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The company's neighbourhood: the people and companies holding roles in it, the
/// companies it holds roles in, and so on up to `depth` roles away, with every current
/// role between them as an edge from its holder to the company.
#[utoipa::path(get, path = "/api/v1/companies/{idno}/graph", tag = "people",
    params(("idno" = String, Path, description = "13-digit fiscal code"), GraphParams),
    responses((status = 200, body = Graph), (status = 404, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn graph(
    State(state): State<AppState>,
    Path(idno): Path<String>,
    Query(p): Query<GraphParams>,
) -> ApiResult<Json<Graph>> {
    let depth = p.depth.unwrap_or(1);
    let limit = p.limit.unwrap_or(200);
    let mut errors = Vec::new();
    if !(1..=MAX_DEPTH).contains(&depth) {
        errors.push(gleaner_common::error::FieldError::new(
            "depth",
            "must be between 1 and 3",
        ));
    }
    if !(1..=MAX_NODES).contains(&limit) {
        errors.push(gleaner_common::error::FieldError::new(
            "limit",
            "must be between 1 and 500",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    require_company(&state, &idno).await?;
    // Both are in range, so the conversions hold.
    let depth = u8::try_from(depth).unwrap_or(1);
    let limit = usize::try_from(limit).unwrap_or(200);
    Ok(Json(
        relations::graph(&state.db, &idno, depth, limit).await?,
    ))
}

//! The HTTP API: one module per resource, merged here.

pub mod changes;
pub mod companies;
pub mod exports;
pub mod people;
pub mod reconcile;
pub mod runs;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gleaner_common::ApiError;
use gleaner_common::auth::{AuthUser, Role};
use gleaner_common::openapi::{BearerAuth, StandardResponses};
use utoipa::OpenApi;

use crate::state::AppState;

/// Every route of the scraper service.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(changes::router())
        .merge(companies::router())
        .merge(exports::router())
        .merge(people::router())
        .merge(runs::router())
        .merge(reconcile::router())
}

/// The caller of an operator route: an operator or an admin. Every operator route takes
/// it before its path, query and body, so the caller's role is checked before anything
/// is read or looked up: a plain user gets 403 whatever the id, and cannot probe ids.
pub struct Operator(pub AuthUser);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require(Role::Operator)?;
        Ok(Operator(user))
    }
}

/// The answers every operation can give (each needs PostgreSQL).
const RESPONSES: StandardResponses = StandardResponses::ALL;

/// The scraper service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gleaner scraper", description = "Companies from the registry, their history, financials and raw sources; scrape runs."),
    paths(
        companies::search, companies::company, companies::history, companies::financials,
        companies::sources, companies::raw_document, companies::transform,
        runs::start_run, runs::list_runs, runs::get_run,
        reconcile::manifest, reconcile::reconcile, reconcile::suggest_entity, reconcile::preview,
        reconcile::propose_properties,
        people::search_people, people::person, people::related, people::graph,
        exports::companies,
        changes::list, changes::stream,
    ),
    components(schemas(
        gleaner_common::error::Problem, gleaner_common::error::FieldError,
        people::PeoplePage, crate::store::relations::Person, crate::store::relations::RelatedCompany,
        crate::store::relations::Graph,
        crate::company::Company, crate::company::CompanyRecord, crate::company::FinancialYear,
        crate::store::runs::RunError, crate::export::Format,
        crate::store::changes::Change, changes::ChangePage,
        reconcile::ReconciliationQuery,
    )),
    modifiers(&BearerAuth, &RESPONSES),
    tags((name = "companies", description = "Company search and detail"),
         (name = "sources", description = "Raw documents and re-transform"),
         (name = "runs", description = "Scrape runs"),
         (name = "people", description = "People, their roles, and how companies are tied"),
         (name = "reconcile", description = "Reconciliation service (W3C Entity Reconciliation API 0.2, for OpenRefine)"),
         (name = "exports", description = "The whole registry as NDJSON, CSV or FollowTheMoney entities"),
         (name = "changes", description = "Every company change in commit order: pages by cursor and a Server-Sent Events stream")),
)]
pub struct ApiDoc;

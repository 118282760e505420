//! The reconciliation service (`/api/v1/reconcile`): the W3C Entity Reconciliation
//! protocol, API version 0.2, as OpenRefine and other data-cleaning tools speak it.
//!
//! - `GET /api/v1/reconcile`: the service manifest.
//! - `POST /api/v1/reconcile`: a batch of reconciliation queries (`queries`) or a data
//!   extension query (`extend`), as a JSON body or as form fields holding JSON.
//! - `GET /api/v1/reconcile/suggest/entity`, `/preview`, `/properties`: entity
//!   suggestions, an HTML card per entity, the properties data extension offers.
//!
//! Companies are identified by their IDNO, people by their person id (`names::person_id`).
//! How candidates are scored is described in the README ("Reconciliation").

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gleaner_common::error::FieldError;
use gleaner_common::extract::{
    body_rejection, has_form_content_type, has_json_content_type, parse_json,
};
use gleaner_common::{ApiError, ApiResult, Json, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::names;
use crate::spec::is_idno;
use crate::state::AppState;
use crate::store::reconcile::{self as store, Candidate, CandidateKind, Probe};

mod extend;
mod preview;
mod query;
mod request;
mod suggest;

pub use extend::*;
pub use preview::*;
pub use query::*;
pub use request::*;
pub use suggest::*;

/// Most queries in one batch.
pub const MAX_BATCH: usize = 50;
/// Longest query string, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Candidates per query when the query gives no `limit`.
pub const DEFAULT_LIMIT: i64 = 5;
/// Most candidates per query.
pub const MAX_LIMIT: i64 = 25;
/// Most ids in one data extension query.
pub const MAX_EXTEND_IDS: usize = 500;
/// Longest key of a query in a batch, in characters.
pub const MAX_KEY_CHARS: usize = 200;
/// Most property constraints in one query, and values in one constraint.
pub const MAX_PROPERTIES: usize = 10;
/// Longest suggest prefix, in characters.
pub const MAX_PREFIX_CHARS: usize = 200;
/// Suggestions per page.
pub const SUGGEST_PAGE: i64 = 10;
/// Deepest suggest cursor.
pub const MAX_CURSOR: i64 = 1000;
/// Candidates below this trigram similarity are not near names.
pub(super) const MIN_SIMILARITY: f32 = 0.2;
/// The score of an exact IDNO.
pub(super) const IDNO_SCORE: f64 = 100.0;
/// A candidate must lead the next one by this much to be a match on its name.
pub(super) const MATCH_LEAD: f64 = 10.0;
/// And score at least this.
pub(super) const MATCH_FLOOR: f64 = 90.0;

/// Routes of the reconciliation service.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reconcile", get(manifest).post(reconcile))
        .route("/api/v1/reconcile/suggest/entity", get(suggest_entity))
        .route("/api/v1/reconcile/preview", get(preview))
        .route("/api/v1/reconcile/properties", get(propose_properties))
}

// ---------------------------------------------------------------------------------------
// Types and properties.

/// The types of entities: companies and people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
pub enum EntityTypeId {
    /// A company, identified by its IDNO.
    Company,
    /// A person (a normalized full name), identified by its person id.
    Person,
}

impl EntityTypeId {
    fn name(self) -> &'static str {
        match self {
            EntityTypeId::Company => "Company",
            EntityTypeId::Person => "Person",
        }
    }

    fn entity_type(self) -> EntityType {
        EntityType {
            id: self.name().to_string(),
            name: self.name().to_string(),
        }
    }
}

/// A type, by id and name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityType {
    /// `Company` or `Person`.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A property of companies that queries may constrain and data extension returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyId {
    /// The 13-digit fiscal code.
    Idno,
    /// The registered name.
    Name,
    /// `active` or `inactive`.
    Status,
    /// `SRL`, `SA`, `II`, ...
    LegalForm,
    /// Date of registration.
    RegisteredAt,
    /// City of the registered address.
    City,
    /// Founders: people and companies.
    Founders,
    /// Administrators.
    Administrators,
}

impl PropertyId {
    const ALL: [PropertyId; 8] = [
        PropertyId::Idno,
        PropertyId::Name,
        PropertyId::Status,
        PropertyId::LegalForm,
        PropertyId::RegisteredAt,
        PropertyId::City,
        PropertyId::Founders,
        PropertyId::Administrators,
    ];

    fn id(self) -> &'static str {
        match self {
            PropertyId::Idno => "idno",
            PropertyId::Name => "name",
            PropertyId::Status => "status",
            PropertyId::LegalForm => "legal_form",
            PropertyId::RegisteredAt => "registered_at",
            PropertyId::City => "city",
            PropertyId::Founders => "founders",
            PropertyId::Administrators => "administrators",
        }
    }

    fn label(self) -> &'static str {
        match self {
            PropertyId::Idno => "IDNO",
            PropertyId::Name => "Name",
            PropertyId::Status => "Status",
            PropertyId::LegalForm => "Legal form",
            PropertyId::RegisteredAt => "Registered at",
            PropertyId::City => "City",
            PropertyId::Founders => "Founders",
            PropertyId::Administrators => "Administrators",
        }
    }
}

/// A property a reconciliation query may constrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryPropertyId {
    /// The 13-digit fiscal code: an exact one is a match, score 100.
    Idno,
    /// The company's city: agreement raises the score, disagreement lowers it.
    City,
    /// The company's legal form: agreement raises the score, disagreement lowers it.
    LegalForm,
}

// ---------------------------------------------------------------------------------------
// The manifest.

/// The service manifest.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Versions of the reconciliation API this service speaks: `["0.2"]`.
    pub versions: Vec<String>,
    /// The service's name.
    pub name: String,
    /// The URI namespace of entity identifiers.
    pub identifier_space: String,
    /// The URI of the schema entities follow.
    pub schema_space: String,
    /// Types to reconcile against.
    pub default_types: Vec<EntityType>,
    /// Where an entity is shown (`{{id}}` is replaced by its id).
    pub view: ViewTemplate,
    /// HTML previews of entities.
    pub preview: PreviewMetadata,
    /// Auto-completion of entities.
    pub suggest: SuggestMetadata,
    /// Data extension.
    pub extend: ExtendMetadata,
    /// Most queries in one batch.
    pub batch_size: usize,
}

/// A URL template with `{{id}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewTemplate {
    /// The template.
    pub url: String,
}

/// Where and how large previews are.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewMetadata {
    /// The template (`{{id}}` is replaced by the entity's id).
    pub url: String,
    /// Width of the frame, in pixels.
    pub width: u32,
    /// Height of the frame, in pixels.
    pub height: u32,
}

/// The suggest services offered.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestMetadata {
    /// Entity suggestions.
    pub entity: ServicePath,
}

/// A service at `service_url` + `service_path`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePath {
    /// Base URL.
    pub service_url: String,
    /// Path under it.
    pub service_path: String,
}

/// Data extension settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtendMetadata {
    /// Where properties are proposed for a type.
    pub propose_properties: ServicePath,
    /// Settings a client may give per property.
    pub property_settings: Vec<PropertySetting>,
}

/// A setting a client may give a property in a data extension query.
#[derive(Debug, Serialize, ToSchema)]
pub struct PropertySetting {
    /// The setting's name (the key in `settings`).
    pub name: String,
    /// Label for a form.
    pub label: String,
    /// `number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Default value.
    pub default: i64,
    /// What it does.
    pub help_text: String,
}

/// The absolute base URL of this service as the client reached it: the scheme and host
/// a proxy in front forwarded (`X-Forwarded-Proto`, `X-Forwarded-Host`, as the gateway
/// always sets them), else the `Host` header. Values that are not a plain scheme or
/// host are ignored.
fn base_url(headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let proto = first("x-forwarded-proto")
        .filter(|p| p.eq_ignore_ascii_case("http") || p.eq_ignore_ascii_case("https"))
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "http".to_string());
    let host = first("x-forwarded-host")
        .filter(|h| valid_host(h))
        .or_else(|| first(header::HOST.as_str()).filter(|h| valid_host(h)))
        .unwrap_or("localhost");
    format!("{proto}://{host}")
}

/// A host and optional port: letters, digits, `.-_:[]` (IPv6 literals), 1 to 255 bytes.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// The service manifest: versions, spaces, types, and where preview, suggest and data
/// extension are, as absolute URLs built from the host the request reached.
#[utoipa::path(get, path = "/api/v1/reconcile", tag = "reconcile",
    responses((status = 200, description = "The service manifest", body = Manifest)))]
pub async fn manifest(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let api = format!("{base}/api/v1");
    let manifest = Manifest {
        versions: vec!["0.2".to_string()],
        name: "Gleaner: Moldovan companies and people".to_string(),
        identifier_space: format!("{api}/companies/"),
        schema_space: format!("{api}/reconcile/properties"),
        default_types: vec![
            EntityTypeId::Company.entity_type(),
            EntityTypeId::Person.entity_type(),
        ],
        view: ViewTemplate {
            url: format!("{api}/companies/{{{{id}}}}"),
        },
        preview: PreviewMetadata {
            url: format!("{api}/reconcile/preview?id={{{{id}}}}"),
            width: 400,
            height: 200,
        },
        suggest: SuggestMetadata {
            entity: ServicePath {
                service_url: format!("{api}/reconcile"),
                service_path: "/suggest/entity".to_string(),
            },
        },
        extend: ExtendMetadata {
            propose_properties: ServicePath {
                service_url: format!("{api}/reconcile"),
                service_path: "/properties".to_string(),
            },
            property_settings: vec![PropertySetting {
                name: "limit".to_string(),
                label: "Limit".to_string(),
                kind: "number".to_string(),
                default: 0,
                help_text: "Most values per company for founders and administrators (0: all)"
                    .to_string(),
            }],
        },
        batch_size: MAX_BATCH,
    };
    with_cors(Json(manifest).into_response())
}

/// Every answer of the service may be read by a page of any origin: the data are
/// public and no credentials are involved (the protocol asks for cross-origin access).
fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_has_every_route_and_both_request_bodies() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::routes::ApiDoc::openapi()).unwrap_or_default();
        let paths = &doc["paths"];
        for (path, method) in [
            ("/api/v1/reconcile", "get"),
            ("/api/v1/reconcile", "post"),
            ("/api/v1/reconcile/suggest/entity", "get"),
            ("/api/v1/reconcile/preview", "get"),
            ("/api/v1/reconcile/properties", "get"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path}");
        }
        let body = &paths["/api/v1/reconcile"]["post"]["requestBody"]["content"];
        assert!(body["application/json"].is_object(), "{body}");
        assert!(
            body["application/x-www-form-urlencoded"].is_object(),
            "{body}"
        );
        let batch = &doc["components"]["schemas"]["ReconcileRequest"]["properties"]["queries"];
        assert_eq!(batch["maxProperties"], 50, "{batch}");
        assert!(doc["components"]["schemas"]["ReconciliationQuery"].is_object());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn base_url_follows_the_proxy_and_ignores_junk() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("scraper:8082"));
        assert_eq!(base_url(&h), "http://scraper:8082");
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("gleaner.example"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(base_url(&h), "https://gleaner.example");
        h.insert("x-forwarded-host", HeaderValue::from_static("evil\"/><x"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("javascript"));
        assert_eq!(base_url(&h), "http://scraper:8082");
    }

    fn candidate(exact: bool, namesakes: i64, similarity: f32, city: &str) -> Candidate {
        Candidate {
            probe: 0,
            kind: CandidateKind::Company,
            id: "1003600012345".into(),
            name: "Nord SRL".into(),
            city: Some(city.into()),
            legal_form: Some("SRL".into()),
            status: Some("active".into()),
            idno_hit: false,
            exact,
            similarity,
            namesakes,
            companies: 0,
        }
    }

    fn checked(cities: &[&str]) -> Checked {
        Checked {
            key: "q0".into(),
            probe: Probe::default(),
            limit: 5,
            idno: None,
            cities: cities.iter().map(|c| c.to_string()).collect(),
            legal_forms: Vec::new(),
        }
    }

    #[test]
    fn a_unique_exact_name_outscores_near_ones_and_the_city_moves_scores() {
        let q = checked(&[]);
        let exact = score(&candidate(true, 1, 1.0, "Chișinău"), &q);
        let near = score(&candidate(false, 0, 0.7, "Chișinău"), &q);
        assert!(exact.score >= 90.0 && near.score < exact.score - 10.0);
        let q = checked(&["chisinau"]);
        let here = score(&candidate(true, 2, 1.0, "Chișinău"), &q);
        let there = score(&candidate(true, 2, 1.0, "Bălți"), &q);
        assert!(here.score > there.score + 10.0);
    }
}

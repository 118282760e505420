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
const MIN_SIMILARITY: f32 = 0.2;
/// The score of an exact IDNO.
const IDNO_SCORE: f64 = 100.0;
/// A candidate must lead the next one by this much to be a match on its name.
const MATCH_LEAD: f64 = 10.0;
/// And score at least this.
const MATCH_FLOOR: f64 = 90.0;

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

// ---------------------------------------------------------------------------------------
// Requests.

/// A POST to the service as JSON: a batch of queries or a data extension query, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Reconciliation queries by key (`q0`, `q1`, ...); at most 50.
    #[schema(schema_with = query_batch_schema)]
    pub queries: Option<HashMap<String, ReconciliationQuery>>,
    /// A data extension query.
    pub extend: Option<ExtendQuery>,
}

/// A batch: at most 50 queries, by key.
fn query_batch_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::SchemaType;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
    use utoipa::openapi::{Ref, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .additional_properties(Some(AdditionalProperties::RefOr(
            Ref::from_schema_name("ReconciliationQuery").into(),
        )))
        .max_properties(Some(MAX_BATCH))
        .description(Some(
            "Reconciliation queries by key (`q0`, `q1`, ...); at most 50.",
        ))
        .build()
}

/// The same as form fields (`application/x-www-form-urlencoded`), each holding JSON, as
/// OpenRefine sends them.
#[derive(Debug, ToSchema)]
pub struct ReconcileForm {
    /// A batch of reconciliation queries as JSON (`{"q0": {"query": "..."}}`).
    pub queries: Option<String>,
    /// A data extension query as JSON (`{"ids": [...], "properties": [{"id": "name"}]}`).
    pub extend: Option<String>,
}

/// One reconciliation query: a name, properties, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    /// The name to match (or an IDNO); at most 500 characters.
    #[schema(max_length = 500)]
    pub query: Option<String>,
    /// `Company`, `Person`, or both (absent: both).
    #[serde(rename = "type")]
    pub kind: Option<TypeSelection>,
    /// Most candidates to return, 1 to 25 (default 5).
    #[schema(minimum = 1, maximum = 25)]
    pub limit: Option<i64>,
    /// Constraints on properties: `idno`, `city`, `legal_form`.
    #[schema(max_items = 10)]
    pub properties: Option<Vec<PropertyConstraint>>,
    /// Accepted and ignored: types only ever narrow.
    pub type_strict: Option<TypeStrict>,
}

/// One type or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TypeSelection {
    /// One type.
    One(EntityTypeId),
    /// Several types.
    Many(Vec<EntityTypeId>),
}

/// How several types combine (accepted and ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeStrict {
    /// Any of them.
    Any,
    /// Should.
    Should,
    /// All of them.
    All,
}

/// A property and the value (or values) it should have.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyConstraint {
    /// The property.
    pub pid: QueryPropertyId,
    /// A value or a list of values (at most 10).
    pub v: PropertyValues,
}

/// One value or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PropertyValues {
    /// One value.
    One(PropertyValue),
    /// Several values (at most 10).
    Many(Vec<PropertyValue>),
}

/// A property value: text, a number, a boolean, or a reconciled entity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PropertyValue {
    /// Text (at most 500 characters).
    Text(String),
    /// A number (an IDNO may be given as one).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// An entity, by id.
    Entity(EntityValue),
}

/// A reconciled entity given as a property value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EntityValue {
    /// Its id (at most 500 characters).
    #[schema(max_length = 500)]
    pub id: String,
    /// Its name.
    pub name: Option<String>,
}

impl PropertyValue {
    fn text(&self) -> Option<String> {
        match self {
            PropertyValue::Text(s) => Some(s.trim().to_string()),
            PropertyValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Some(format!("{n:.0}"))
            }
            PropertyValue::Entity(e) => Some(e.id.trim().to_string()),
            _ => None,
        }
    }

    fn chars(&self) -> usize {
        match self {
            PropertyValue::Text(s) => s.chars().count(),
            PropertyValue::Entity(e) => {
                e.id.chars()
                    .count()
                    .max(e.name.as_deref().map_or(0, |n| n.chars().count()))
            }
            _ => 0,
        }
    }
}

/// A data extension query: which properties of which entities.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendQuery {
    /// Entity ids (IDNOs, person ids); at most 500.
    #[schema(max_items = 500)]
    pub ids: Vec<String>,
    /// Properties to return.
    #[schema(max_items = 8)]
    pub properties: Vec<ExtendProperty>,
}

/// A property to return, with its settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendProperty {
    /// The property.
    pub id: PropertyId,
    /// Settings (`limit`: most values, 0 for all).
    pub settings: Option<ExtendSettings>,
}

/// Settings of a property in a data extension query.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendSettings {
    /// Most values (founders, administrators), 0 to 999999; 0 or absent for all.
    /// OpenRefine sends numbers as text, so `"3"` is read as 3.
    #[schema(schema_with = setting_limit_schema)]
    pub limit: Option<Value>,
}

/// A whole number from 0 to 999999, as a number or as text (or null).
fn setting_limit_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::Type;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(999_999)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]{1,6}$")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// What a POST carried.
enum Request {
    Queries(HashMap<String, ReconciliationQuery>),
    Extend(ExtendQuery),
}

/// Read the body: JSON (`{"queries": ...}` or `{"extend": ...}`) or a form with the
/// field `queries` or `extend` holding JSON.
fn read_request(headers: &HeaderMap, body: &[u8]) -> ApiResult<Request> {
    if has_json_content_type(headers) {
        let request: ReconcileRequest = parse_json(body)?;
        return match (request.queries, request.extend) {
            (Some(q), None) => Ok(Request::Queries(q)),
            (None, Some(e)) => Ok(Request::Extend(e)),
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "extend",
                "give either queries or extend, not both",
            )),
            (None, None) => Err(ApiError::invalid_field(
                "queries",
                "give queries (a batch of reconciliation queries) or extend",
            )),
        };
    }
    if has_form_content_type(headers) {
        let mut queries = None;
        let mut extend = None;
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "queries" => &mut queries,
                "extend" => &mut extend,
                other => {
                    return Err(ApiError::invalid_field(
                        other.replace('\0', ""),
                        "unknown field: expected queries or extend",
                    ));
                }
            };
            if slot.is_some() {
                return Err(ApiError::invalid_field(name, "given more than once"));
            }
            *slot = Some(value.into_owned());
        }
        return match (queries, extend) {
            (Some(q), None) => Ok(Request::Queries(field_json("queries", &q)?)),
            (None, Some(e)) => Ok(Request::Extend(field_json("extend", &e)?)),
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "extend",
                "give either queries or extend, not both",
            )),
            (None, None) => Err(ApiError::invalid_field(
                "queries",
                "give queries (a batch of reconciliation queries as JSON) or extend",
            )),
        };
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "send application/json or application/x-www-form-urlencoded",
    ))
}

/// A form field holding JSON: anything unreadable in it is a 422 naming the field.
fn field_json<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> ApiResult<T> {
    parse_json(text.as_bytes()).map_err(|e| {
        let errors: Vec<FieldError> = if e.field_errors().is_empty() {
            vec![FieldError::new(field, "is not valid JSON")]
        } else {
            e.field_errors()
                .iter()
                .map(|f| {
                    let at = if f.field.is_empty() {
                        field.to_string()
                    } else {
                        format!("{field}.{}", f.field)
                    };
                    FieldError::new(at, f.message.clone())
                })
                .collect()
        };
        ApiError::validation(errors)
    })
}

// ---------------------------------------------------------------------------------------
// Reconciliation.

/// A reconciliation candidate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconCandidate {
    /// IDNO (companies) or person id (people).
    pub id: String,
    /// Name.
    pub name: String,
    /// IDNO, legal form, city and status of a company; how many companies a person is in.
    pub description: String,
    /// `Company` or `Person`.
    #[serde(rename = "type")]
    pub kind: Vec<EntityType>,
    /// 0 to 100: how well it matches.
    pub score: f64,
    /// Whether it is certainly the entity meant.
    #[serde(rename = "match")]
    pub is_match: bool,
    /// The components of the score.
    pub features: Vec<MatchFeature>,
}

/// A component of a score.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatchFeature {
    /// `idno_exact`, `name_exact`, `name_unique`, `name_similarity`, `city_match`,
    /// `legal_form_match`.
    pub id: String,
    /// Its value.
    pub value: FeatureValue,
}

/// A boolean or a number.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum FeatureValue {
    /// Yes or no.
    Flag(bool),
    /// A measure.
    Number(f64),
}

/// The candidates for one query, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResult {
    /// Candidates, best first.
    pub result: Vec<ReconCandidate>,
}

/// A data extension response: the properties, then their values per entity id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtendResponse {
    /// The properties, in the order asked.
    pub meta: Vec<ExtendMeta>,
    /// Per entity id, per property id, the values.
    pub rows: BTreeMap<String, BTreeMap<String, Vec<ExtendValue>>>,
}

/// A property in a data extension response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtendMeta {
    /// Property id.
    pub id: String,
    /// Its label.
    pub name: String,
}

/// A property value in a data extension response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExtendValue {
    /// An entity of this service: a company (IDNO) or a person (person id).
    Entity {
        /// Id.
        id: String,
        /// Name.
        name: String,
    },
    /// Text.
    Str {
        /// The text.
        str: String,
    },
    /// A date, as an RFC 3339 time at midnight UTC.
    Date {
        /// The date.
        date: String,
    },
}

/// What a POST answers: candidates per query, or a data extension.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReconcileResponse {
    /// Per query key, its candidates.
    Results(BTreeMap<String, QueryResult>),
    /// The data extension asked for.
    Extension(ExtendResponse),
}

/// A query checked and folded.
struct Checked {
    key: String,
    probe: Probe,
    limit: usize,
    idno: Option<String>,
    cities: Vec<String>,
    legal_forms: Vec<String>,
}

fn too_long(field: String, max: usize) -> ApiError {
    ApiError::invalid_field(field, format!("must be at most {max} characters"))
}

/// Check one query and fold what the database needs.
fn check_query(key: &str, q: ReconciliationQuery) -> ApiResult<Checked> {
    let at = |f: &str| format!("queries.{key}.{f}");
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::invalid_field(
            "queries",
            format!("a query key must be at most {MAX_KEY_CHARS} characters"),
        ));
    }
    if q.query
        .as_deref()
        .is_some_and(|s| s.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(too_long(at("query"), MAX_QUERY_CHARS));
    }
    let limit = match q.limit {
        None => DEFAULT_LIMIT,
        Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::invalid_field(
                at("limit"),
                format!("must be from 1 to {MAX_LIMIT}"),
            ));
        }
    };
    let types: HashSet<EntityTypeId> = match q.kind {
        None => HashSet::new(),
        Some(TypeSelection::One(t)) => HashSet::from([t]),
        Some(TypeSelection::Many(ts)) => ts.into_iter().collect(),
    };
    let any_type = types.is_empty();
    let properties = q.properties.unwrap_or_default();
    if properties.len() > MAX_PROPERTIES {
        return Err(ApiError::invalid_field(
            at("properties"),
            format!("at most {MAX_PROPERTIES} properties"),
        ));
    }
    let mut idnos = Vec::new();
    let mut cities = Vec::new();
    let mut legal_forms = Vec::new();
    for (i, p) in properties.into_iter().enumerate() {
        let values = match p.v {
            PropertyValues::One(v) => vec![v],
            PropertyValues::Many(vs) => vs,
        };
        if values.len() > MAX_PROPERTIES {
            return Err(ApiError::invalid_field(
                at(&format!("properties[{i}].v")),
                format!("at most {MAX_PROPERTIES} values"),
            ));
        }
        for v in &values {
            if v.chars() > MAX_QUERY_CHARS {
                return Err(too_long(at(&format!("properties[{i}].v")), MAX_QUERY_CHARS));
            }
        }
        let texts = values.iter().filter_map(PropertyValue::text);
        match p.pid {
            QueryPropertyId::Idno => idnos.extend(texts),
            QueryPropertyId::City => cities.extend(texts.filter(|t| !t.is_empty())),
            QueryPropertyId::LegalForm => legal_forms.extend(texts.filter(|t| !t.is_empty())),
        }
    }
    let query = q.query.map(|s| s.trim().to_string()).unwrap_or_default();
    if query.is_empty() && idnos.is_empty() && cities.is_empty() && legal_forms.is_empty() {
        return Err(ApiError::invalid_field(
            at("query"),
            "give a query, properties, or both",
        ));
    }
    // The IDNO: a property, else a query that is one.
    let idno = idnos
        .into_iter()
        .find(|i| is_idno(i))
        .or_else(|| is_idno(&query).then(|| query.clone()));
    let companies = any_type || types.contains(&EntityTypeId::Company);
    let people = any_type || types.contains(&EntityTypeId::Person);
    let probe = Probe {
        company_key: if companies {
            names::name_key(&query)
        } else {
            String::new()
        },
        person_key: if people && idno.as_deref() != Some(query.as_str()) {
            names::person_key(&query)
        } else {
            String::new()
        },
        idno: idno.clone().filter(|_| companies).unwrap_or_default(),
        city: cities.first().cloned().unwrap_or_default(),
        companies,
        people,
        near: limit + store::NEAR_EXTRA,
        near_always: idno.is_some() || !cities.is_empty() || !legal_forms.is_empty(),
    };
    Ok(Checked {
        key: key.to_string(),
        probe,
        limit: usize::try_from(limit).unwrap_or(5),
        idno,
        cities,
        legal_forms,
    })
}

/// Whether a candidate's value agrees with any of the given ones, folded as names are:
/// `None` when either side is unknown.
fn agrees(have: Option<&str>, wanted: &[String]) -> Option<bool> {
    let have = names::name_key(have?);
    if have.is_empty() || wanted.is_empty() {
        return None;
    }
    Some(wanted.iter().any(|w| names::name_key(w) == have))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Score one candidate of a query (see the README's "Reconciliation" for the rule).
fn score(c: &Candidate, q: &Checked) -> ReconCandidate {
    let mut features = Vec::new();
    let flag = |id: &str, v: bool| MatchFeature {
        id: id.to_string(),
        value: FeatureValue::Flag(v),
    };
    let similarity = round2(f64::from(c.similarity).clamp(0.0, 1.0));
    let (kind, description, score) = match c.kind {
        CandidateKind::Company => {
            let unique = c.exact && c.namesakes == 1;
            let mut score = if c.exact {
                if unique { 95.0 } else { 88.0 }
            } else {
                80.0 * similarity
            };
            features.push(flag("idno_exact", c.idno_hit));
            features.push(flag("name_exact", c.exact));
            features.push(flag("name_unique", unique));
            features.push(MatchFeature {
                id: "name_similarity".to_string(),
                value: FeatureValue::Number(similarity),
            });
            if q.idno.is_some() && !c.idno_hit {
                score -= 40.0;
            }
            if let Some(same) = agrees(c.city.as_deref(), &q.cities) {
                score += if same { 4.0 } else { -15.0 };
                features.push(flag("city_match", same));
            }
            if let Some(same) = agrees(c.legal_form.as_deref(), &q.legal_forms) {
                score += if same { 3.0 } else { -10.0 };
                features.push(flag("legal_form_match", same));
            }
            if c.idno_hit {
                score = IDNO_SCORE;
            }
            let description = [
                Some(format!("IDNO {}", c.id)),
                c.legal_form.clone(),
                c.city.clone(),
                c.status.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            (EntityTypeId::Company, description, score)
        }
        CandidateKind::Person => {
            let score = if c.exact { 95.0 } else { 80.0 * similarity };
            features.push(flag("name_exact", c.exact));
            features.push(MatchFeature {
                id: "name_similarity".to_string(),
                value: FeatureValue::Number(similarity),
            });
            let description = match c.companies {
                1 => "Founder or administrator of 1 company".to_string(),
                n => format!("Founder or administrator of {n} companies"),
            };
            (EntityTypeId::Person, description, score)
        }
    };
    ReconCandidate {
        id: c.id.clone(),
        name: c.name.clone(),
        description,
        kind: vec![kind.entity_type()],
        score: round2(score.clamp(0.0, 100.0)),
        is_match: false,
        features,
    }
}

/// Whether a scored candidate disagrees with a property the query gave.
fn disagrees(c: &ReconCandidate) -> bool {
    c.features.iter().any(|f| {
        matches!(f.id.as_str(), "city_match" | "legal_form_match")
            && matches!(f.value, FeatureValue::Flag(false))
    })
}

fn is_flag(c: &ReconCandidate, id: &str) -> bool {
    c.features
        .iter()
        .any(|f| f.id == id && matches!(f.value, FeatureValue::Flag(true)))
}

/// The candidates of one query, scored, best first, `limit` of them; the first is a
/// match when its IDNO is the one asked, or when its name is exactly the query's, it
/// scores at least 90, leads the next by 10 and no property disagrees.
fn rank(found: &[&Candidate], q: &Checked) -> Vec<ReconCandidate> {
    let mut scored: Vec<ReconCandidate> = found
        .iter()
        .filter(|c| c.idno_hit || c.exact || c.similarity >= MIN_SIMILARITY)
        .map(|c| score(c, q))
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    scored.truncate(q.limit);
    let second = scored.get(1).map_or(0.0, |c| c.score);
    if let Some(first) = scored.first_mut() {
        first.is_match = is_flag(first, "idno_exact")
            || (is_flag(first, "name_exact")
                && first.score >= MATCH_FLOOR
                && first.score - second >= MATCH_LEAD
                && !disagrees(first));
    }
    scored
}

/// Reconcile a batch of queries, or extend entities with property values.
///
/// The body is JSON (`{"queries": {...}}` or `{"extend": {...}}`) or a form whose field
/// `queries` or `extend` holds that JSON (what OpenRefine sends). A batch has at most 50
/// queries; each answers `{"result": [...]}` under its key, best candidate first.
#[utoipa::path(post, path = "/api/v1/reconcile", tag = "reconcile",
    request_body(description = "A batch of reconciliation queries or a data extension query, as JSON or as form fields holding JSON",
        content(
            (ReconcileRequest = "application/json"),
            (ReconcileForm = "application/x-www-form-urlencoded"),
        )),
    responses(
        (status = 200, description = "Candidates per query key, or the data extension", body = ReconcileResponse),
        (status = 400, description = "The JSON body is not JSON", body = gleaner_common::error::Problem),
        (status = 415, description = "Neither JSON nor a form", body = gleaner_common::error::Problem),
        (status = 422, description = "A batch over 50 queries, a query over 500 characters, a limit outside 1 to 25, an unknown type or property, a form field that is not JSON", body = gleaner_common::error::Problem)))]
pub async fn reconcile(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(body_rejection)?;
    let response = match read_request(&headers, &body)? {
        Request::Queries(queries) => {
            ReconcileResponse::Results(reconcile_batch(&state, queries).await?)
        }
        Request::Extend(query) => ReconcileResponse::Extension(extend(&state, query).await?),
    };
    Ok(with_cors(Json(response).into_response()))
}

async fn reconcile_batch(
    state: &AppState,
    queries: HashMap<String, ReconciliationQuery>,
) -> ApiResult<BTreeMap<String, QueryResult>> {
    if queries.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "queries",
            format!("at most {MAX_BATCH} queries in a batch"),
        ));
    }
    let mut checked = queries
        .into_iter()
        .map(|(key, q)| check_query(&key, q))
        .collect::<ApiResult<Vec<_>>>()?;
    checked.sort_by(|a, b| a.key.cmp(&b.key));
    let probes: Vec<Probe> = checked.iter().map(|c| c.probe.clone()).collect();
    let found = store::candidates(&state.db, &probes).await?;
    let mut per_query: Vec<Vec<&Candidate>> = vec![Vec::new(); checked.len()];
    for c in &found {
        if let Some(list) = per_query.get_mut(c.probe) {
            list.push(c);
        }
    }
    Ok(checked
        .iter()
        .zip(per_query)
        .map(|(q, found)| {
            (
                q.key.clone(),
                QueryResult {
                    result: rank(&found, q),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Data extension.

fn setting_limit(settings: Option<&ExtendSettings>, at: &str) -> ApiResult<usize> {
    let Some(value) = settings.and_then(|s| s.limit.as_ref()) else {
        return Ok(0);
    };
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if (1..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    };
    parsed
        .filter(|n| *n <= 999_999)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| ApiError::invalid_field(at, "must be a whole number from 0 to 999999"))
}

/// Values of a role list (founders or administrators): people as person entities,
/// companies with an IDNO as company entities, others as text.
fn role_values(list: &Value, limit: usize) -> Vec<ExtendValue> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    let values = items.iter().filter_map(|item| {
        let name = item.get("name")?.as_str()?.to_string();
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("person");
        let idno = item
            .get("idno")
            .and_then(Value::as_str)
            .filter(|i| is_idno(i));
        Some(match (kind, idno) {
            ("company", Some(idno)) => ExtendValue::Entity {
                id: idno.to_string(),
                name,
            },
            ("company", None) => ExtendValue::Str { str: name },
            _ => match names::person_id(&name) {
                Some(id) => ExtendValue::Entity { id, name },
                None => ExtendValue::Str { str: name },
            },
        })
    });
    if limit == 0 {
        values.collect()
    } else {
        values.take(limit).collect()
    }
}

async fn extend(state: &AppState, query: ExtendQuery) -> ApiResult<ExtendResponse> {
    if query.ids.len() > MAX_EXTEND_IDS {
        return Err(ApiError::invalid_field(
            "extend.ids",
            format!("at most {MAX_EXTEND_IDS} ids"),
        ));
    }
    let mut properties: Vec<(PropertyId, usize)> = Vec::new();
    for (i, p) in query.properties.iter().enumerate() {
        if properties.iter().any(|(id, _)| *id == p.id) {
            return Err(ApiError::invalid_field(
                format!("extend.properties[{i}].id"),
                "given more than once",
            ));
        }
        let limit = setting_limit(
            p.settings.as_ref(),
            &format!("extend.properties[{i}].settings.limit"),
        )?;
        properties.push((p.id, limit));
    }
    // Only ids of a shape this service gives reach the database.
    let idnos: Vec<String> = query.ids.iter().filter(|i| is_idno(i)).cloned().collect();
    let person_ids: Vec<String> = query
        .ids
        .iter()
        .filter(|i| names::is_person_id(i))
        .cloned()
        .collect();
    let companies = store::companies(&state.db, &idnos).await?;
    let people = store::people(&state.db, &person_ids).await?;
    let companies: HashMap<&str, &store::CompanyFacts> =
        companies.iter().map(|c| (c.idno.as_str(), c)).collect();
    let people: HashMap<&str, &store::PersonFacts> =
        people.iter().map(|p| (p.id.as_str(), p)).collect();
    let text = |s: &Option<String>| -> Vec<ExtendValue> {
        s.iter()
            .filter(|s| !s.is_empty())
            .map(|s| ExtendValue::Str { str: s.clone() })
            .collect()
    };
    let mut rows = BTreeMap::new();
    for id in &query.ids {
        let mut row = BTreeMap::new();
        for (property, limit) in &properties {
            let values = if let Some(c) = companies.get(id.as_str()) {
                match property {
                    PropertyId::Idno => text(&Some(c.idno.clone())),
                    PropertyId::Name => text(&Some(c.name.clone())),
                    PropertyId::Status => text(&Some(c.status.clone())),
                    PropertyId::LegalForm => text(&c.legal_form),
                    PropertyId::RegisteredAt => c
                        .registered_at
                        .map(|d| ExtendValue::Date {
                            date: format!("{}T00:00:00Z", d.format("%Y-%m-%d")),
                        })
                        .into_iter()
                        .collect(),
                    PropertyId::City => text(&c.city),
                    PropertyId::Founders => role_values(&c.founders, *limit),
                    PropertyId::Administrators => role_values(&c.administrators, *limit),
                }
            } else if let Some(p) = people.get(id.as_str()) {
                match property {
                    PropertyId::Name => text(&Some(p.name.clone())),
                    _ => Vec::new(),
                }
            } else {
                Vec::new()
            };
            row.insert(property.id().to_string(), values);
        }
        rows.insert(id.clone(), row);
    }
    Ok(ExtendResponse {
        meta: properties
            .iter()
            .map(|(p, _)| ExtendMeta {
                id: p.id().to_string(),
                name: p.label().to_string(),
            })
            .collect(),
        rows,
    })
}

/// Property proposal parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProposeParams {
    /// `Company` or `Person`.
    #[serde(rename = "type")]
    #[param(inline)]
    pub kind: EntityTypeId,
    /// Most properties to propose, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Proposed properties for a type.
#[derive(Debug, Serialize, ToSchema)]
pub struct PropertyProposals {
    /// The type asked for.
    #[serde(rename = "type")]
    pub kind: EntityTypeId,
    /// Its properties.
    pub properties: Vec<ExtendMeta>,
    /// The limit asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The properties data extension offers for a type.
#[utoipa::path(get, path = "/api/v1/reconcile/properties", tag = "reconcile",
    params(ProposeParams),
    responses((status = 200, description = "Properties for the type", body = PropertyProposals)))]
pub async fn propose_properties(Query(p): Query<ProposeParams>) -> ApiResult<Response> {
    if p.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        return Err(ApiError::invalid_field("limit", "must be from 1 to 100"));
    }
    let offered: &[PropertyId] = match p.kind {
        EntityTypeId::Company => &PropertyId::ALL,
        EntityTypeId::Person => &[PropertyId::Name],
    };
    let take = p
        .limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(offered.len());
    let proposals = PropertyProposals {
        kind: p.kind,
        properties: offered
            .iter()
            .take(take)
            .map(|p| ExtendMeta {
                id: p.id().to_string(),
                name: p.label().to_string(),
            })
            .collect(),
        limit: p.limit,
    };
    Ok(with_cors(Json(proposals).into_response()))
}

// ---------------------------------------------------------------------------------------
// Suggest.

/// Entity suggestion parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// What the user has typed: the start of words of a name, or of an IDNO (at most
    /// 200 characters).
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub prefix: String,
    /// How many suggestions to skip, 0 to 1000.
    #[param(minimum = 0, maximum = 1000)]
    pub cursor: Option<u32>,
    /// `Company` or `Person` (absent: both, companies first).
    #[serde(rename = "type")]
    #[param(inline)]
    pub kind: Option<EntityTypeId>,
}

/// A suggested entity.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedEntity {
    /// IDNO or person id.
    pub id: String,
    /// Name.
    pub name: String,
    /// What tells namesakes apart.
    pub description: String,
    /// Its type.
    pub notable: Vec<EntityType>,
}

/// Suggestions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestResponse {
    /// Suggested entities: companies, then people, each in name order.
    pub result: Vec<SuggestedEntity>,
}

/// Entities whose name has words starting as the prefix's words do (any order), or
/// companies whose IDNO starts with the prefix's digits.
#[utoipa::path(get, path = "/api/v1/reconcile/suggest/entity", tag = "reconcile",
    params(SuggestParams),
    responses((status = 200, description = "Suggested entities", body = SuggestResponse)))]
pub async fn suggest_entity(
    State(state): State<AppState>,
    Query(p): Query<SuggestParams>,
) -> ApiResult<Response> {
    if p.prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(too_long("prefix".to_string(), MAX_PREFIX_CHARS));
    }
    let cursor = i64::from(p.cursor.unwrap_or(0));
    if cursor > MAX_CURSOR {
        return Err(ApiError::invalid_field(
            "cursor",
            format!("must be from 0 to {MAX_CURSOR}"),
        ));
    }
    let mut words = names::words(&p.prefix);
    words.truncate(8);
    let trimmed = p.prefix.trim();
    let idno_prefix =
        (!trimmed.is_empty() && trimmed.len() <= 13 && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .then_some(trimmed);
    let companies = p.kind != Some(EntityTypeId::Person);
    let people = p.kind != Some(EntityTypeId::Company);
    let found = if words.is_empty() {
        Vec::new()
    } else {
        store::suggest(
            &state.db,
            &words,
            idno_prefix,
            companies,
            people,
            SUGGEST_PAGE,
            cursor,
        )
        .await?
    };
    let result = found
        .into_iter()
        .map(|s| {
            let (kind, description) = match s.kind {
                CandidateKind::Company => (
                    EntityTypeId::Company,
                    [Some(format!("IDNO {}", s.id)), s.legal_form, s.city]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · "),
                ),
                CandidateKind::Person => (
                    EntityTypeId::Person,
                    format!("Person, in {} companies", s.companies),
                ),
            };
            SuggestedEntity {
                id: s.id,
                name: s.name,
                description,
                notable: vec![kind.entity_type()],
            }
        })
        .collect();
    Ok(with_cors(Json(SuggestResponse { result }).into_response()))
}

// ---------------------------------------------------------------------------------------
// Preview.

/// Preview parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// An IDNO or a person id.
    #[param(pattern = "^[^\\u0000]*$")]
    pub id: String,
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn card(title: &str, lines: &[(String, String)]) -> String {
    let mut html = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>");
    html.push_str(&escape_html(title));
    html.push_str(
        "</title><style>body{font:14px sans-serif;margin:8px}h1{font-size:16px;margin:0 0 6px}\
         dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}dt{color:#555}dd{margin:0}</style>\
         </head><body><h1>",
    );
    html.push_str(&escape_html(title));
    html.push_str("</h1><dl>");
    for (label, value) in lines {
        html.push_str("<dt>");
        html.push_str(&escape_html(label));
        html.push_str("</dt><dd>");
        html.push_str(&escape_html(value));
        html.push_str("</dd>");
    }
    html.push_str("</dl></body></html>");
    html
}

/// A small HTML card of a company or a person, to show in a frame.
#[utoipa::path(get, path = "/api/v1/reconcile/preview", tag = "reconcile",
    params(PreviewParams),
    responses((status = 200, description = "An HTML card", content_type = "text/html", body = String),
        (status = 404, description = "No such company or person", body = gleaner_common::error::Problem)))]
pub async fn preview(
    State(state): State<AppState>,
    Query(p): Query<PreviewParams>,
) -> ApiResult<Response> {
    let id = p.id.trim();
    let html = if is_idno(id) {
        let found = store::companies(&state.db, &[id.to_string()]).await?;
        let c = found
            .first()
            .ok_or_else(|| ApiError::not_found("no such company"))?;
        let mut lines = vec![("IDNO".to_string(), c.idno.clone())];
        let optional = [
            ("Legal form", c.legal_form.clone()),
            ("Status", Some(c.status.clone())),
            (
                "Registered",
                c.registered_at.map(|d| d.format("%Y-%m-%d").to_string()),
            ),
            ("Address", c.address.clone().or_else(|| c.city.clone())),
        ];
        lines.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
        );
        let names = |list: &Value| {
            list.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get("name")?.as_str())
                        .take(5)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        for (label, list) in [
            ("Founders", &c.founders),
            ("Administrators", &c.administrators),
        ] {
            let text = names(list);
            if !text.is_empty() {
                lines.push((label.to_string(), text));
            }
        }
        card(&c.name, &lines)
    } else if names::is_person_id(id) {
        let found = store::people(&state.db, &[id.to_string()]).await?;
        let person = found
            .first()
            .ok_or_else(|| ApiError::not_found("no such person"))?;
        let mut lines = vec![("Companies".to_string(), person.companies.to_string())];
        lines.extend(
            person
                .roles
                .iter()
                .map(|(idno, name, role)| (role.clone(), format!("{name} ({idno})"))),
        );
        card(&person.name, &lines)
    } else {
        return Err(ApiError::not_found("no such company or person"));
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Inline style only, no script, and framable by the tools that embed it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
            ),
        ],
        html,
    )
        .into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
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

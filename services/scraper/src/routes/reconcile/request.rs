//! Requests: a POST read as JSON or as OpenRefine's form fields.

#[allow(unused_imports)]
use super::*;

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
pub(super) fn query_batch_schema() -> utoipa::openapi::Object {
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
    pub(super) fn text(&self) -> Option<String> {
        match self {
            PropertyValue::Text(s) => Some(s.trim().to_string()),
            PropertyValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Some(format!("{n:.0}"))
            }
            PropertyValue::Entity(e) => Some(e.id.trim().to_string()),
            _ => None,
        }
    }

    pub(super) fn chars(&self) -> usize {
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
pub(super) fn setting_limit_schema() -> utoipa::openapi::schema::Schema {
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
pub(super) enum Request {
    Queries(HashMap<String, ReconciliationQuery>),
    Extend(ExtendQuery),
}

/// Read the body: JSON (`{"queries": ...}` or `{"extend": ...}`) or a form with the
/// field `queries` or `extend` holding JSON.
pub(super) fn read_request(headers: &HeaderMap, body: &[u8]) -> ApiResult<Request> {
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
pub(super) fn field_json<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> ApiResult<T> {
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

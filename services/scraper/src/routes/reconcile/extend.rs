//! Data extension and its property proposals.

#[allow(unused_imports)]
use super::*;

pub(super) fn setting_limit(settings: Option<&ExtendSettings>, at: &str) -> ApiResult<usize> {
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
pub(super) fn role_values(list: &Value, limit: usize) -> Vec<ExtendValue> {
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

pub(super) async fn extend(state: &AppState, query: ExtendQuery) -> ApiResult<ExtendResponse> {
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

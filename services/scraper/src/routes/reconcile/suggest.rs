//! Entity suggestion.

#[allow(unused_imports)]
use super::*;

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

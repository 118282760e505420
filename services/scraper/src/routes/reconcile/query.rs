//! Reconciliation queries: checked, scored and ranked; the POST handler.

#[allow(unused_imports)]
use super::*;

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
pub(super) struct Checked {
    pub(super) key: String,
    pub(super) probe: Probe,
    pub(super) limit: usize,
    pub(super) idno: Option<String>,
    pub(super) cities: Vec<String>,
    pub(super) legal_forms: Vec<String>,
}

pub(super) fn too_long(field: String, max: usize) -> ApiError {
    ApiError::invalid_field(field, format!("must be at most {max} characters"))
}

/// Check one query and fold what the database needs.
pub(super) fn check_query(key: &str, q: ReconciliationQuery) -> ApiResult<Checked> {
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
pub(super) fn agrees(have: Option<&str>, wanted: &[String]) -> Option<bool> {
    let have = names::name_key(have?);
    if have.is_empty() || wanted.is_empty() {
        return None;
    }
    Some(wanted.iter().any(|w| names::name_key(w) == have))
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Score one candidate of a query (see the README's "Reconciliation" for the rule).
pub(super) fn score(c: &Candidate, q: &Checked) -> ReconCandidate {
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
pub(super) fn disagrees(c: &ReconCandidate) -> bool {
    c.features.iter().any(|f| {
        matches!(f.id.as_str(), "city_match" | "legal_form_match")
            && matches!(f.value, FeatureValue::Flag(false))
    })
}

pub(super) fn is_flag(c: &ReconCandidate, id: &str) -> bool {
    c.features
        .iter()
        .any(|f| f.id == id && matches!(f.value, FeatureValue::Flag(true)))
}

/// The candidates of one query, scored, best first, `limit` of them; the first is a
/// match when its IDNO is the one asked, or when its name is exactly the query's, it
/// scores at least 90, leads the next by 10 and no property disagrees.
pub(super) fn rank(found: &[&Candidate], q: &Checked) -> Vec<ReconCandidate> {
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

pub(super) async fn reconcile_batch(
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

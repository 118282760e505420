//! What ties companies together: related companies and the graph around one.

#[allow(unused_imports)]
use super::*;

/// How two companies are tied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// A person holds a current role in both.
    SharedPerson,
    /// This company is a founder of that one.
    Owns,
    /// That company is a founder of this one.
    OwnedBy,
}

/// One tie to a related company.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Via {
    /// The kind of tie.
    pub relation: Relation,
    /// The person both share (`shared_person` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// That person's name (`shared_person` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_name: Option<String>,
}

/// A company tied to another.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelatedCompany {
    /// Its IDNO.
    pub idno: String,
    /// Its name (as the founding role names it, for a founder not in the registry).
    pub name: String,
    /// Every tie, `owns` and `owned_by` first, then people by folded name.
    pub via: Vec<Via>,
}

/// Companies tied to `idno` through a person with a current role in both, or a current
/// founding role either way; most ties first, then by IDNO.
pub async fn related(
    db: &PgPool,
    idno: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<RelatedCompany>, i64)> {
    const TIES: &str = "WITH me AS ( \
           SELECT s.name_norm FROM company_search s WHERE s.idno = $1 AND s.name_norm IS NOT NULL \
             AND (SELECT count(*) FROM company_search o WHERE o.name_norm = s.name_norm) = 1), \
         ties AS ( \
           SELECT o.idno, 'shared_person' AS relation, o.person_id, NULL::text AS hint \
             FROM company_roles m JOIN company_roles o ON o.person_id = m.person_id \
             WHERE m.idno = $1 AND m.person_id IS NOT NULL AND m.current AND o.current AND o.idno <> $1 \
           UNION \
           SELECT l.holder_company, 'owned_by', NULL, l.holder_name FROM company_roles_linked l \
             WHERE l.idno = $1 AND l.role = 'founder' AND l.holder_kind = 'company' AND l.current \
               AND l.holder_company IS NOT NULL AND l.holder_company <> $1 \
           UNION \
           SELECT r.idno, 'owns', NULL, NULL FROM company_roles r \
             WHERE r.holder_idno = $1 AND r.role = 'founder' AND r.current AND r.idno <> $1 \
           UNION \
           SELECT r.idno, 'owns', NULL, NULL FROM company_roles r JOIN me ON r.holder_key = me.name_norm \
             WHERE r.holder_kind = 'company' AND r.holder_idno IS NULL AND r.role = 'founder' \
               AND r.current AND r.idno <> $1), \
         grouped AS ( \
           SELECT t.idno, max(t.hint) AS hint, count(*) AS n, \
             json_agg(json_build_object('relation', t.relation, 'person_id', t.person_id, 'person_name', p.name) \
               ORDER BY t.relation <> 'owns', t.relation <> 'owned_by', p.name_key, t.person_id) AS via \
           FROM ties t LEFT JOIN people p ON p.id = t.person_id GROUP BY t.idno) ";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TIES}, page AS (SELECT g.*, count(*) OVER () AS total FROM grouped g \
           ORDER BY g.n DESC, g.idno LIMIT $2 OFFSET $3) \
         SELECT page.idno, coalesce(s.name, page.hint, page.idno) AS name, page.via, page.total \
         FROM page LEFT JOIN company_search s ON s.idno = page.idno ORDER BY page.n DESC, page.idno"
    )))
    .bind(idno)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let mut total = None;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        total = Some(r.try_get::<i64, _>("total")?);
        let sqlx::types::Json(via): sqlx::types::Json<Vec<Via>> = r.try_get("via")?;
        items.push(RelatedCompany {
            idno: r.try_get("idno")?,
            name: r.try_get("name")?,
            via,
        });
    }
    let total = match total {
        Some(t) => t,
        // A page past the end: count on its own.
        None => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "{TIES} SELECT count(*) FROM grouped"
            )))
            .bind(idno)
            .fetch_one(db)
            .await?
        }
    };
    Ok((items, total))
}

/// Kind of a graph node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A company (`company:<idno>`).
    Company,
    /// A person (`person:<id>`).
    Person,
}

/// A node of the graph.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// `company:<idno>` or `person:<id>`.
    pub id: String,
    /// Company or person.
    pub kind: NodeKind,
    /// The company's or the person's name.
    pub label: String,
}

/// An edge: the holder of a role (a person, or a founding or managing company) to the
/// company it holds the role in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Edge {
    /// The holder's node id.
    pub from: String,
    /// The company's node id.
    pub to: String,
    /// `founder` or `administrator`.
    pub kind: RoleKind,
    /// A founder's share, in percent.
    pub share: Option<f64>,
}

/// The neighbourhood of a company.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Graph {
    /// The company first, then nodes by distance and id.
    pub nodes: Vec<Node>,
    /// Every current role between two of the nodes.
    pub edges: Vec<Edge>,
    /// Whether nodes within the depth were left out to keep to the limit.
    pub truncated: bool,
}

pub(super) const COMPANY: &str = "company:";
pub(super) const PERSON: &str = "person:";

/// The nodes next to the companies `companies` and the people `people`, by id, at
/// most `limit` of them, with a label for companies known only from a role.
pub(super) async fn neighbours(
    db: &PgPool,
    companies: &[&str],
    people: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<(String, Option<String>)>> {
    sqlx::query_as(
        "WITH found AS ( \
           SELECT CASE WHEN l.holder_kind = 'person' THEN 'person:' || l.person_id \
                       ELSE 'company:' || l.holder_company END AS node, \
                  CASE WHEN l.holder_kind = 'company' THEN l.holder_name END AS hint \
             FROM company_roles_linked l WHERE l.idno = ANY($1) AND l.current \
           UNION ALL \
           SELECT 'company:' || r.idno, NULL FROM company_roles r \
             WHERE r.holder_idno = ANY($1) AND r.current \
           UNION ALL \
           SELECT 'company:' || r.idno, NULL FROM company_search s JOIN company_roles r \
               ON r.holder_key = s.name_norm AND r.holder_kind = 'company' AND r.holder_idno IS NULL \
             WHERE s.idno = ANY($1) AND r.current \
               AND (SELECT count(*) FROM company_search o WHERE o.name_norm = s.name_norm) = 1 \
           UNION ALL \
           SELECT 'company:' || r.idno, NULL FROM company_roles r \
             WHERE r.person_id = ANY($2) AND r.current) \
         SELECT node, min(hint) FROM found WHERE node IS NOT NULL GROUP BY node ORDER BY node LIMIT $3",
    )
    .bind(companies)
    .bind(people)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The graph around company `idno` (which must exist): nodes up to `depth` roles
/// away, breadth first, at most `limit` of them; then every current role between them.
pub async fn graph(db: &PgPool, idno: &str, depth: u8, limit: usize) -> sqlx::Result<Graph> {
    let root = format!("{COMPANY}{idno}");
    let mut order: Vec<String> = vec![root.clone()];
    let mut seen: HashSet<String> = HashSet::from([root]);
    let mut hints: HashMap<String, String> = HashMap::new();
    let mut frontier: Vec<String> = order.clone();
    let mut truncated = false;
    for _ in 0..depth {
        if frontier.is_empty() || truncated {
            break;
        }
        let companies: Vec<&str> = frontier
            .iter()
            .filter_map(|n| n.strip_prefix(COMPANY))
            .collect();
        let people: Vec<&str> = frontier
            .iter()
            .filter_map(|n| n.strip_prefix(PERSON))
            .collect();
        let room = limit.saturating_sub(order.len());
        // Enough rows for `room` new nodes even if every node already seen comes back.
        let want = i64::try_from(room + seen.len() + 1).unwrap_or(i64::MAX);
        let found = neighbours(db, &companies, &people, want).await?;
        let mut next = Vec::new();
        for (node, hint) in found {
            if seen.contains(&node) {
                continue;
            }
            if next.len() == room {
                truncated = true;
                break;
            }
            if let Some(h) = hint {
                hints.insert(node.clone(), h);
            }
            seen.insert(node.clone());
            next.push(node);
        }
        order.extend(next.iter().cloned());
        frontier = next;
    }
    let companies: Vec<&str> = order
        .iter()
        .filter_map(|n| n.strip_prefix(COMPANY))
        .collect();
    let people: Vec<&str> = order
        .iter()
        .filter_map(|n| n.strip_prefix(PERSON))
        .collect();
    let mut labels: HashMap<String, String> = HashMap::new();
    for (id, name) in sqlx::query_as::<_, (String, String)>(
        "SELECT 'company:' || idno, name FROM company_search WHERE idno = ANY($1) \
         UNION ALL SELECT 'person:' || id, name FROM people WHERE id = ANY($2)",
    )
    .bind(&companies)
    .bind(&people)
    .fetch_all(db)
    .await?
    {
        labels.insert(id, name);
    }
    let nodes = order
        .iter()
        .map(|id| {
            let (kind, bare) = match id.strip_prefix(PERSON) {
                Some(p) => (NodeKind::Person, p),
                None => (NodeKind::Company, id.strip_prefix(COMPANY).unwrap_or(id)),
            };
            let label = labels
                .get(id)
                .or_else(|| hints.get(id))
                .cloned()
                .unwrap_or_else(|| bare.to_owned());
            Node {
                id: id.clone(),
                kind,
                label,
            }
        })
        .collect();
    let rows: Vec<(Option<String>, String, String, Option<f64>)> = sqlx::query_as(
        "SELECT CASE WHEN holder_kind = 'person' THEN 'person:' || person_id \
                     ELSE 'company:' || holder_company END, \
                'company:' || idno, role, share \
         FROM company_roles_linked WHERE idno = ANY($1) AND current",
    )
    .bind(&companies)
    .fetch_all(db)
    .await?;
    let mut edges: Vec<Edge> = rows
        .into_iter()
        .filter_map(|(from, to, role, share)| {
            let from = from.filter(|f| seen.contains(f))?;
            Some(Edge {
                from,
                to,
                kind: RoleKind::parse(&role)?,
                share,
            })
        })
        .collect();
    edges.sort_by(|a, b| (&a.from, &a.to, a.kind).cmp(&(&b.from, &b.to, b.kind)));
    // Two roles of one kind can name one company (by IDNO and by name): one edge.
    edges.dedup_by(|a, b| (&a.from, &a.to, a.kind) == (&b.from, &b.to, b.kind));
    Ok(Graph {
        nodes,
        edges,
        truncated,
    })
}

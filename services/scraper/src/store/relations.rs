//! People and the roles they and companies hold: written by the Transform in the
//! company's own transaction ([`sync`]), read by the people, related and graph routes.
//!
//! Related companies and the graph follow current roles only: a role a later run no
//! longer sees still shows under its person (`current: false`), but ties nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use utoipa::ToSchema;

use crate::company::CompanyRecord;
use crate::relations::{HolderKind, Role, RoleKey, RoleKind, roles_of};
use crate::store::companies::{MAX_EXACT_TOTAL, RANK_LIMIT};

/// A role row as stored, for the diff.
struct StoredRole {
    role: Role,
    current: bool,
}

async fn stored_roles(tx: &mut PgConnection, idno: &str) -> sqlx::Result<Vec<StoredRole>> {
    let rows = sqlx::query(
        "SELECT role, holder_kind, holder_key, holder_idno, holder_name, share, function, current \
         FROM company_roles WHERE idno = $1",
    )
    .bind(idno)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let role: String = r.try_get("role")?;
        let kind: String = r.try_get("holder_kind")?;
        // The table's CHECKs admit only these names.
        let (Some(role), Some(holder_kind)) = (RoleKind::parse(&role), HolderKind::parse(&kind))
        else {
            continue;
        };
        out.push(StoredRole {
            role: Role {
                key: RoleKey {
                    role,
                    holder_kind,
                    holder_key: r.try_get("holder_key")?,
                },
                person_key: None,
                holder_idno: r.try_get("holder_idno")?,
                holder_name: r.try_get("holder_name")?,
                share: r.try_get("share")?,
                function: r.try_get("function")?,
            },
            current: r.try_get("current")?,
        });
    }
    Ok(out)
}

/// A row to insert: the role, whether it is current, and whether its `since` is
/// the time of this write (else null: present when the company was first observed).
struct Insert<'a> {
    role: &'a Role,
    current: bool,
    dated: bool,
}

/// Bring the roles of company `record.idno` in line with `record`, in the caller's
/// transaction (the one that writes the company, whose row it has locked).
///
/// - `created`: the company is new in this write, so its roles were there when it was
///   first observed (`since` null).
/// - Otherwise, new roles start now, roles no longer named end now (`current` false,
///   `until` set), and a role that comes back is current again from now. A company
///   with no role recorded yet (written before roles were kept) first gets the roles of
///   `before`, its record as it was, as present from the start.
///
/// Returns how many rows it wrote.
pub async fn sync(
    tx: &mut PgConnection,
    record: &CompanyRecord,
    before: Option<&CompanyRecord>,
    created: bool,
) -> sqlx::Result<u64> {
    let idno = record.idno.as_str();
    let wanted = roles_of(record);
    let stored = if created {
        Vec::new()
    } else {
        stored_roles(tx, idno).await?
    };
    let mut inserts: Vec<Insert<'_>> = Vec::new();
    let mut updates: Vec<&Role> = Vec::new();
    let mut ends: Vec<&RoleKey> = Vec::new();
    let baseline;
    if created {
        inserts.extend(wanted.iter().map(|role| Insert {
            role,
            current: true,
            dated: false,
        }));
    } else if stored.is_empty() {
        // Never recorded: what the company had before this write was there from the start.
        baseline = before.map(roles_of).unwrap_or_default();
        let old: HashSet<&RoleKey> = baseline.iter().map(|r| &r.key).collect();
        let new: HashSet<&RoleKey> = wanted.iter().map(|r| &r.key).collect();
        inserts.extend(wanted.iter().map(|role| Insert {
            role,
            current: true,
            dated: !old.contains(&role.key),
        }));
        inserts.extend(
            baseline
                .iter()
                .filter(|r| !new.contains(&r.key))
                .map(|role| Insert {
                    role,
                    current: false,
                    dated: false,
                }),
        );
    } else {
        let by_key: HashMap<&RoleKey, &StoredRole> =
            stored.iter().map(|s| (&s.role.key, s)).collect();
        for role in &wanted {
            match by_key.get(&role.key) {
                None => inserts.push(Insert {
                    role,
                    current: true,
                    dated: true,
                }),
                Some(s) if !s.current || !s.role.same_details(role) => updates.push(role),
                Some(_) => {}
            }
        }
        let new: HashSet<&RoleKey> = wanted.iter().map(|r| &r.key).collect();
        ends.extend(
            stored
                .iter()
                .filter(|s| s.current && !new.contains(&s.role.key))
                .map(|s| &s.role.key),
        );
    }
    let mut written = 0;
    // People first (roles refer to them), in id order so that concurrent writers
    // take their locks in one order.
    let mut people: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for role in inserts
        .iter()
        .map(|i| i.role)
        .chain(updates.iter().copied())
    {
        if let (Some(id), Some(key)) = (role.person_id(), role.person_key.as_deref()) {
            people.insert(id, (role.holder_name.as_str(), key));
        }
    }
    if !people.is_empty() {
        let ids: Vec<&str> = people.keys().copied().collect();
        let names: Vec<&str> = people.values().map(|v| v.0).collect();
        let keys: Vec<&str> = people.values().map(|v| v.1).collect();
        // New people are inserted; a known one takes the spelling seen now. Rows are
        // inserted and locked in id order, so that writers of companies sharing people
        // never wait on each other in a cycle; only rows whose spelling differs are
        // locked, and with NO KEY UPDATE, which does not block the foreign-key checks
        // of roles that other writers insert.
        let inserted = sqlx::query(
            "INSERT INTO people (id, name, name_key, search) \
             SELECT id, name, name_key, to_tsvector('simple', name_key) \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, name, name_key) ORDER BY id \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&keys)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        written += inserted;
        if inserted < ids.len() as u64 {
            written += sqlx::query(
                "UPDATE people p SET name = v.name FROM ( \
                   SELECT o.id, n.name FROM people o \
                   JOIN unnest($1::text[], $2::text[]) AS n(id, name) ON n.id = o.id \
                   WHERE o.name <> n.name ORDER BY o.id FOR NO KEY UPDATE OF o) v \
                 WHERE p.id = v.id",
            )
            .bind(&ids)
            .bind(&names)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }
    if !inserts.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO company_roles (idno, role, holder_kind, holder_key, person_id, holder_idno, \
               holder_name, share, function, current, since, until) \
             SELECT ",
        );
        q.push_bind(idno).push(
            ", v.role, v.kind, v.key, v.person_id, v.holder_idno, v.holder_name, v.share, v.function, \
               v.current, CASE WHEN v.dated THEN now() END, CASE WHEN v.current THEN NULL ELSE now() END \
             FROM unnest(",
        );
        let col = |f: fn(&Insert<'_>) -> Option<String>| -> Vec<Option<String>> {
            inserts.iter().map(f).collect()
        };
        q.push_bind(col(|i| Some(i.role.key.role.as_str().to_owned())))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.key.holder_kind.as_str().to_owned())))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.key.holder_key.clone())))
            .push("::text[], ")
            .push_bind(col(|i| i.role.person_id().map(str::to_owned)))
            .push("::text[], ")
            .push_bind(col(|i| i.role.holder_idno.clone()))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.holder_name.clone())))
            .push("::text[], ")
            .push_bind(inserts.iter().map(|i| i.role.share).collect::<Vec<_>>())
            .push("::float8[], ")
            .push_bind(col(|i| i.role.function.clone()))
            .push("::text[], ")
            .push_bind(inserts.iter().map(|i| i.current).collect::<Vec<_>>())
            .push("::bool[], ")
            .push_bind(inserts.iter().map(|i| i.dated).collect::<Vec<_>>())
            .push(
                "::bool[]) AS v(role, kind, key, person_id, holder_idno, holder_name, share, function, \
                 current, dated)",
            );
        written += q.build().execute(&mut *tx).await?.rows_affected();
    }
    if !updates.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "UPDATE company_roles r SET holder_idno = v.holder_idno, holder_name = v.holder_name, \
               share = v.share, function = v.function, \
               since = CASE WHEN r.current THEN r.since ELSE now() END, until = NULL, current = true \
             FROM unnest(",
        );
        q.push_bind(
            updates
                .iter()
                .map(|r| r.key.role.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.key.holder_kind.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.key.holder_key.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.holder_idno.as_deref())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.holder_name.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(updates.iter().map(|r| r.share).collect::<Vec<_>>())
        .push("::float8[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.function.as_deref())
                .collect::<Vec<_>>(),
        )
        .push(
            "::text[]) AS v(role, kind, key, holder_idno, holder_name, share, function) \
             WHERE r.idno = ",
        )
        .push_bind(idno)
        .push(" AND r.role = v.role AND r.holder_kind = v.kind AND r.holder_key = v.key");
        written += q.build().execute(&mut *tx).await?.rows_affected();
    }
    if !ends.is_empty() {
        written += sqlx::query(
            "UPDATE company_roles r SET current = false, until = now() \
             FROM unnest($2::text[], $3::text[], $4::text[]) AS v(role, kind, key) \
             WHERE r.idno = $1 AND r.current AND r.role = v.role AND r.holder_kind = v.kind \
               AND r.holder_key = v.key",
        )
        .bind(idno)
        .bind(ends.iter().map(|k| k.role.as_str()).collect::<Vec<_>>())
        .bind(
            ends.iter()
                .map(|k| k.holder_kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            ends.iter()
                .map(|k| k.holder_key.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(written)
}

/// How many roles `record` names, to compare with the current rows (the cheap check
/// of an unchanged company).
pub fn role_count(record: &CompanyRecord) -> i64 {
    i64::try_from(roles_of(record).len()).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Reads

/// A person in a list.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct PersonSummary {
    /// Stable person id (20 hex digits).
    pub id: String,
    /// The spelling of the name last seen.
    pub name: String,
    /// Distinct companies the person holds or held a role in.
    pub companies: i64,
}

/// A page of people.
#[derive(Debug, Clone)]
pub struct PeoplePage {
    /// This page.
    pub items: Vec<PersonSummary>,
    /// Matches, counted exactly up to [`MAX_EXACT_TOTAL`].
    pub total: i64,
    /// Whether `total` is exact.
    pub total_exact: bool,
}

/// A search of people: the words of the query folded as names are, and a role.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    /// Folded words ([`crate::names::words`]); each must begin a word of the name.
    pub words: Vec<String>,
    /// Only people who hold or held this role somewhere.
    pub role: Option<RoleKind>,
}

impl PeopleFilter {
    /// The text search query: every word as a prefix (the words hold only letters
    /// and digits, so nothing in them is query syntax).
    fn tsquery(&self) -> Option<String> {
        (!self.words.is_empty()).then(|| {
            self.words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" & ")
        })
    }

    fn push_where(&self, qb: &mut QueryBuilder<Postgres>) {
        if let Some(tsq) = self.tsquery() {
            qb.push(" AND p.search @@ to_tsquery('simple', ")
                .push_bind(tsq)
                .push(")");
        }
        if let Some(role) = self.role {
            qb.push(
                " AND EXISTS (SELECT 1 FROM company_roles r WHERE r.person_id = p.id AND r.role = ",
            )
            .push_bind(role.as_str())
            .push(")");
        }
    }
}

/// A page of people matching `filter`: with words, the exact name first, then by rank
/// (when at most [`RANK_LIMIT`] match), then by folded name.
pub async fn search_people(
    db: &PgPool,
    filter: &PeopleFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<PeoplePage> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM people p WHERE true");
    filter.push_where(&mut count);
    count
        .push(" LIMIT ")
        .push_bind(MAX_EXACT_TOTAL + 1)
        .push(") capped");
    let n: i64 = count
        .build_query_scalar()
        .persistent(false)
        .fetch_one(db)
        .await?;
    let mut qb = QueryBuilder::new(
        "SELECT p.id, p.name, \
           (SELECT count(DISTINCT r.idno) FROM company_roles r WHERE r.person_id = p.id) AS companies \
         FROM people p WHERE true",
    );
    filter.push_where(&mut qb);
    match filter.tsquery() {
        Some(tsq) if n <= RANK_LIMIT => {
            let mut sorted = filter.words.clone();
            sorted.sort_unstable();
            qb.push(" ORDER BY p.name_key = ")
                .push_bind(sorted.join(" "))
                .push(" DESC, ts_rank(p.search, to_tsquery('simple', ")
                .push_bind(tsq)
                .push(")) DESC, p.name_key, p.id");
        }
        _ => {
            qb.push(" ORDER BY p.name_key, p.id");
        }
    }
    qb.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let items = qb
        .build_query_as::<PersonSummary>()
        .persistent(false)
        .fetch_all(db)
        .await?;
    Ok(PeoplePage {
        items,
        total: n.min(MAX_EXACT_TOTAL),
        total_exact: n <= MAX_EXACT_TOTAL,
    })
}

/// A role a person holds or held.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct PersonRole {
    /// The company's IDNO.
    pub idno: String,
    /// The company's name.
    pub company_name: String,
    /// `founder` or `administrator`.
    pub role: RoleKind,
    /// A founder's share, in percent.
    pub share: Option<f64>,
    /// An administrator's title as the source gives it.
    pub function: Option<String>,
    /// Whether the latest run still sees the role.
    pub current: bool,
    /// When the role was first observed; null when it was there when the company was.
    pub since: Option<DateTime<Utc>>,
    /// When a run first no longer saw it.
    pub until: Option<DateTime<Utc>>,
}

/// A person and every role held under their name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    /// Stable person id.
    pub id: String,
    /// The spelling of the name last seen.
    pub name: String,
    /// Roles, current first, then by company name.
    pub roles: Vec<PersonRole>,
}

/// One person by id.
pub async fn person(db: &PgPool, id: &str) -> sqlx::Result<Option<Person>> {
    let Some(name) = sqlx::query_scalar::<_, String>("SELECT name FROM people WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT r.idno, c.name AS company_name, r.role, r.share, r.function, r.current, r.since, r.until \
         FROM company_roles r JOIN company_search c ON c.idno = r.idno \
         WHERE r.person_id = $1 ORDER BY r.current DESC, c.name_key, r.idno, r.role",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let mut roles = Vec::with_capacity(rows.len());
    for r in rows {
        let role: String = r.try_get("role")?;
        let Some(role) = RoleKind::parse(&role) else {
            continue;
        };
        roles.push(PersonRole {
            idno: r.try_get("idno")?,
            company_name: r.try_get("company_name")?,
            role,
            share: r.try_get("share")?,
            function: r.try_get("function")?,
            current: r.try_get("current")?,
            since: r.try_get("since")?,
            until: r.try_get("until")?,
        });
    }
    Ok(Some(Person {
        id: id.to_owned(),
        name,
        roles,
    }))
}

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

const COMPANY: &str = "company:";
const PERSON: &str = "person:";

/// The nodes next to the companies `companies` and the people `people`, by id, at
/// most `limit` of them, with a label for companies known only from a role.
async fn neighbours(
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

//! Reads behind the reconciliation service (`/api/v1/reconcile`): candidates for a
//! batch of queries in one statement, entity suggestions, data extension and previews.
//!
//! Every value reaches PostgreSQL as a bound parameter; the callers have folded and
//! bounded it (see `routes::reconcile`).

use chrono::NaiveDate;
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::names;

/// How many near names (by trigram distance, among names of the query's initial) a
/// query considers before scoring, beyond its `limit`.
pub const NEAR_EXTRA: i64 = 10;
/// How many companies of exactly the queried name each query considers.
pub const EXACT_POOL: i64 = 25;

/// One reconciliation query, folded for the database.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The query string as `names::name_key` (empty: no name to match).
    pub company_key: String,
    /// The query string as `names::person_key` (empty: no name to match).
    pub person_key: String,
    /// An IDNO to look up (empty: none).
    pub idno: String,
    /// A city the company should be in (ranks namesakes; empty: none).
    pub city: String,
    /// Whether companies are wanted.
    pub companies: bool,
    /// Whether people are wanted.
    pub people: bool,
    /// How many nearest names to consider (the query's limit and [`NEAR_EXTRA`]).
    pub near: i64,
    /// Look for near names even when `limit` companies have exactly the name: a
    /// property may lift a near name above a namesake. Without one, no near name can
    /// outscore an exact one, so the nearest-name scan is skipped.
    pub near_always: bool,
}

/// A company or a person found for a probe, with what the scoring needs.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index of the probe in the batch.
    pub probe: usize,
    /// A company (IDNO) or a person (§ people id).
    pub kind: CandidateKind,
    /// IDNO or person id.
    pub id: String,
    /// Name as the registry writes it.
    pub name: String,
    /// City (companies).
    pub city: Option<String>,
    /// Legal form (companies).
    pub legal_form: Option<String>,
    /// `active` or `inactive` (companies).
    pub status: Option<String>,
    /// The probe's IDNO is this company's.
    pub idno_hit: bool,
    /// The folded name equals the probe's.
    pub exact: bool,
    /// Trigram similarity of the folded names, 0 to 1.
    pub similarity: f32,
    /// How many companies have exactly the probe's folded name (companies).
    pub namesakes: i64,
    /// In how many companies the person holds or held a role (people).
    pub companies: i64,
}

/// What a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    /// A company; its id is its IDNO.
    Company,
    /// A person; its id is the person id.
    Person,
}

/// The candidates of every probe of a batch, in one statement: for each probe the
/// company with its IDNO, the companies of exactly its folded name, the nearest names
/// by trigram distance among those with the query's first letter or digit (a scan of a
/// two-column GiST index each), and the same for people.
const CANDIDATES: &str = "\
WITH q AS (
  SELECT q.*,
         left(regexp_replace(q.ckey, '[^a-z0-9]+', '', 'g'), 1) AS cinitial,
         left(regexp_replace(q.pkey, '[^a-z0-9]+', '', 'g'), 1) AS pinitial
    FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bool[],
                $8::text[], $9::int8[], $11::bool[])
      AS q(ord, ckey, pkey, idno, city, companies, people, pid, pool, near_always)
), n AS (
  SELECT q.ord,
         CASE WHEN q.ckey = '' OR NOT q.companies THEN 0
              ELSE (SELECT count(*) FROM company_search c WHERE c.name_norm = q.ckey) END AS namesakes
    FROM q
)
SELECT q.ord, 'company' AS kind, s.idno AS id, s.name, s.city, s.legal_form, s.status,
       s.idno = q.idno AS idno_hit,
       coalesce(s.name_norm = q.ckey, false) AS exact,
       CASE WHEN q.ckey = '' THEN 0::real ELSE similarity(s.name_key, q.ckey) END AS sim,
       n.namesakes, 0::bigint AS roles
FROM q
JOIN n ON n.ord = q.ord
CROSS JOIN LATERAL (
    SELECT c.idno FROM company_search c WHERE q.companies AND q.idno <> '' AND c.idno = q.idno
    UNION
    (SELECT c.idno FROM company_search c
      WHERE q.companies AND q.ckey <> '' AND c.name_norm = q.ckey
      ORDER BY (c.city_key = lower(unaccent(q.city))) DESC NULLS LAST, c.idno
      LIMIT $10)
    UNION
    (SELECT c.idno FROM company_search c
      WHERE q.companies AND q.ckey <> '' AND (q.near_always OR n.namesakes < q.pool - $12)
        AND left(regexp_replace(c.name_key, '[^a-z0-9]+', '', 'g'), 1) = q.cinitial
      ORDER BY c.name_key <-> q.ckey
      LIMIT q.pool)
) found
JOIN company_search s ON s.idno = found.idno
UNION ALL
SELECT q.ord, 'person', p.id, p.name, NULL, NULL, NULL,
       false,
       p.name_key = q.pkey,
       similarity(p.name_key, q.pkey),
       0::bigint,
       (SELECT count(DISTINCT r.idno) FROM company_roles r WHERE r.person_id = p.id)
FROM q
CROSS JOIN LATERAL (
    SELECT pp.id FROM people pp WHERE q.people AND q.pid <> '' AND pp.id = q.pid
    UNION
    (SELECT pp.id FROM people pp
      WHERE q.people AND q.pkey <> ''
        AND left(regexp_replace(pp.name_key, '[^a-z0-9]+', '', 'g'), 1) = q.pinitial
      ORDER BY pp.name_key <-> q.pkey
      LIMIT q.pool)
) found
JOIN people p ON p.id = found.id";

/// The candidates of every probe, in one round trip (see [`CANDIDATES`]).
pub async fn candidates(db: &PgPool, probes: &[Probe]) -> sqlx::Result<Vec<Candidate>> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let ords: Vec<i32> = (0..probes.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let col = |f: fn(&Probe) -> &str| -> Vec<&str> { probes.iter().map(f).collect() };
    let rows = sqlx::query(CANDIDATES)
        .bind(&ords)
        .bind(col(|p| &p.company_key))
        .bind(col(|p| &p.person_key))
        .bind(col(|p| &p.idno))
        .bind(col(|p| &p.city))
        .bind(probes.iter().map(|p| p.companies).collect::<Vec<_>>())
        .bind(probes.iter().map(|p| p.people).collect::<Vec<_>>())
        .bind(
            probes
                .iter()
                .map(|p| {
                    if p.person_key.is_empty() {
                        String::new()
                    } else {
                        names::id_of_key(&p.person_key)
                    }
                })
                .collect::<Vec<_>>(),
        )
        .bind(probes.iter().map(|p| p.near).collect::<Vec<_>>())
        .bind(EXACT_POOL)
        .bind(probes.iter().map(|p| p.near_always).collect::<Vec<_>>())
        .bind(NEAR_EXTRA)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let ord: i32 = row.try_get("ord")?;
            let kind: String = row.try_get("kind")?;
            Ok(Candidate {
                probe: usize::try_from(ord).unwrap_or(usize::MAX),
                kind: if kind == "person" {
                    CandidateKind::Person
                } else {
                    CandidateKind::Company
                },
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                city: row.try_get("city")?,
                legal_form: row.try_get("legal_form")?,
                status: row.try_get("status")?,
                idno_hit: row.try_get::<Option<bool>, _>("idno_hit")?.unwrap_or(false),
                exact: row.try_get::<Option<bool>, _>("exact")?.unwrap_or(false),
                similarity: row.try_get::<Option<f32>, _>("sim")?.unwrap_or(0.0),
                namesakes: row.try_get("namesakes")?,
                companies: row.try_get::<Option<i64>, _>("roles")?.unwrap_or(0),
            })
        })
        .collect()
}

/// An entity suggested for a prefix.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// A company or a person.
    pub kind: CandidateKind,
    /// IDNO or person id.
    pub id: String,
    /// Name.
    pub name: String,
    /// City (companies).
    pub city: Option<String>,
    /// Legal form (companies).
    pub legal_form: Option<String>,
    /// Companies the person holds or held a role in (people).
    pub companies: i64,
}

/// Entities whose name has a word starting with each of `words` (already folded by
/// `names::words`: letters and digits only), companies first, each in name order; or,
/// for an all-digit prefix, the companies whose IDNO starts with it.
pub async fn suggest(
    db: &PgPool,
    words: &[String],
    idno_prefix: Option<&str>,
    companies: bool,
    people: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Suggestion>> {
    // Letters and digits only, so quoting each word is enough for to_tsquery's syntax.
    let company_query = words
        .iter()
        .map(|w| format!("'{w}':*A"))
        .collect::<Vec<_>>()
        .join(" & ");
    let person_query = words
        .iter()
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" & ");
    // The IDNO prefix as a range of the primary key: [prefix, prefix + ':') (':' follows '9').
    let (idno_from, idno_to) = match idno_prefix {
        Some(p) => (p.to_string(), format!("{p}:")),
        None => (String::new(), String::new()),
    };
    let rows = sqlx::query(
        "SELECT * FROM (
           (SELECT 0 AS rank, 'company' AS kind, s.idno AS id, s.name, s.city, s.legal_form, 0::bigint AS roles, s.name_key AS key
              FROM company_search s
             WHERE $3 AND $6 <> '' AND s.idno >= $6 AND s.idno < $7
             ORDER BY s.idno LIMIT $4 + $5)
           UNION ALL
           (SELECT 1, 'company', s.idno, s.name, s.city, s.legal_form, 0::bigint, s.name_key
              FROM company_search s
             WHERE $3 AND $1 <> '' AND s.search @@ to_tsquery('simple', $1)
             ORDER BY s.name_key, s.idno LIMIT $4 + $5)
           UNION ALL
           (SELECT 2, 'person', p.id, p.name, NULL, NULL,
                   (SELECT count(DISTINCT r.idno) FROM company_roles r WHERE r.person_id = p.id), p.name_key
              FROM people p
             WHERE $8 AND $2 <> '' AND p.search @@ to_tsquery('simple', $2)
             ORDER BY p.name_key, p.id LIMIT $4 + $5)
         ) found
         ORDER BY rank, key, id LIMIT $4 OFFSET $5",
    )
    .bind(&company_query)
    .bind(&person_query)
    .bind(companies)
    .bind(limit)
    .bind(offset)
    .bind(&idno_from)
    .bind(&idno_to)
    .bind(people)
    .fetch_all(db)
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        // An IDNO prefix and a name word may find the same company.
        if !seen.insert(id.clone()) {
            continue;
        }
        let kind: String = row.try_get("kind")?;
        out.push(Suggestion {
            kind: if kind == "person" {
                CandidateKind::Person
            } else {
                CandidateKind::Company
            },
            id,
            name: row.try_get("name")?,
            city: row.try_get("city")?,
            legal_form: row.try_get("legal_form")?,
            companies: row.try_get::<Option<i64>, _>("roles")?.unwrap_or(0),
        });
    }
    Ok(out)
}

/// A company's fields as data extension and the preview show them.
#[derive(Debug, Clone)]
pub struct CompanyFacts {
    /// IDNO.
    pub idno: String,
    /// Name.
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
    /// Legal form.
    pub legal_form: Option<String>,
    /// Registration date.
    pub registered_at: Option<NaiveDate>,
    /// City.
    pub city: Option<String>,
    /// The whole address.
    pub address: Option<String>,
    /// Founders as stored (`[{name, kind, share, idno?}]`).
    pub founders: Value,
    /// Administrators as stored (`[{name, role, kind?, idno?}]`).
    pub administrators: Value,
}

/// The companies among `idnos` (unknown ones are left out).
pub async fn companies(db: &PgPool, idnos: &[String]) -> sqlx::Result<Vec<CompanyFacts>> {
    if idnos.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT idno, name, status, legal_form, registered_at, address->>'city' AS city,
                address->>'full' AS address, founders, administrators
           FROM companies WHERE idno = ANY($1)",
    )
    .bind(idnos)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CompanyFacts {
                idno: row.try_get("idno")?,
                name: row.try_get("name")?,
                status: row.try_get("status")?,
                legal_form: row.try_get("legal_form")?,
                registered_at: row.try_get("registered_at")?,
                city: row.try_get("city")?,
                address: row.try_get("address")?,
                founders: row.try_get("founders")?,
                administrators: row.try_get("administrators")?,
            })
        })
        .collect()
}

/// A person with the companies they hold or held a role in.
#[derive(Debug, Clone)]
pub struct PersonFacts {
    /// Person id.
    pub id: String,
    /// Name, as last seen.
    pub name: String,
    /// Up to five companies: IDNO, name and role, current ones first.
    pub roles: Vec<(String, String, String)>,
    /// How many distinct companies in all.
    pub companies: i64,
}

/// The people among `ids` (unknown ones are left out), each with up to five roles.
pub async fn people(db: &PgPool, ids: &[String]) -> sqlx::Result<Vec<PersonFacts>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT p.id, p.name,
                (SELECT count(DISTINCT r.idno) FROM company_roles r WHERE r.person_id = p.id) AS companies,
                coalesce((SELECT jsonb_agg(jsonb_build_array(x.idno, x.name, x.role))
                            FROM (SELECT r.idno, c.name, r.role FROM company_roles r
                                    JOIN companies c ON c.idno = r.idno
                                   WHERE r.person_id = p.id
                                   ORDER BY r.current DESC, c.name, r.idno, r.role LIMIT 5) x),
                         '[]'::jsonb) AS roles
           FROM people p WHERE p.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            let roles: Value = row.try_get("roles")?;
            let roles = roles
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|r| {
                            let text = |i: usize| r.get(i)?.as_str().map(str::to_owned);
                            Some((text(0)?, text(1)?, text(2)?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(PersonFacts {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                roles,
                companies: row.try_get("companies")?,
            })
        })
        .collect()
}

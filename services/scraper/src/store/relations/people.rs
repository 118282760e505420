//! People: search and one person with their roles.

#[allow(unused_imports)]
use super::*;

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

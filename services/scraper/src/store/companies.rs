//! Companies, their history and financials: writes from the transform,
//! reads for the companies API.

use chrono::{DateTime, NaiveDate, Utc};
use gleaner_common::events::CompanyChanged;
use gleaner_common::outbox;
use gleaner_scrapejob::Idno;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::OUTBOX_TABLE;
use super::relations;
use crate::company::{Company, CompanyRecord, FieldChange, FinancialYear, SourceInfo};
use crate::names;

/// Where a record came from.
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    pub url: &'a str,
    pub fetched_at: DateTime<Utc>,
    pub document_id: i64,
    pub parser_version: i32,
    pub run_id: Option<Uuid>,
    /// The shard of the run that writes (its counters count the write in the same
    /// transaction).
    pub shard: Option<u32>,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A new company.
    Created,
    /// These fields changed.
    Updated(Vec<FieldChange>),
    /// Nothing changed.
    Unchanged,
}

impl Write {
    /// Label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Write::Created => "created",
            Write::Updated(_) => "updated",
            Write::Unchanged => "unchanged",
        }
    }
}

/// Refresh the search projection of one company from its row (`$2`: its name as
/// [`names::name_key`] folds it, to link founders named without an IDNO).
const REFRESH_SEARCH: &str = "INSERT INTO company_search \
     SELECT c.idno, c.name, c.legal_form, c.status, c.registered_at, c.address->>'city', c.updated_at, \
       setweight(to_tsvector('simple', unaccent(c.name)), 'A') || \
       setweight(to_tsvector('simple', unaccent(coalesce(c.address->>'full', '') || ' ' || coalesce(c.address->>'city', ''))), 'B') || \
       setweight(to_tsvector('simple', unaccent(coalesce((SELECT string_agg(a->>'name', ' ') FROM jsonb_array_elements(c.activities) a), ''))), 'C'), \
       lower(unaccent(c.name)), lower(unaccent(c.address->>'city')), lower(c.legal_form), \
       ARRAY(SELECT a->>'code' FROM jsonb_array_elements(c.activities) a), $2 \
     FROM companies c WHERE c.idno = $1 \
     ON CONFLICT (idno) DO UPDATE SET name = EXCLUDED.name, legal_form = EXCLUDED.legal_form, \
       status = EXCLUDED.status, registered_at = EXCLUDED.registered_at, city = EXCLUDED.city, \
       updated_at = EXCLUDED.updated_at, search = EXCLUDED.search, name_key = EXCLUDED.name_key, \
       city_key = EXCLUDED.city_key, legal_form_key = EXCLUDED.legal_form_key, activity_codes = EXCLUDED.activity_codes, \
       name_norm = EXCLUDED.name_norm";

fn record_from_row(row: &sqlx::postgres::PgRow) -> sqlx::Result<CompanyRecord> {
    let json = |name: &str| -> sqlx::Result<Value> { row.try_get(name) };
    fn decode<T: serde::de::DeserializeOwned>(name: &str, v: Value) -> sqlx::Result<T> {
        serde_json::from_value(v).map_err(|e| sqlx::Error::ColumnDecode {
            index: name.to_string(),
            source: Box::new(e),
        })
    }
    let status: String = row.try_get("status")?;
    let idno: String = row.try_get("idno")?;
    Ok(CompanyRecord {
        idno: Idno::parse(&idno).map_err(|e| sqlx::Error::ColumnDecode {
            index: "idno".to_owned(),
            source: Box::new(e),
        })?,
        name: row.try_get("name")?,
        legal_form: row.try_get("legal_form")?,
        status: decode("status", Value::String(status))?,
        registered_at: row.try_get("registered_at")?,
        address: decode("address", json("address")?)?,
        activities: decode("activities", json("activities")?)?,
        founders: decode("founders", json("founders")?)?,
        administrators: decode("administrators", json("administrators")?)?,
    })
}

const RECORD_COLUMNS: &str =
    "idno, name, legal_form, status, registered_at, address, activities, founders, administrators";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Bind a record and its provenance as `$1..$13`, in the column order of
/// the INSERT and the UPDATE below.
fn bind_record<'q>(
    q: PgQuery<'q>,
    record: &'q CompanyRecord,
    from: &Provenance<'q>,
) -> PgQuery<'q> {
    q.bind(record.idno.as_str())
        .bind(&record.name)
        .bind(&record.legal_form)
        .bind(record.status.as_str())
        .bind(record.registered_at)
        .bind(json!(record.address))
        .bind(json!(record.activities))
        .bind(json!(record.founders))
        .bind(json!(record.administrators))
        .bind(from.url)
        .bind(from.fetched_at)
        .bind(from.document_id)
        .bind(from.parser_version)
}

/// Insert or update a company; every changed field goes to its history, and
/// a `company.changed` event to the outbox, its roles to `company_roles` and `people`
/// ([`relations::sync`]), in one transaction.
pub async fn upsert(
    db: &PgPool,
    record: &CompanyRecord,
    from: &Provenance<'_>,
) -> sqlx::Result<Write> {
    let mut tx = db.begin().await?;
    let insert = sqlx::query(
        "INSERT INTO companies (idno, name, legal_form, status, registered_at, address, activities, founders, \
           administrators, source_url, source_fetched_at, source_document_id, parser_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (idno) DO NOTHING RETURNING idno",
    );
    let inserted = bind_record(insert, record, from)
        .fetch_optional(&mut *tx)
        .await?;
    let name_norm = names::name_key(&record.name);
    if inserted.is_some() {
        sqlx::query(REFRESH_SEARCH)
            .bind(record.idno.as_str())
            .bind(&name_norm)
            .execute(&mut *tx)
            .await?;
        relations::sync(&mut tx, record, None, true).await?;
        if let (Some(run), Some(shard)) = (from.run_id, from.shard) {
            crate::store::runs::count_company(&mut tx, run, shard, true).await?;
        }
        tx.commit().await?;
        return Ok(Write::Created);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}, \
           (SELECT s.name_norm FROM company_search s WHERE s.idno = companies.idno) AS name_norm, \
           (SELECT count(*) FROM company_roles r WHERE r.idno = companies.idno AND r.current) AS current_roles \
         FROM companies WHERE idno = $1 FOR UPDATE"
    )))
    .bind(record.idno.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let before = record_from_row(&row)?;
    let stored_name_norm: Option<String> = row.try_get("name_norm")?;
    let current_roles: i64 = row.try_get("current_roles")?;
    let changes = record.changes_since(&before);
    // Provenance always follows the newest document, changed or not;
    // `updated_at` moves only when a field did.
    let update = sqlx::query(
        "UPDATE companies SET name = $2, legal_form = $3, status = $4, registered_at = $5, address = $6, \
           activities = $7, founders = $8, administrators = $9, source_url = $10, source_fetched_at = $11, \
           source_document_id = $12, parser_version = $13, \
           updated_at = CASE WHEN $14 THEN now() ELSE updated_at END \
         WHERE idno = $1",
    );
    bind_record(update, record, from)
        .bind(!changes.is_empty())
        .execute(&mut *tx)
        .await?;
    if changes.is_empty() {
        // Nothing changed, so neither did the roles, unless they were never recorded
        // (a company written before roles were kept: a re-transform fills them in) or
        // do not match the record (fewer or more current rows than it names).
        if stored_name_norm.as_deref() != Some(name_norm.as_str()) {
            sqlx::query("UPDATE company_search SET name_norm = $2 WHERE idno = $1")
                .bind(record.idno.as_str())
                .bind(&name_norm)
                .execute(&mut *tx)
                .await?;
        }
        if current_roles != relations::role_count(record) {
            relations::sync(&mut tx, record, Some(&before), false).await?;
        }
        tx.commit().await?;
        return Ok(Write::Unchanged);
    }
    sqlx::query(REFRESH_SEARCH)
        .bind(record.idno.as_str())
        .bind(&name_norm)
        .execute(&mut *tx)
        .await?;
    relations::sync(&mut tx, record, Some(&before), false).await?;
    for change in &changes {
        sqlx::query(
            "INSERT INTO company_history (idno, field, old, new, run_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.idno.as_str())
        .bind(&change.field)
        .bind(&change.old)
        .bind(&change.new)
        .bind(from.run_id)
        .execute(&mut *tx)
        .await?;
    }
    let event = CompanyChanged {
        idno: record.idno.clone(),
        company_name: record.name.clone(),
        run_id: from.run_id,
        changes,
    };
    outbox::enqueue(&mut tx, OUTBOX_TABLE, &event).await?;
    if let (Some(run), Some(shard)) = (from.run_id, from.shard) {
        crate::store::runs::count_company(&mut tx, run, shard, false).await?;
    }
    tx.commit().await?;
    Ok(Write::Updated(event.changes))
}

/// Replace the financial years of a company found in one document.
pub async fn upsert_financials(
    db: &PgPool,
    idno: &str,
    years: &[FinancialYear],
    document_id: i64,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    for y in years {
        sqlx::query(
            "INSERT INTO financials (idno, year, revenue, net_profit, total_assets, equity, \"values\", source_document_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (idno, year) DO UPDATE SET revenue = $3, net_profit = $4, total_assets = $5, equity = $6, \
               \"values\" = $7, source_document_id = $8, updated_at = now()",
        )
        .bind(idno)
        .bind(y.year)
        .bind(y.revenue)
        .bind(y.net_profit)
        .bind(y.total_assets)
        .bind(y.equity)
        .bind(Value::Object(y.values.clone()))
        .bind(document_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// One company with provenance.
pub async fn get(db: &PgPool, idno: &str) -> sqlx::Result<Option<Company>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}, source_url, source_fetched_at, parser_version, updated_at \
         FROM companies WHERE idno = $1"
    )))
    .bind(idno)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(Company {
            record: record_from_row(&row)?,
            source: SourceInfo {
                url: row.try_get("source_url")?,
                fetched_at: row.try_get("source_fetched_at")?,
                parser_version: row.try_get("parser_version")?,
            },
            updated_at: row.try_get("updated_at")?,
        })
    })
    .transpose()
}

/// Whether the company exists.
pub async fn exists(db: &PgPool, idno: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM companies WHERE idno = $1)")
        .bind(idno)
        .fetch_one(db)
        .await
}

/// One history entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct HistoryEntry {
    /// Company JSON path of the field.
    pub field: String,
    /// Value before.
    pub old: Option<Value>,
    /// Value after.
    pub new: Option<Value>,
    /// When the change was seen.
    pub observed_at: DateTime<Utc>,
    /// The run that saw it.
    pub run_id: Option<Uuid>,
}

/// A page of a company's history, newest first.
pub async fn history(
    db: &PgPool,
    idno: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<HistoryEntry>, i64)> {
    let items = sqlx::query_as(
        "SELECT field, old, new, observed_at, run_id FROM company_history WHERE idno = $1 \
         ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(idno)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM company_history WHERE idno = $1")
        .bind(idno)
        .fetch_one(db)
        .await?;
    Ok((items, total))
}

/// A company's financial years, oldest first.
pub async fn financials(db: &PgPool, idno: &str) -> sqlx::Result<Vec<FinancialYear>> {
    let rows = sqlx::query(
        "SELECT year, revenue, net_profit, total_assets, equity, \"values\" FROM financials \
         WHERE idno = $1 ORDER BY year",
    )
    .bind(idno)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let values: Value = r.try_get("values")?;
            Ok(FinancialYear {
                year: r.try_get("year")?,
                revenue: r.try_get("revenue")?,
                net_profit: r.try_get("net_profit")?,
                total_assets: r.try_get("total_assets")?,
                equity: r.try_get("equity")?,
                values: match values {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                },
            })
        })
        .collect()
}

/// A company in a list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct CompanySummary {
    /// Fiscal code.
    pub idno: String,
    /// Name.
    pub name: String,
    /// Legal form.
    pub legal_form: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    /// Registration date.
    pub registered_at: Option<NaiveDate>,
    /// City.
    pub city: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Sort orders of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By name, A to Z.
    Name,
    /// Newest registrations first.
    RegisteredDesc,
    /// Best match first (needs a query): ranked by `ts_rank_cd`, name weighing
    /// most. A query matching more than `RANK_LIMIT` companies is too broad
    /// to rank usefully and is listed by name instead.
    Relevance,
}

/// Search filters, all optional.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub q: Option<String>,
    pub status: Option<String>,
    pub legal_form: Option<String>,
    pub activity: Option<String>,
    pub city: Option<String>,
    pub registered_from: Option<NaiveDate>,
    pub registered_to: Option<NaiveDate>,
}

/// Totals are counted exactly up to this many matches; above it the total
/// is reported as this lower bound (`total_exact: false`), so that a query
/// matching half the registry costs about the same as one matching a page.
pub const MAX_EXACT_TOTAL: i64 = 5_000;

/// Largest match set ranked by relevance (ranking reads every match).
pub const RANK_LIMIT: i64 = 2_000;

const SUMMARY_COLUMNS: &str = "idno, name, legal_form, status, registered_at, city, updated_at";

/// Append `AND ...` for every filter present (only those: a generic
/// `($1 IS NULL OR ...)` form would keep PostgreSQL from using the indexes).
fn push_filters(qb: &mut QueryBuilder<Postgres>, f: &SearchFilter) {
    if let Some(q) = &f.q {
        qb.push(" AND search @@ websearch_to_tsquery('simple', unaccent(")
            .push_bind(q.clone())
            .push("))");
    }
    if let Some(status) = &f.status {
        qb.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(form) = &f.legal_form {
        qb.push(" AND legal_form_key = lower(")
            .push_bind(form.clone())
            .push(")");
    }
    if let Some(code) = &f.activity {
        qb.push(" AND activity_codes @> ARRAY[")
            .push_bind(code.clone())
            .push("::text]");
    }
    if let Some(city) = &f.city {
        qb.push(" AND city_key = lower(unaccent(")
            .push_bind(city.clone())
            .push("))");
    }
    if let Some(from) = f.registered_from {
        qb.push(" AND registered_at >= ").push_bind(from);
    }
    if let Some(to) = f.registered_to {
        qb.push(" AND registered_at <= ").push_bind(to);
    }
}

/// One page of a search, with the (possibly capped) total.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<CompanySummary>,
    pub total: i64,
    pub total_exact: bool,
}

/// A page of companies matching `filter`.
pub async fn search(
    db: &PgPool,
    filter: &SearchFilter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> sqlx::Result<SearchPage> {
    // Queries are not prepared: each is planned with its actual values, so a
    // rare word and a word in half the registry each get the plan that suits them.
    let mut count =
        QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM company_search WHERE true");
    push_filters(&mut count, filter);
    count
        .push(" LIMIT ")
        .push_bind(MAX_EXACT_TOTAL + 1)
        .push(") capped");
    let n: i64 = count
        .build_query_scalar()
        .persistent(false)
        .fetch_one(db)
        .await?;
    let total_exact = n <= MAX_EXACT_TOTAL;
    // A known-small match set is gathered whole and sorted (a few thousand
    // rows at most); a large one is read in index order and cut at the page,
    // which is quick because matches are dense.
    let mut qb = if total_exact {
        let mut qb = QueryBuilder::new(format!(
            "WITH matches AS MATERIALIZED (SELECT {SUMMARY_COLUMNS}, name_key, search FROM company_search WHERE true"
        ));
        push_filters(&mut qb, filter);
        qb.push(format!(") SELECT {SUMMARY_COLUMNS} FROM matches"));
        qb
    } else {
        let mut qb = QueryBuilder::new(format!(
            "SELECT {SUMMARY_COLUMNS} FROM company_search WHERE true"
        ));
        push_filters(&mut qb, filter);
        qb
    };
    match (sort, &filter.q) {
        (Sort::Relevance, Some(q)) if n <= RANK_LIMIT => {
            qb.push(" ORDER BY ts_rank_cd(search, websearch_to_tsquery('simple', unaccent(")
                .push_bind(q.clone())
                .push("))) DESC, name_key, idno");
        }
        (Sort::RegisteredDesc, _) => {
            qb.push(" ORDER BY registered_at DESC NULLS LAST, idno");
        }
        _ => {
            qb.push(" ORDER BY name_key, idno");
        }
    }
    qb.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let items = qb
        .build_query_as::<CompanySummary>()
        .persistent(false)
        .fetch_all(db)
        .await?;
    Ok(SearchPage {
        items,
        total: n.min(MAX_EXACT_TOTAL),
        total_exact,
    })
}

//! Companies, their history and financials: writes from the transform,
//! reads for the companies API.

use chrono::{DateTime, NaiveDate, Utc};
use gleaner_common::outbox;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::OUTBOX_TABLE;
use crate::company::{Company, CompanyRecord, FieldChange, FinancialYear, SourceInfo};

/// Where a record came from.
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    pub url: &'a str,
    pub fetched_at: DateTime<Utc>,
    pub document_id: i64,
    pub parser_version: i32,
    pub run_id: Option<Uuid>,
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

/// Text indexed for search: name (A), address (B), activities (C), unaccented.
const SEARCH_VECTOR: &str = "setweight(to_tsvector('simple', unaccent($2)), 'A') || \
     setweight(to_tsvector('simple', unaccent(coalesce($6->>'full', '') || ' ' || coalesce($6->>'city', ''))), 'B') || \
     setweight(to_tsvector('simple', unaccent(coalesce((SELECT string_agg(a->>'name', ' ') FROM jsonb_array_elements($7) a), ''))), 'C')";

fn record_from_row(row: &sqlx::postgres::PgRow) -> sqlx::Result<CompanyRecord> {
    let json = |name: &str| -> sqlx::Result<Value> { row.try_get(name) };
    fn decode<T: serde::de::DeserializeOwned>(name: &str, v: Value) -> sqlx::Result<T> {
        serde_json::from_value(v).map_err(|e| sqlx::Error::ColumnDecode {
            index: name.to_string(),
            source: Box::new(e),
        })
    }
    let status: String = row.try_get("status")?;
    Ok(CompanyRecord {
        idno: row.try_get("idno")?,
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

/// Insert or update a company; every changed field goes to its history, and
/// a `company.changed` event to the outbox, in one transaction.
pub async fn upsert(
    db: &PgPool,
    record: &CompanyRecord,
    from: &Provenance<'_>,
) -> sqlx::Result<Write> {
    let mut tx = db.begin().await?;
    let address = json!(record.address);
    let activities = json!(record.activities);
    let insert = format!(
        "INSERT INTO companies (idno, name, legal_form, status, registered_at, address, activities, founders, \
           administrators, source_url, source_fetched_at, source_document_id, parser_version, search, name_key, city_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {SEARCH_VECTOR}, lower(unaccent($2)), lower(unaccent($6->>'city'))) \
         ON CONFLICT (idno) DO NOTHING RETURNING idno"
    );
    let inserted: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(insert))
        .bind(&record.idno)
        .bind(&record.name)
        .bind(&record.legal_form)
        .bind(record.status.as_str())
        .bind(record.registered_at)
        .bind(&address)
        .bind(&activities)
        .bind(json!(record.founders))
        .bind(json!(record.administrators))
        .bind(from.url)
        .bind(from.fetched_at)
        .bind(from.document_id)
        .bind(from.parser_version)
        .fetch_optional(&mut *tx)
        .await?;
    if inserted.is_some() {
        tx.commit().await?;
        return Ok(Write::Created);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM companies WHERE idno = $1 FOR UPDATE"
    )))
    .bind(&record.idno)
    .fetch_one(&mut *tx)
    .await?;
    let before = record_from_row(&row)?;
    let changes = record.changes_since(&before);
    // Provenance always follows the newest document, changed or not.
    let touch_updated = if changes.is_empty() {
        "updated_at"
    } else {
        "now()"
    };
    let update = format!(
        "UPDATE companies SET name = $2, legal_form = $3, status = $4, registered_at = $5, address = $6, \
           activities = $7, founders = $8, administrators = $9, source_url = $10, source_fetched_at = $11, \
           source_document_id = $12, parser_version = $13, search = {SEARCH_VECTOR}, \
           name_key = lower(unaccent($2)), city_key = lower(unaccent($6->>'city')), updated_at = {touch_updated} \
         WHERE idno = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(update))
        .bind(&record.idno)
        .bind(&record.name)
        .bind(&record.legal_form)
        .bind(record.status.as_str())
        .bind(record.registered_at)
        .bind(&address)
        .bind(&activities)
        .bind(json!(record.founders))
        .bind(json!(record.administrators))
        .bind(from.url)
        .bind(from.fetched_at)
        .bind(from.document_id)
        .bind(from.parser_version)
        .execute(&mut *tx)
        .await?;
    if changes.is_empty() {
        tx.commit().await?;
        return Ok(Write::Unchanged);
    }
    for change in &changes {
        sqlx::query(
            "INSERT INTO company_history (idno, field, old, new, run_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.idno)
        .bind(&change.field)
        .bind(&change.old)
        .bind(&change.new)
        .bind(from.run_id)
        .execute(&mut *tx)
        .await?;
    }
    outbox::enqueue(
        &mut tx,
        OUTBOX_TABLE,
        "company.changed",
        &json!({
            "idno": record.idno,
            "company_name": record.name,
            "run_id": from.run_id,
            "changes": changes,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Write::Updated(changes))
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
    /// Best match first (needs a query).
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

/// A page of companies matching `filter`.
pub async fn search(
    db: &PgPool,
    filter: &SearchFilter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<CompanySummary>, i64)> {
    let where_clause = "($1::text IS NULL OR search @@ websearch_to_tsquery('simple', unaccent($1))) \
        AND ($2::text IS NULL OR status = $2) \
        AND ($3::text IS NULL OR lower(legal_form) = lower($3)) \
        AND ($4::text IS NULL OR activities @> jsonb_build_array(jsonb_build_object('code', $4::text))) \
        AND ($5::text IS NULL OR city_key = lower(unaccent($5))) \
        AND ($6::date IS NULL OR registered_at >= $6) \
        AND ($7::date IS NULL OR registered_at <= $7)";
    let order = match (sort, filter.q.is_some()) {
        (Sort::Relevance, true) => {
            "ts_rank_cd(search, websearch_to_tsquery('simple', unaccent($1))) DESC, name_key, idno"
        }
        (Sort::RegisteredDesc, _) => "registered_at DESC NULLS LAST, idno",
        _ => "name_key, idno",
    };
    let sql = format!(
        "SELECT idno, name, legal_form, status, registered_at, address->>'city' AS city, updated_at \
         FROM companies WHERE {where_clause} ORDER BY {order} LIMIT $8 OFFSET $9"
    );
    let bind = |q: sqlx::query::QueryAs<
        'static,
        sqlx::Postgres,
        CompanySummary,
        sqlx::postgres::PgArguments,
    >| {
        q.bind(filter.q.clone())
            .bind(filter.status.clone())
            .bind(filter.legal_form.clone())
            .bind(filter.activity.clone())
            .bind(filter.city.clone())
            .bind(filter.registered_from)
            .bind(filter.registered_to)
    };
    let items = bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await?;
    let count_sql = format!("SELECT count(*) FROM companies WHERE {where_clause}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(filter.q.clone())
        .bind(filter.status.clone())
        .bind(filter.legal_form.clone())
        .bind(filter.activity.clone())
        .bind(filter.city.clone())
        .bind(filter.registered_from)
        .bind(filter.registered_to)
        .fetch_one(db)
        .await?;
    Ok((items, total))
}

//! Load: raw documents, stored byte for byte before anything parses them.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fetch::{Fetched, Validators};
use crate::source::DocumentKind;

/// The newest stored copy of a URL.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LatestDoc {
    pub id: i64,
    pub sha256: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub parse_status: String,
    pub parser_version: Option<i32>,
}

impl LatestDoc {
    /// Validators for a conditional re-fetch.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }

    /// Whether the current parser has transformed this copy successfully.
    pub fn is_transformed(&self, parser_version: i32) -> bool {
        self.parse_status == "parsed" && self.parser_version == Some(parser_version)
    }
}

/// A stored document, body included.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RawDocument {
    pub id: i64,
    pub url: String,
    pub kind: String,
    pub idno: Option<String>,
    pub http_status: i32,
    pub content_type: Option<String>,
    pub sha256: String,
    pub body: Vec<u8>,
    pub fetched_at: DateTime<Utc>,
}

/// SHA-256 of a body, hex.
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The newest copy of `url`, if any.
pub async fn latest(db: &PgPool, url: &str) -> sqlx::Result<Option<LatestDoc>> {
    sqlx::query_as(
        "SELECT id, sha256, etag, last_modified, parse_status, parser_version \
         FROM raw_documents WHERE url = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(url)
    .fetch_optional(db)
    .await
}

/// What `store` did with a fetched document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new copy, with its id.
    New(i64),
    /// The same bytes as the newest copy (id of that copy): not stored again.
    Unchanged(i64),
}

/// Store a fetched document unless its newest copy has the same bytes.
pub async fn store(
    db: &PgPool,
    url: &str,
    kind: DocumentKind,
    idno: Option<&str>,
    doc: &Fetched,
    run_id: Option<Uuid>,
) -> sqlx::Result<Stored> {
    let sha = sha256_hex(&doc.body);
    // Serialise writers of the same URL so two runs cannot both store one copy.
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(url)
        .execute(&mut *tx)
        .await?;
    let newest: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, sha256 FROM raw_documents WHERE url = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(url)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, existing)) = newest
        && existing == sha
    {
        tx.commit().await?;
        return Ok(Stored::Unchanged(id));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO raw_documents (url, kind, idno, http_status, content_type, etag, last_modified, \
         headers, sha256, size_bytes, body, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(url)
    .bind(kind.as_str())
    .bind(idno)
    .bind(i32::from(doc.status))
    .bind(&doc.content_type)
    .bind(&doc.etag)
    .bind(&doc.last_modified)
    .bind(&doc.headers)
    .bind(&sha)
    .bind(doc.body.len() as i32)
    .bind(doc.body.as_ref())
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored::New(id))
}

/// Record a successful transform.
pub async fn mark_parsed(db: &PgPool, id: i64, parser_version: i32) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE raw_documents SET parse_status = 'parsed', parse_error = NULL, parser_version = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(parser_version)
    .execute(db)
    .await?;
    Ok(())
}

/// Record a failed transform; the document stays for a later re-transform.
pub async fn mark_failed(
    db: &PgPool,
    id: i64,
    error: &str,
    parser_version: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE raw_documents SET parse_status = 'failed', parse_error = $2, parser_version = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(parser_version)
    .execute(db)
    .await?;
    Ok(())
}

/// One stored document.
pub async fn get(db: &PgPool, id: i64) -> sqlx::Result<Option<RawDocument>> {
    sqlx::query_as(
        "SELECT id, url, kind, idno, http_status, content_type, sha256, body, fetched_at \
         FROM raw_documents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Ids of the newest copy of every URL matching the filters, oldest first.
pub async fn latest_ids(
    db: &PgPool,
    since: Option<DateTime<Utc>>,
    idno: Option<&str>,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, kind FROM ( \
           SELECT DISTINCT ON (url) id, kind, fetched_at FROM raw_documents \
           WHERE ($1::timestamptz IS NULL OR fetched_at >= $1) AND ($2::text IS NULL OR idno = $2) \
             AND kind <> 'company_list' \
           ORDER BY url, id DESC) latest \
         ORDER BY id",
    )
    .bind(since)
    .bind(idno)
    .fetch_all(db)
    .await
}

/// A document's metadata for the sources list.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SourceDocument {
    /// Document id (for `/sources/{id}/raw`).
    pub id: i64,
    /// Where it was fetched from.
    pub url: String,
    /// `company`, `financials` or `company_html`.
    pub kind: String,
    /// SHA-256 of the body, hex.
    pub sha256: String,
    /// HTTP status of the response.
    pub http_status: i32,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

/// A page of the documents behind a company, newest first.
pub async fn for_company(
    db: &PgPool,
    idno: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<SourceDocument>, i64)> {
    let items = sqlx::query_as(
        "SELECT id, url, kind, sha256, http_status, fetched_at FROM raw_documents \
         WHERE idno = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(idno)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM raw_documents WHERE idno = $1")
        .bind(idno)
        .fetch_one(db)
        .await?;
    Ok((items, total))
}

//! Bulk exports of the whole registry (`GET /api/v1/exports/companies`): NDJSON,
//! CSV and FollowTheMoney entities.
//!
//! An export reads one snapshot: a `REPEATABLE READ` read-only transaction held for
//! the whole export, so a change committed meanwhile is wholly in it or wholly out.
//! NDJSON and CSV read every company in one streamed query (PostgreSQL sends rows
//! while the export writes, and waits when it is behind); FtM reads companies in
//! batches of [`BATCH`] by IDNO (keyset pagination inside the transaction), since
//! each batch also looks up links and writes temporary tables. Bytes go through a
//! bounded channel to the response body: memory holds a few chunks, whatever the
//! size of the registry, and a slow client slows the reading down.

pub mod csv;
pub mod ftm;
pub mod ndjson;

use axum::body::Body;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use gleaner_scrapejob::Idno;
use serde::Deserialize;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::mpsc;
use tracing::Instrument as _;
use utoipa::ToSchema;

use crate::company::{
    Activity, Address, Administrator, Company, CompanyRecord, Founder, SourceInfo, Status,
};

/// Companies read per query.
pub const BATCH: i64 = 500;

/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 64 * 1024;

/// Chunks in flight between the reader and the response body.
const CHANNEL: usize = 4;

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One company JSON (with its `financials`) per line.
    Ndjson,
    /// RFC 4180 CSV with a header row, one company per row.
    Csv,
    /// FollowTheMoney entities, one JSON object per line.
    Ftm,
}

impl Format {
    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson | Format::Ftm => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name offered in `Content-Disposition`.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Ndjson => "companies.ndjson",
            Format::Csv => "companies.csv",
            Format::Ftm => "companies.ftm.json",
        }
    }
}

/// The next batch of companies after an IDNO, in IDNO order.
const NEXT_BATCH: &str = "SELECT idno, name, legal_form, status, registered_at, address, activities, founders, \
     administrators, source_url, source_fetched_at, parser_version, updated_at \
     FROM companies WHERE idno > $1 ORDER BY idno LIMIT $2";

/// Every company in IDNO order, read as one stream (PostgreSQL sends rows as fast as
/// the export takes them: it works while the export writes).
const ALL: &str = "SELECT idno, name, legal_form, status, registered_at, address, activities, founders, \
     administrators, source_url, source_fetched_at, parser_version, updated_at \
     FROM companies ORDER BY idno";

/// [`ALL`] with each company's financial years as the JSON array
/// `GET /api/v1/companies/{idno}/financials` gives (oldest first; `values` an object),
/// built by PostgreSQL, null when there are none.
const ALL_WITH_FINANCIALS: &str = "SELECT idno, name, legal_form, status, registered_at, address, activities, founders, \
     administrators, source_url, source_fetched_at, parser_version, updated_at, \
     (SELECT json_agg(json_build_object('year', f.year, 'revenue', f.revenue, 'net_profit', f.net_profit, \
        'total_assets', f.total_assets, 'equity', f.equity, 'values', \
        CASE WHEN jsonb_typeof(f.\"values\") = 'object' THEN f.\"values\" ELSE '{}'::jsonb END) \
        ORDER BY f.year)::text \
      FROM financials f WHERE f.idno = c.idno) AS financials \
     FROM companies c ORDER BY idno";

/// A company row as the export reads it.
fn company_from_row(row: &PgRow) -> sqlx::Result<Company> {
    let idno: String = row.try_get("idno")?;
    let status: String = row.try_get("status")?;
    let idno = Idno::parse(&idno).map_err(|e| sqlx::Error::ColumnDecode {
        index: "idno".to_owned(),
        source: Box::new(e),
    })?;
    let status = match status.as_str() {
        "active" => Status::Active,
        "inactive" => Status::Inactive,
        other => {
            return Err(sqlx::Error::ColumnDecode {
                index: "status".to_owned(),
                source: format!("unknown status {other:?}").into(),
            });
        }
    };
    Ok(Company {
        record: CompanyRecord {
            idno,
            name: row.try_get("name")?,
            legal_form: row.try_get("legal_form")?,
            status,
            registered_at: row.try_get("registered_at")?,
            address: row.try_get::<Json<Address>, _>("address")?.0,
            activities: row.try_get::<Json<Vec<Activity>>, _>("activities")?.0,
            founders: row.try_get::<Json<Vec<Founder>>, _>("founders")?.0,
            administrators: row
                .try_get::<Json<Vec<Administrator>>, _>("administrators")?
                .0,
        },
        source: SourceInfo {
            url: row.try_get("source_url")?,
            fetched_at: row.try_get("source_fetched_at")?,
            parser_version: row.try_get("parser_version")?,
        },
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
    })
}

/// An export under way: the snapshot it reads and what it writes.
pub struct Export {
    tx: Transaction<'static, Postgres>,
    format: Format,
}

/// Why an export stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the snapshot failed.
    #[error("reading the snapshot: {0}")]
    Database(#[from] sqlx::Error),
    /// The client went away (the response body was dropped).
    #[error("the client went away")]
    Gone,
}

/// Where an export's bytes go: gathered into chunks of about [`CHUNK`] bytes and
/// sent down a bounded channel (waiting while the client is behind).
pub struct Sink {
    buf: Vec<u8>,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Sink {
    /// A sink sending to `out`.
    pub fn new(out: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
            out,
        }
    }

    /// The buffer to append to.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Send what is gathered once it is a chunk.
    pub async fn maybe_flush(&mut self) -> Result<(), ExportError> {
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Send what is gathered.
    pub async fn flush(&mut self) -> Result<(), ExportError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK + CHUNK / 4),
        ));
        self.out
            .send(Ok(chunk))
            .await
            .map_err(|_| ExportError::Gone)
    }

    /// End the body with an error, so the client sees a cut transfer rather than
    /// a file that looks complete.
    pub async fn fail(self, error: &ExportError) {
        let error = std::io::Error::other(error.to_string());
        // Nobody to tell when the client is gone already.
        let _ = self.out.send(Err(error)).await;
    }
}

impl Export {
    /// Open the snapshot the export reads. The snapshot is taken here, before the
    /// response starts: a change committed after this call is not in the export.
    pub async fn begin(db: &PgPool, format: Format) -> sqlx::Result<Self> {
        let mut tx = if format == Format::Ftm {
            let mut tx = db
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .await?;
            ftm::prepare(&mut tx).await?;
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
            tx
        } else {
            db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        };
        // A REPEATABLE READ transaction takes its snapshot at its first statement.
        sqlx::query("SELECT 1").execute(&mut *tx).await?;
        Ok(Self { tx, format })
    }

    /// The response body: the export written by a task of its own, chunk by chunk,
    /// as the client reads. A failure midway ends the body with an error (the
    /// client sees a cut transfer, not a file that looks whole).
    pub fn into_body(self) -> Body {
        let (out, mut chunks) = mpsc::channel(CHANNEL);
        let format = self.format;
        let task = async move {
            let mut sink = Sink::new(out);
            match self.run(&mut sink).await {
                Ok(()) => tracing::debug!(?format, "export finished"),
                Err(ExportError::Gone) => {
                    tracing::info!(?format, "export stopped: the client went away")
                }
                Err(e) => {
                    tracing::error!(?format, error = %e, "export failed");
                    sink.fail(&e).await;
                }
            }
        };
        tokio::spawn(task.instrument(tracing::Span::current()));
        Body::from_stream(futures::stream::poll_fn(move |cx| chunks.poll_recv(cx)))
    }

    /// Write the whole export into `sink`; the transaction ends (rolled back, it
    /// wrote nothing) when this returns.
    pub async fn run(mut self, sink: &mut Sink) -> Result<(), ExportError> {
        match self.format {
            Format::Ndjson => self.ndjson(sink).await?,
            Format::Csv => self.csv(sink).await?,
            Format::Ftm => ftm::write(&mut self.tx, sink).await?,
        }
        sink.flush().await?;
        self.tx.rollback().await?;
        Ok(())
    }

    async fn ndjson(&mut self, sink: &mut Sink) -> Result<(), ExportError> {
        let mut rows = sqlx::query(ALL_WITH_FINANCIALS).fetch(&mut *self.tx);
        while let Some(row) = rows.try_next().await? {
            let company = company_from_row(&row)?;
            let financials: Option<&str> = row.try_get("financials")?;
            ndjson::write_line(sink.buf(), &company, financials.unwrap_or("[]"));
            sink.maybe_flush().await?;
        }
        Ok(())
    }

    async fn csv(&mut self, sink: &mut Sink) -> Result<(), ExportError> {
        csv::write_header(sink.buf());
        let mut rows = sqlx::query(ALL).fetch(&mut *self.tx);
        while let Some(row) = rows.try_next().await? {
            csv::write_row(sink.buf(), &company_from_row(&row)?);
            sink.maybe_flush().await?;
        }
        Ok(())
    }
}

/// Up to [`BATCH`] companies with an IDNO above `after`, in IDNO order.
pub async fn next_batch(conn: &mut PgConnection, after: &str) -> sqlx::Result<Vec<Company>> {
    let rows = sqlx::query(NEXT_BATCH)
        .bind(after)
        .bind(BATCH)
        .fetch_all(conn)
        .await?;
    rows.iter().map(company_from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_name_their_types_and_files() {
        let parsed: Vec<Format> =
            serde_json::from_str(r#"["ndjson", "csv", "ftm"]"#).expect("formats");
        assert_eq!(parsed, [Format::Ndjson, Format::Csv, Format::Ftm]);
        assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
        assert_eq!(Format::Ftm.file_name(), "companies.ftm.json");
        assert!(serde_json::from_str::<Format>(r#""xml""#).is_err());
    }
}

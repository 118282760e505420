//! The change feed: every company history entry in commit order, read by cursor.
//!
//! Each `company_history` row carries `xact_id`, the 64-bit id of the transaction that
//! wrote it (a column default, so the writers need no code for it). A reader returns only
//! rows whose `xact_id` is below the xmin of its own snapshot: every transaction with a
//! smaller id has ended (committed rows are visible to the snapshot, rolled-back ones
//! never will be), and every transaction that has not written yet will get a larger id.
//! So the rows a reader can return form a prefix of one fixed order, `(xact_id, id)`,
//! that only grows at its end, and a cursor made of those two numbers resumes exactly
//! after the last change a client saw, whichever replica it asks and after restarts.
//! docs/change-feed.md explains the choice and its cost (a long writing transaction
//! holds the feed back until it ends).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

/// A position in the change feed: after the change written by transaction `xact_id`
/// with history row `id`. Its text form is opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    xact_id: u64,
    id: i64,
}

/// Why a text is not a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor of this feed")]
pub struct NotACursor;

/// The version prefix of the cursor's text form.
const CURSOR_VERSION: char = '1';
/// The length of the cursor's text form: the version, then two 16-digit hex numbers.
const CURSOR_LEN: usize = 33;

impl Cursor {
    /// Before every change: the feed from its start.
    pub const START: Cursor = Cursor { xact_id: 0, id: 0 };

    /// Parse the text form (`Display`): `1`, then the transaction id and the row id as
    /// 16 lowercase hex digits each. Fixed width, so cursors also sort as strings.
    pub fn parse(text: &str) -> Result<Cursor, NotACursor> {
        let digits = text.strip_prefix(CURSOR_VERSION).ok_or(NotACursor)?;
        if text.len() != CURSOR_LEN
            || !digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(NotACursor);
        }
        let (xact_id, id) = digits.split_at(16);
        let xact_id = u64::from_str_radix(xact_id, 16).map_err(|_| NotACursor)?;
        let id = i64::from_str_radix(id, 16).map_err(|_| NotACursor)?;
        Ok(Cursor { xact_id, id })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CURSOR_VERSION}{:016x}{:016x}", self.xact_id, self.id)
    }
}

/// One change of the feed: a company history entry and its cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// Opaque; strictly increasing along the feed. Pass it as `after` (or as the
    /// stream's `Last-Event-ID`) to resume right after this change.
    #[schema(example = "100000000000002f10000000000000a41")]
    pub cursor: String,
    /// The company's fiscal code.
    pub idno: String,
    /// Company JSON path of the field (`name`, `status`, `address.full`, ...).
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

/// Rows a reader may return: written by a transaction that had ended when its
/// snapshot was taken (see the module documentation).
const SETTLED: &str = "xact_id < pg_snapshot_xmin(pg_current_snapshot())";

fn decode_cursor(row: &sqlx::postgres::PgRow) -> sqlx::Result<Cursor> {
    let xact_id: String = row.try_get("xact_text")?;
    let xact_id = xact_id
        .parse::<u64>()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "xact_text".to_owned(),
            source: Box::new(e),
        })?;
    Ok(Cursor {
        xact_id,
        id: row.try_get("id")?,
    })
}

/// Up to `limit` changes right after `after`, in feed order, each with its cursor.
pub async fn page(db: &PgPool, after: Cursor, limit: i64) -> sqlx::Result<Vec<(Cursor, Change)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT xact_id::text AS xact_text, id, idno, field, old, new, observed_at, run_id \
         FROM company_history \
         WHERE {SETTLED} AND (xact_id, id) > ($1::text::xid8, $2) \
         ORDER BY xact_id, id LIMIT $3"
    )))
    .bind(after.xact_id.to_string())
    .bind(after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            let cursor = decode_cursor(row)?;
            let change = Change {
                cursor: cursor.to_string(),
                idno: row.try_get("idno")?,
                field: row.try_get("field")?,
                old: row.try_get("old")?,
                new: row.try_get("new")?,
                observed_at: row.try_get("observed_at")?,
                run_id: row.try_get("run_id")?,
            };
            Ok((cursor, change))
        })
        .collect()
}

/// The cursor of the last change a reader may return now (`None` while there is none).
pub async fn head(db: &PgPool) -> sqlx::Result<Option<Cursor>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT xact_id::text AS xact_text, id FROM company_history WHERE {SETTLED} \
         ORDER BY xact_id DESC, id DESC LIMIT 1"
    )))
    .fetch_optional(db)
    .await?;
    row.as_ref().map(decode_cursor).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_sorts_as_its_text() {
        let cursors = [
            Cursor::START,
            Cursor { xact_id: 0, id: 1 },
            Cursor { xact_id: 3, id: 0 },
            Cursor {
                xact_id: 3,
                id: 0x7fff_ffff_ffff_ffff,
            },
            Cursor {
                xact_id: 0x1_0000_0000,
                id: 2,
            },
            Cursor {
                xact_id: u64::MAX,
                id: i64::MAX,
            },
        ];
        for pair in cursors.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
        for c in cursors {
            assert_eq!(c.to_string().len(), CURSOR_LEN);
            assert_eq!(Cursor::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let good = Cursor {
            xact_id: 0xab,
            id: 0xcd,
        }
        .to_string();
        for bad in [
            String::new(),
            "1".to_owned(),
            good[..32].to_owned(),
            format!("{good}0"),
            format!("2{}", &good[1..]),
            good.to_uppercase(),
            format!("1{}", "g".repeat(32)),
            format!("1+{}", &good[2..]),
            format!("1-{}", &good[2..]),
            // a row id beyond i64
            format!("1{}{}", "0".repeat(16), "f".repeat(16)),
            format!("1{}é{}", "0".repeat(15), "0".repeat(15)),
        ] {
            assert_eq!(Cursor::parse(&bad), Err(NotACursor), "{bad:?}");
        }
    }
}

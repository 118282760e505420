//! The users table: every SQL statement about users lives here. It speaks
//! in domain errors (`StoreError`); the HTTP edge decides what they look like.

use chrono::{DateTime, Utc};
use gleaner_common::auth::Role;
use gleaner_common::pagination::PageRequest;
use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Email, FullName, Username};

/// Outbox table of this service.
pub const OUTBOX_TABLE: &str = "identity_outbox";

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// Username.
    pub username: String,
    /// Full name, if given.
    pub full_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Disabled users cannot log in; their tokens are revoked.
    pub disabled: bool,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// A users row, with the password hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    /// The role (the column is constrained to valid names).
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::User)
    }

    /// The API view.
    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            username: self.username.clone(),
            full_name: self.full_name.clone(),
            role: self.role(),
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str = "id, email, username, full_name, role, disabled, password_hash, created_at";

/// What can go wrong in the users table.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another user has this email (case-insensitive).
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// Another user has this username (case-insensitive).
    #[error("a user with this username already exists")]
    DuplicateUsername,
    /// The database cannot be reached now.
    #[error("PostgreSQL is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            e if gleaner_common::db::is_unavailable(&e) => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.constraint() == Some("users_email_key") => {
                StoreError::DuplicateEmail
            }
            sqlx::Error::Database(db) if db.constraint() == Some("users_username_key") => {
                StoreError::DuplicateUsername
            }
            other => StoreError::Database(other),
        }
    }
}

/// What registration needs.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub username: &'a Username,
    pub full_name: Option<&'a FullName>,
    pub role: Role,
    pub password_hash: &'a str,
}

/// Insert a user inside `tx`.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewUser<'_>,
) -> Result<UserRow, StoreError> {
    let sql = format!(
        "INSERT INTO users (id, email, username, full_name, role, password_hash) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::new_v4())
        .bind(new.email.as_str())
        .bind(new.username.as_str())
        .bind(new.full_name.map(FullName::as_str))
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::from)
}

/// Find by username or email (case-insensitive).
pub async fn find_by_login(db: &PgPool, login: &str) -> Result<Option<UserRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
         ORDER BY (lower(username) = lower($1)) DESC LIMIT 1"
    );
    Ok(sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(login.trim())
        .fetch_optional(db)
        .await?)
}

/// Find by id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Find by id, locking the row for the rest of `tx`.
pub async fn find_for_update(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<UserRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    Ok(sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// A page of users matching `q` (username, email or name) and `role`.
pub async fn list(
    db: &PgPool,
    q: Option<&str>,
    role: Option<Role>,
    page: PageRequest,
) -> Result<(Vec<UserRow>, i64), StoreError> {
    let pattern = q.map(str::trim).filter(|q| !q.is_empty()).map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let filter = "($1::text IS NULL OR username ILIKE $1 OR email ILIKE $1 OR full_name ILIKE $1) \
                  AND ($2::text IS NULL OR role = $2)";
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY created_at, id LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(pattern.as_deref())
        .bind(role.map(Role::as_str))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(db)
        .await?;
    let count_sql = format!("SELECT count(*) FROM users WHERE {filter}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(pattern.as_deref())
        .bind(role.map(Role::as_str))
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Update email and/or full name.
pub async fn update_profile(
    db: &PgPool,
    id: Uuid,
    email: Option<&Email>,
    full_name: Option<&FullName>,
) -> Result<Option<UserRow>, StoreError> {
    let sql = format!(
        "UPDATE users SET email = COALESCE($2, email), full_name = COALESCE($3, full_name), \
         updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(email.map(Email::as_str))
        .bind(full_name.map(FullName::as_str))
        .fetch_optional(db)
        .await
        .map_err(StoreError::from)
}

/// Replace the password hash.
pub async fn update_password(db: &PgPool, id: Uuid, hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Set role and/or disabled inside `tx`.
pub async fn update_admin_fields(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<UserRow, StoreError> {
    let sql = format!(
        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
         updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(role.map(Role::as_str))
        .bind(disabled)
        .fetch_one(&mut **tx)
        .await?)
}

/// Delete inside `tx`.
pub async fn delete(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Active admins other than `except`, counted under a lock so two concurrent
/// demotions cannot remove the last admin.
pub async fn other_active_admins(
    tx: &mut Transaction<'_, Postgres>,
    except: Uuid,
) -> Result<i64, StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1 FOR UPDATE",
    )
    .bind(except)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids.len() as i64)
}

/// Whether any enabled admin exists.
pub async fn admin_exists(db: &PgPool) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled)",
    )
    .fetch_one(db)
    .await?)
}

/// The committed row of `id`, waiting for any transaction changing it to end
/// (an admin's role change or disablement): what a token is issued from.
pub async fn find_settled(db: &PgPool, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    let mut tx = db.begin().await?;
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR SHARE");
    let row = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

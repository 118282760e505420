//! Account logic: registration, password changes, administration and the
//! first admin. Speaks in `AccountError`; the HTTP edge renders it.

use gleaner_common::auth::Role;
use gleaner_common::events::{UserCreated, UserDeleted};
use gleaner_common::outbox;
use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::{Email, FullName, NewPassword, Username};
use crate::password::HashError;
use crate::state::AppState;
use crate::tokens;
use crate::user_cache;
use crate::users::{self, NewUser, OUTBOX_TABLE, StoreError, User, UserRow};

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Another user has this email.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// Another user has this username.
    #[error("a user with this username already exists")]
    DuplicateUsername,
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// The change would leave no enabled admin.
    #[error("this would leave no active admin")]
    LastAdmin,
    /// The current password given is wrong.
    #[error("the current password is not correct")]
    WrongPassword,
    /// Password hashing is saturated; try again shortly.
    #[error("password hashing is saturated")]
    Busy,
    /// The database cannot be reached.
    #[error("PostgreSQL is unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// Redis (sessions, revocations) cannot be reached.
    #[error("Redis is unavailable")]
    RedisUnavailable(#[source] fred::error::Error),
    /// Anything else.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateEmail => AccountError::DuplicateEmail,
            StoreError::DuplicateUsername => AccountError::DuplicateUsername,
            StoreError::Unavailable(e) => AccountError::DatabaseUnavailable(e),
            StoreError::Database(e) => AccountError::Internal(e.into()),
        }
    }
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AccountError::Busy,
            HashError::Failed(e) => AccountError::Internal(e),
        }
    }
}

impl From<fred::error::Error> for AccountError {
    fn from(e: fred::error::Error) -> Self {
        AccountError::RedisUnavailable(e)
    }
}

/// A validated new account.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub username: &'a Username,
    pub full_name: Option<&'a FullName>,
    pub role: Role,
    pub password: &'a NewPassword,
}

/// Create a user and its `user.created` event in one transaction.
pub async fn create(state: &AppState, new: NewAccount<'_>) -> Result<User, AccountError> {
    let hash = state.hasher.hash(new.password.secret()).await?;
    let mut tx = state.db.begin().await?;
    let row = users::insert(
        &mut tx,
        &NewUser {
            email: new.email,
            username: new.username,
            full_name: new.full_name,
            role: new.role,
            password_hash: &hash,
        },
    )
    .await?;
    let user = row.to_user();
    let created = UserCreated {
        id: user.id,
        email: user.email.clone(),
        username: user.username.clone(),
        role: user.role,
    };
    outbox::enqueue(&mut tx, OUTBOX_TABLE, &created).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %user.id, role = new.role.as_str(), "user created");
    Ok(user)
}

/// Change `user`'s password after checking the current one; every session
/// but `keep_session` ends. Returns how many ended.
pub async fn change_password(
    state: &AppState,
    user: Uuid,
    keep_session: &str,
    current: &SecretString,
    new: &NewPassword,
) -> Result<usize, AccountError> {
    let row = users::find(&state.db, user)
        .await?
        .ok_or(AccountError::NotFound)?;
    if !state
        .hasher
        .verify(current, Some(&row.password_hash))
        .await?
    {
        return Err(AccountError::WrongPassword);
    }
    let hash = state.hasher.hash(new.secret()).await?;
    user_cache::changing(state, user, async {
        Ok::<_, AccountError>(users::update_password(&state.db, user, &hash).await?)
    })
    .await?;
    Ok(tokens::end_other_sessions(state, user, keep_session).await?)
}

/// What an admin may change about a user.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
}

/// Apply an admin's change; returns the row before and after. A new role
/// or a disablement revokes every token the user holds.
pub async fn administer(
    state: &AppState,
    id: Uuid,
    change: AdminChange,
) -> Result<(UserRow, UserRow), AccountError> {
    user_cache::changing(state, id, administer_row(state, id, change)).await
}

async fn administer_row(
    state: &AppState,
    id: Uuid,
    change: AdminChange,
) -> Result<(UserRow, UserRow), AccountError> {
    let mut tx = state.db.begin().await?;
    let before = users::find_for_update(&mut tx, id)
        .await?
        .ok_or(AccountError::NotFound)?;
    let loses_admin = before.role() == Role::Admin
        && !before.disabled
        && (change.role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true));
    if loses_admin && users::other_active_admins(&mut tx, id).await? == 0 {
        return Err(AccountError::LastAdmin);
    }
    let after = users::update_admin_fields(&mut tx, id, change.role, change.disabled).await?;
    // Revoke while the row is locked and before committing: if Redis is
    // down the change rolls back, so a disabled user never keeps a working
    // token; a login meanwhile waits for the row (`find_settled`).
    if (after.disabled && !before.disabled) || after.role != before.role {
        tokens::revoke_everything(state, id).await?;
    }
    tx.commit().await?;
    Ok((before, after))
}

/// Delete a user; their tokens die and `user.deleted` is published.
pub async fn delete(state: &AppState, id: Uuid) -> Result<UserRow, AccountError> {
    user_cache::changing(state, id, delete_row(state, id)).await
}

async fn delete_row(state: &AppState, id: Uuid) -> Result<UserRow, AccountError> {
    let mut tx = state.db.begin().await?;
    let user = users::find_for_update(&mut tx, id)
        .await?
        .ok_or(AccountError::NotFound)?;
    if user.role() == Role::Admin
        && !user.disabled
        && users::other_active_admins(&mut tx, id).await? == 0
    {
        return Err(AccountError::LastAdmin);
    }
    users::delete(&mut tx, id).await?;
    let deleted = UserDeleted {
        id,
        username: user.username.clone(),
    };
    outbox::enqueue(&mut tx, OUTBOX_TABLE, &deleted).await?;
    tokens::revoke_everything(state, id).await?;
    tx.commit().await?;
    state.relay.wake();
    Ok(user)
}

/// The first admin to create, from `GLEANER_ADMIN_*`, validated at start-up.
pub struct AdminSeed {
    /// Its email.
    pub email: Email,
    /// Its password.
    pub password: NewPassword,
}

/// Create the first admin (username `admin`) if no enabled admin exists;
/// `true` when created.
pub async fn ensure_admin(state: &AppState, seed: &AdminSeed) -> Result<bool, AccountError> {
    if users::admin_exists(&state.db).await? {
        return Ok(false);
    }
    let username =
        Username::parse("admin").map_err(|e| AccountError::Internal(anyhow::anyhow!(e.message)))?;
    let user = create(
        state,
        NewAccount {
            email: &seed.email,
            username: &username,
            full_name: None,
            role: Role::Admin,
            password: &seed.password,
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, email = %user.email, "first admin created");
    Ok(true)
}

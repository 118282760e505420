//! PostgreSQL pool set-up.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A lazily connecting pool: the service starts (and reports not ready)
/// while the database is down, and recovers when it returns.
pub fn lazy_pool(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = database_url
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(300))
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

/// Whether `error` means PostgreSQL cannot be reached or is going away (a
/// 503 naming it), rather than a fault of the query (a 500): no connection in
/// time, a broken or refused connection, or the server refusing work while it
/// starts, stops or is out of connection slots.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: shutting down or starting;
            // 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Connect once and apply `migrator` (the `migrate` command of each service).
pub async fn migrate(database_url: &str, migrator: &sqlx::migrate::Migrator) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("DATABASE_URL: cannot connect")?;
    migrator.run(&pool).await.context("migrating")?;
    pool.close().await;
    Ok(())
}

//! Redis client set-up (fred), reconnecting forever with backoff.

use std::time::Duration;

use anyhow::Context as _;
use fred::prelude::*;

/// A connection pool that reconnects with exponential backoff and fails
/// commands after a short timeout instead of hanging while Redis is down.
pub async fn connect(redis_url: &str, size: usize) -> anyhow::Result<Pool> {
    let config = Config::from_url(redis_url).context("REDIS_URL is not a valid Redis URL")?;
    let pool = Builder::from_config(config)
        .with_performance_config(|perf| {
            perf.default_command_timeout = Duration::from_secs(2);
        })
        .with_connection_config(|conn| {
            conn.connection_timeout = Duration::from_secs(2);
            conn.internal_command_timeout = Duration::from_secs(2);
            conn.max_command_attempts = 2;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build_pool(size)
        .context("REDIS_URL: cannot build the Redis client")?;
    // Connect in the background: a service starts (not ready) without Redis.
    pool.connect();
    Ok(pool)
}

/// `PING`, for readiness.
pub async fn ping(pool: &Pool) -> Result<(), Error> {
    let _: String = pool.ping(None).await?;
    Ok(())
}

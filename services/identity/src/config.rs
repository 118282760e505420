//! Settings, from flags or environment variables (listed in the README's Settings section).

use std::path::PathBuf;
use std::time::Duration;

use gleaner_common::settings::{
    AdminSettings, DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, env, parse_duration, parse_listen_addr,
};
use gleaner_common::telemetry::LogSettings;
use secrecy::SecretString;

/// Deployment mode: production refuses development keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Environment {
    /// Local development and tests.
    #[default]
    Development,
    /// A real deployment.
    Production,
}

/// Identity service settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "0.0.0.0:8081", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 10)]
    pub database_max_connections: u32,
    /// Redis URL.
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: SecretString,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// `iss` of issued tokens.
    #[arg(long, env = env::JWT_ISSUER, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// `aud` of issued tokens.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = DEFAULT_JWT_AUDIENCE)]
    pub jwt_audience: String,
    /// Ed25519 PKCS#8 PEM private key that signs access tokens.
    #[arg(long, env = "JWT_SIGNING_KEY_FILE")]
    pub jwt_signing_key_file: PathBuf,
    /// Previous signing keys (comma-separated PEM files) that still verify.
    #[arg(long, env = "JWT_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub jwt_previous_key_files: Vec<PathBuf>,
    /// Access token lifetime.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,
    /// Refresh token lifetime (since its last use).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_duration)]
    pub refresh_token_ttl: Duration,
    /// bcrypt cost (4..=31).
    #[arg(long, env = "BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
    /// The first admin, created on start when no admin exists (`GLEANER_ADMIN_*`).
    #[command(flatten)]
    pub admin: AdminSettings,
    /// Deployment mode.
    #[arg(long, env = "GLEANER_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,
    /// How many proxies in front append to `X-Forwarded-For` (the gateway,
    /// an ingress); the client is the N-th address from the right. 0 = the peer.
    #[arg(long, env = env::TRUSTED_PROXIES, default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Threads that hash passwords (default: one per core).
    #[arg(long, env = "PASSWORD_HASH_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub password_hash_threads: Option<u16>,
    /// Password hashes that may wait for a thread; beyond that, 503 with `Retry-After`.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,
    /// Failed logins allowed per account per failure window.
    #[arg(long, env = "LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    pub login_failures_per_account: i64,
    /// Failed logins allowed per client address per failure window.
    #[arg(long, env = "LOGIN_FAILURES_PER_ADDRESS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..))]
    pub login_failures_per_address: i64,
    /// How long failed logins count (and an account or address stays throttled at most).
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub login_failure_window: Duration,
    /// Login requests allowed per client address per minute.
    #[arg(long, env = "LOGINS_PER_ADDRESS", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..))]
    pub logins_per_address: i64,
    /// Registrations allowed per client address per minute.
    #[arg(long, env = "REGISTRATIONS_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..))]
    pub registrations_per_address: i64,
    /// Stream that user events are published to.
    #[arg(long, env = env::EVENTS_STREAM, default_value = gleaner_common::outbox::DEFAULT_STREAM)]
    pub events_stream: String,
}

impl Settings {
    /// The throttle limits these settings ask for.
    pub fn throttle_limits(&self) -> crate::throttle::ThrottleLimits {
        crate::throttle::ThrottleLimits {
            per_account: self.login_failures_per_account,
            per_address: self.login_failures_per_address,
            window: self.login_failure_window,
            logins_per_address: self.logins_per_address,
            registrations_per_address: self.registrations_per_address,
            rate_window: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::throttle::ThrottleLimits;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn default_limits_are_the_documented_ones() {
        let cli = Cli::try_parse_from([
            "identity",
            "--database-url=postgres://db",
            "--redis-url=redis://redis",
            "--jwt-signing-key-file=key.pem",
        ])
        .unwrap();
        assert_eq!(cli.settings.throttle_limits(), ThrottleLimits::default());
        assert_eq!(cli.settings.trusted_proxies, 0);
        assert_eq!(cli.settings.password_hash_queue, 64);
    }

    #[test]
    fn malformed_limits_are_refused_naming_the_setting() {
        let err = Cli::try_parse_from([
            "identity",
            "--database-url=postgres://db",
            "--redis-url=redis://redis",
            "--jwt-signing-key-file=key.pem",
            "--logins-per-address=0",
        ])
        .err()
        .unwrap();
        assert!(err.to_string().contains("logins-per-address"), "{err}");
    }
}

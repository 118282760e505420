//! Settings, from flags or environment variables (contract §10).

use std::path::PathBuf;
use std::time::Duration;

use gleaner_common::settings::{parse_duration, parse_listen_addr};
use gleaner_common::telemetry::LogFormat;
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
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8081", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    /// Redis URL.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: SecretString,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// `iss` of issued tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "gleaner")]
    pub jwt_issuer: String,
    /// `aud` of issued tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "gleaner-api")]
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
    /// First admin's email, created on start when no admin exists.
    #[arg(
        long,
        env = "GLEANER_ADMIN_EMAIL",
        default_value = "admin@gleaner.local"
    )]
    pub admin_email: String,
    /// First admin's password; without it no admin is created.
    #[arg(long, env = "GLEANER_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,
    /// Deployment mode.
    #[arg(long, env = "GLEANER_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,
    /// How many proxies in front append to `X-Forwarded-For` (the gateway,
    /// an ingress); the client is the N-th address from the right. 0 = the peer.
    #[arg(long, env = "TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Threads that hash passwords (default: one per core).
    #[arg(long, env = "PASSWORD_HASH_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub password_hash_threads: Option<u16>,
    /// Password hashes that may wait for a thread; beyond that, 503 with `Retry-After`.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,
    /// Stream that user events are published to.
    #[arg(long, env = "EVENTS_STREAM", default_value = gleaner_common::outbox::DEFAULT_STREAM)]
    pub events_stream: String,
}

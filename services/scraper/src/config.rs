//! Settings, from flags or environment variables (contract §10).

use std::path::PathBuf;

use gleaner_common::settings::{
    DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, env, parse_http_url, parse_listen_addr,
};
use gleaner_common::telemetry::LogSettings;
use gleaner_scrapejob::env as run_env;
use secrecy::SecretString;

use crate::egress::EgressSettings;

/// `scraper serve` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "0.0.0.0:8082", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 20)]
    pub database_max_connections: u32,
    /// Redis URL (outbox relay, token revocations).
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: SecretString,
    /// Identity's JWKS URL.
    #[arg(long, env = env::JWKS_URL, value_parser = parse_http_url)]
    pub jwks_url: String,
    /// Expected `iss` of access tokens.
    #[arg(long, env = env::JWT_ISSUER, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// Expected `aud` of access tokens.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = DEFAULT_JWT_AUDIENCE)]
    pub jwt_audience: String,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Stream that company events are published to.
    #[arg(long, env = env::EVENTS_STREAM, default_value = gleaner_common::outbox::DEFAULT_STREAM)]
    pub events_stream: String,
    /// Where runs may connect.
    #[command(flatten)]
    pub egress: EgressSettings,
}

/// `scraper run` settings: what a Kubernetes Job passes.
#[derive(Debug, Clone, clap::Args)]
pub struct RunSettings {
    /// PostgreSQL URL.
    #[arg(long, env = run_env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// The ScrapeJob spec as JSON (camelCase).
    #[arg(long, env = run_env::SCRAPEJOB_SPEC)]
    pub spec: String,
    /// The ScrapeJob's name.
    #[arg(long, env = run_env::SCRAPEJOB_NAME, default_value = "manual")]
    pub job: String,
    /// Run id (a new one when absent; an existing one is resumed).
    #[arg(long, env = run_env::SCRAPE_RUN_ID)]
    pub run_id: Option<String>,
    /// W3C trace context of the reconcile that started the run.
    #[arg(long, env = run_env::TRACEPARENT)]
    pub traceparent: Option<String>,
    /// Where Kubernetes reads the termination message.
    #[arg(long, env = run_env::TERMINATION_LOG, default_value = run_env::DEFAULT_TERMINATION_LOG)]
    pub termination_log: PathBuf,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Where the run may connect.
    #[command(flatten)]
    pub egress: EgressSettings,
}

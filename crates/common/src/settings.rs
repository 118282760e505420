//! Helpers for settings read with clap from flags and environment variables.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Environment variable names more than one service reads, each written once.
/// Use them in `#[arg(env = ...)]`; a default that differs per service stays there.
pub mod env {
    pub use gleaner_scrapejob::env::{
        DATABASE_URL, REDIS_URL, SCRAPER_ALLOWED_HOSTS, SCRAPER_ALLOWED_NETWORKS,
    };
    pub use gleaner_telemetry::settings::env::{LISTEN_ADDR, LOG_FORMAT};

    /// Maximum PostgreSQL connections of a service's pool.
    pub const DATABASE_MAX_CONNECTIONS: &str = "DATABASE_MAX_CONNECTIONS";
    /// Identity's JWKS URL, where verifiers fetch the token keys.
    pub const JWKS_URL: &str = "JWKS_URL";
    /// `iss` of access tokens.
    pub const JWT_ISSUER: &str = "JWT_ISSUER";
    /// `aud` of access tokens.
    pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
    /// How many proxies in front append to `X-Forwarded-For`.
    pub const TRUSTED_PROXIES: &str = "TRUSTED_PROXIES";
    /// Redis stream that events are published to and read from.
    pub const EVENTS_STREAM: &str = "EVENTS_STREAM";
    /// The identity service's base URL.
    pub const IDENTITY_URL: &str = "IDENTITY_URL";
    /// The scraper service's base URL.
    pub const SCRAPER_URL: &str = "SCRAPER_URL";
    /// The first admin's email.
    pub const GLEANER_ADMIN_EMAIL: &str = "GLEANER_ADMIN_EMAIL";
    /// The first admin's password.
    pub const GLEANER_ADMIN_PASSWORD: &str = "GLEANER_ADMIN_PASSWORD";
    /// How long a service keeps accepting after SIGTERM with `/ready` at 503 (`5s`; default `0s`).
    pub const SHUTDOWN_DELAY: &str = "SHUTDOWN_DELAY";
}

/// Default `iss` of access tokens.
pub const DEFAULT_JWT_ISSUER: &str = "gleaner";
/// Default `aud` of access tokens.
pub const DEFAULT_JWT_AUDIENCE: &str = "gleaner-api";

/// How a service verifies access tokens: where identity publishes its keys and
/// which `iss` and `aud` a token must carry. `#[command(flatten)]` it into a
/// service's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifierSettings {
    /// Identity's JWKS URL.
    #[arg(long, env = env::JWKS_URL, value_parser = parse_http_url)]
    pub jwks_url: String,
    /// Expected `iss` of access tokens.
    #[arg(long, env = env::JWT_ISSUER, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// Expected `aud` of access tokens.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = DEFAULT_JWT_AUDIENCE)]
    pub jwt_audience: String,
}

impl VerifierSettings {
    /// A verifier of access tokens against identity's JWKS (fetched with a 5 s
    /// timeout), with identity's revocation records in `redis`.
    pub fn verifier(
        &self,
        redis: fred::prelude::Pool,
    ) -> anyhow::Result<crate::auth::TokenVerifier> {
        use anyhow::Context as _;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the JWKS client")?;
        Ok(crate::auth::TokenVerifier::with_jwks(
            &self.jwks_url,
            http,
            &self.jwt_issuer,
            &self.jwt_audience,
            Some(crate::auth::Revocations::new(
                redis,
                crate::auth::REDIS_PREFIX,
            )),
        ))
    }
}

/// The admin account from `GLEANER_ADMIN_*`: identity creates it on start when
/// no admin exists, and the app's scheduler logs in as it to start and follow
/// runs. `#[command(flatten)]` it into a service's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminSettings {
    /// The admin account's email (identity creates it when no admin exists; the
    /// app's scheduler acts as it, which may also be an operator's account).
    #[arg(
        id = "admin_email",
        long = "admin-email",
        value_name = "ADMIN_EMAIL",
        env = env::GLEANER_ADMIN_EMAIL,
        default_value = DEFAULT_ADMIN_EMAIL
    )]
    pub email: String,
    /// That account's password; without it identity creates no admin and the
    /// app cannot start scheduled runs (nor without `IDENTITY_URL`).
    #[arg(
        id = "admin_password",
        long = "admin-password",
        value_name = "ADMIN_PASSWORD",
        env = env::GLEANER_ADMIN_PASSWORD,
        hide_env_values = true
    )]
    pub password: Option<SecretString>,
}

/// Default `GLEANER_ADMIN_EMAIL`.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@gleaner.local";

/// Settings of a service's `migrate` command.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateSettings {
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
}

impl MigrateSettings {
    /// Apply `migrator` to the database and say so: the `migrate` command of `service`.
    pub async fn run(
        &self,
        service: &str,
        migrator: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<()> {
        crate::db::migrate(self.database_url.expose_secret(), migrator).await?;
        println!("{service} database migrated");
        Ok(())
    }
}

/// Parse a human duration (`15m`, `30d`, `90s`) for a clap `value_parser`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    if d.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(d)
}

/// Parse a `host:port` listen address.
pub fn parse_listen_addr(s: &str) -> Result<String, String> {
    s.parse::<std::net::SocketAddr>()
        .map(|_| s.to_string())
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))
}

/// Parse an absolute http(s) URL.
pub fn parse_http_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://")) && s.len() > 8;
    if ok {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err(format!("{s:?} is not an http(s) URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        verifier: VerifierSettings,
        #[command(flatten)]
        admin: AdminSettings,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        use clap::Parser as _;
        Cli::try_parse_from(std::iter::once("service").chain(args.iter().copied()))
    }

    #[test]
    fn verifier_and_admin_settings_have_their_flags_and_defaults() {
        let cli = parse(&[
            "--jwks-url=http://identity:8081/.well-known/jwks.json/",
            "--admin-password=correct horse",
        ])
        .expect("valid settings");
        assert_eq!(
            cli.verifier.jwks_url,
            "http://identity:8081/.well-known/jwks.json"
        );
        assert_eq!(cli.verifier.jwt_issuer, DEFAULT_JWT_ISSUER);
        assert_eq!(cli.verifier.jwt_audience, DEFAULT_JWT_AUDIENCE);
        assert_eq!(cli.admin.email, DEFAULT_ADMIN_EMAIL);
        assert_eq!(
            cli.admin.password.as_ref().map(|p| p.expose_secret()),
            Some("correct horse")
        );
        let cli = parse(&[
            "--jwks-url=https://id.example/jwks",
            "--jwt-issuer=other",
            "--jwt-audience=them",
            "--admin-email=root@example.md",
        ])
        .expect("valid settings");
        assert_eq!(cli.verifier.jwt_issuer, "other");
        assert_eq!(cli.verifier.jwt_audience, "them");
        assert_eq!(cli.admin.email, "root@example.md");
        assert!(cli.admin.password.is_none());
        let err = parse(&["--jwks-url=identity:8081"])
            .err()
            .expect("not an http URL");
        assert!(err.to_string().contains("jwks-url"), "{err}");
    }

    #[test]
    fn addrs_and_urls() {
        assert!(parse_listen_addr("0.0.0.0:8080").is_ok());
        assert!(parse_listen_addr("localhost").is_err());
        assert_eq!(parse_http_url("http://x:1/").unwrap(), "http://x:1");
        assert!(parse_http_url("ftp://x").is_err());
    }
}

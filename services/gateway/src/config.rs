//! Settings, from flags or environment variables (listed in the README's Settings section).

use std::time::Duration;

use gleaner_common::ratelimit::LeasePolicy;
use gleaner_common::settings::{
    DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, env, parse_duration, parse_http_url,
    parse_listen_addr,
};
use gleaner_common::telemetry::LogSettings;
use secrecy::SecretString;

use crate::limiter::{LEASE_MAX, LEASE_TTL};
use crate::route_table::DEFAULT_ROUTES;

/// Gateway settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "0.0.0.0:8080", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// Base URL of the identity service.
    #[arg(long, env = env::IDENTITY_URL, value_parser = parse_http_url)]
    pub identity_url: String,
    /// Base URL of the scraper service.
    #[arg(long, env = env::SCRAPER_URL, value_parser = parse_http_url)]
    pub scraper_url: String,
    /// Base URL of the app service.
    #[arg(long, env = "APP_URL", value_parser = parse_http_url)]
    pub app_url: String,
    /// Where the keys that verify access tokens are published
    /// (default: identity's `/.well-known/jwks.json`).
    #[arg(long, env = env::JWKS_URL, value_parser = parse_http_url)]
    pub jwks_url: Option<String>,
    /// `iss` every access token must carry.
    #[arg(long, env = env::JWT_ISSUER, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// `aud` every access token must carry.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = DEFAULT_JWT_AUDIENCE)]
    pub jwt_audience: String,
    /// Redis URL (rate limits).
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: SecretString,
    /// Requests per second allowed per user (or per client address when anonymous).
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 10.0, value_parser = parse_rate)]
    pub rate_limit_per_second: f64,
    /// Requests allowed at once on top of the rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
    /// How many proxies in front append to `X-Forwarded-For` (an ingress);
    /// the client is the N-th address from the right. 0 = the peer.
    #[arg(long, env = env::TRUSTED_PROXIES, default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Origins allowed to call the API from a browser (comma-separated; empty = none).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// The route table: `METHOD PATTERN UPSTREAM ACCESS` entries separated by
    /// `;` or new lines, first match wins (see the README).
    #[arg(long, env = "GATEWAY_ROUTES", default_value = DEFAULT_ROUTES)]
    pub routes: String,
    /// How long to wait for a connection to an upstream.
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub upstream_connect_timeout: Duration,
    /// How long to wait for an upstream's response headers (a streamed body
    /// may then take as long as it needs).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,
    /// How busy keys' requests are leased from Redis (not a flag: the defaults,
    /// `LEASE_TTL` and `LEASE_MAX`, hold everywhere but in tests).
    #[arg(skip = LeasePolicy { ttl: LEASE_TTL, max: LEASE_MAX })]
    pub rate_limit_lease: LeasePolicy,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
}

impl Settings {
    /// The JWKS URL: the setting, or identity's.
    pub fn jwks_url(&self) -> String {
        self.jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.identity_url))
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!("{s:?} must be a positive number"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    const REQUIRED: [&str; 5] = [
        "gateway",
        "--identity-url=http://identity:8081",
        "--scraper-url=http://scraper:8082",
        "--app-url=http://app:8083",
        "--redis-url=redis://redis",
    ];

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Cli::try_parse_from(REQUIRED).unwrap().settings;
        assert_eq!(s.listen_addr, "0.0.0.0:8080");
        assert_eq!(s.rate_limit_per_second, 10.0);
        assert_eq!(s.rate_limit_burst, 20);
        assert_eq!(s.trusted_proxies, 0);
        assert_eq!(s.jwks_url(), "http://identity:8081/.well-known/jwks.json");
        assert!(s.cors_allowed_origins.is_empty());
    }

    #[test]
    fn malformed_settings_are_refused_naming_them() {
        for (bad, name) in [
            ("--rate-limit-per-second=0", "rate-limit-per-second"),
            ("--rate-limit-burst=0", "rate-limit-burst"),
            ("--upstream-timeout=soon", "upstream-timeout"),
        ] {
            let mut args = REQUIRED.to_vec();
            args.push(bad);
            let err = Cli::try_parse_from(args).err().unwrap();
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = Cli::try_parse_from(&REQUIRED[..4]).err().unwrap();
        assert!(err.to_string().contains("redis-url"), "{err}");
    }
}

//! Helpers for settings read with clap from flags and environment variables.

use std::time::Duration;

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

    #[test]
    fn addrs_and_urls() {
        assert!(parse_listen_addr("0.0.0.0:8080").is_ok());
        assert!(parse_listen_addr("localhost").is_err());
        assert_eq!(parse_http_url("http://x:1/").unwrap(), "http://x:1");
        assert!(parse_http_url("ftp://x").is_err());
    }
}

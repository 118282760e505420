//! The root URL of a source (`baseUrl`, `apiUrl`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::URL_MAX_LEN;

/// An http(s) root URL with a host, and no user info, query or fragment: anything a run
/// appends to it stays a path on that host. [`SourceUrl::parse`] accepts exactly what
/// [`crate::limits::SOURCE_URL_PATTERN`] matches, up to [`URL_MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl {
    url: String,
    /// Byte range of the host in `url` (brackets included for IPv6).
    host: (usize, usize),
    port: Option<u16>,
}

/// Why a string is not a source URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSourceUrl {
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for InvalidSourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for InvalidSourceUrl {}

fn invalid(reason: &'static str) -> InvalidSourceUrl {
    InvalidSourceUrl { reason }
}

impl SourceUrl {
    /// Parses an http(s) root URL.
    pub fn parse(s: &str) -> Result<Self, InvalidSourceUrl> {
        if s.len() > URL_MAX_LEN {
            return Err(invalid("is longer than 2048 characters"));
        }
        let scheme_len = if s.starts_with("https://") {
            8
        } else if s.starts_with("http://") {
            7
        } else {
            return Err(invalid("must start with http:// or https://"));
        };
        let rest = &s[scheme_len..];
        let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let path = &rest[authority_end..];
        if authority.contains('@') {
            return Err(invalid("must not hold user info (user:password@)"));
        }
        if path.contains('?') {
            return Err(invalid("must not have a query (?...)"));
        }
        if path.contains('#') {
            return Err(invalid("must not have a fragment (#...)"));
        }
        if path.contains('\\') || path.chars().any(char::is_whitespace) {
            return Err(invalid("must not contain spaces or backslashes"));
        }
        let (host, port) = split_host_port(authority)?;
        let start = scheme_len;
        Ok(SourceUrl {
            url: s.to_owned(),
            host: (start, start + host.len()),
            port,
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL without trailing slashes, ready for a path to be appended.
    pub fn root(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        if self.url.starts_with("https://") {
            "https"
        } else {
            "http"
        }
    }

    /// The host as written (an IPv6 address keeps its brackets).
    pub fn host(&self) -> &str {
        &self.url[self.host.0..self.host.1]
    }

    /// The port, when the URL names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme() == "https" { 443 } else { 80 })
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), InvalidSourceUrl> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or(invalid("has an unclosed IPv6 bracket"))?;
        let inner = &authority[1..close];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(invalid("has a malformed IPv6 host"));
        }
        let after = &authority[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(invalid("has a malformed host")),
        };
        (&authority[..=close], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("must name a host"));
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(invalid(
            "has a host with characters other than letters, digits, '-', '.' and '_'",
        ));
    }
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty()
                || p.len() > 5
                || p.starts_with('0')
                || !p.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid(
                    "has a malformed port (1 to 65535, no leading zero)",
                ));
            }
            Some(
                p.parse::<u16>()
                    .map_err(|_| invalid("has a port above 65535"))?,
            )
        }
    };
    Ok((host, port))
}

impl TryFrom<String> for SourceUrl {
    type Error = InvalidSourceUrl;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SourceUrl::parse(&s)
    }
}

impl From<SourceUrl> for String {
    fn from(u: SourceUrl) -> String {
        u.url
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl std::str::FromStr for SourceUrl {
    type Err = InvalidSourceUrl;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_roots_with_host_port_and_path() {
        let u = SourceUrl::parse("https://api.openmoney.md/").unwrap();
        assert_eq!(
            (u.scheme(), u.host(), u.port()),
            ("https", "api.openmoney.md", None)
        );
        assert_eq!(u.root(), "https://api.openmoney.md");
        assert_eq!(u.port_or_default(), 443);
        let u = SourceUrl::parse("http://127.0.0.1:8090/base/").unwrap();
        assert_eq!((u.host(), u.port()), ("127.0.0.1", Some(8090)));
        assert_eq!(u.root(), "http://127.0.0.1:8090/base");
        let u = SourceUrl::parse("http://[::1]:65535").unwrap();
        assert_eq!((u.host(), u.port()), ("[::1]", Some(65535)));
        assert_eq!(u.port_or_default(), 65535);
    }

    #[test]
    fn refuses_what_could_redirect_a_run() {
        for bad in [
            "https://user:pw@openmoney.md",
            "https://openmoney.md@169.254.169.254/",
            "https://openmoney.md/?x=1",
            "https://openmoney.md#",
            "https://openmoney.md/a#frag",
            "https://openmoney.md\\@evil",
            "ftp://openmoney.md",
            "HTTPS://openmoney.md",
            "https://",
            "https:///path",
            "https://:80",
            "https://host:",
            "https://host:65536",
            "https://host:0",
            "https://host:08090",
            "https://host:123456",
            "https://ho st",
            "https://host/a b",
            "https://[::1",
            "https://[]",
            "https://xn--bcher-kva.example:8a",
            "openmoney.md",
        ] {
            assert!(SourceUrl::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://a.md/{}", "x".repeat(URL_MAX_LEN));
        assert!(SourceUrl::parse(&long).is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let u: SourceUrl = serde_json::from_str(r#""http://localhost:8090""#).unwrap();
        assert_eq!(u.host(), "localhost");
        assert!(serde_json::from_str::<SourceUrl>(r#""http://a?b""#).is_err());
    }
}

//! The root URL of a source: the one parser of a URL a configuration names, read as the
//! URL standard reads it (the `url` crate, as the HTTP client does), and refused unless it
//! is written the way it is read.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Longest source URL.
pub const MAX_LEN: usize = 2048;

/// A schema pattern of source URLs: http(s), a host (a name, an IPv4 address or a
/// bracketed IPv6 address), an optional port from 1 to 65535 (no leading zero) and a
/// path; no user info, no query, no fragment. Every URL [`SourceUrl::parse`] accepts
/// matches it; of those it matches, the parser refuses the ones whose host the URL
/// standard reads as something other than what is written (`http://0x7f.1`,
/// `http://1.2.3.999`).
pub const PATTERN: &str = concat!(
    r"^https?://",
    r"([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])",
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"(/[^\s?#\\]*)?$"
);

/// An http(s) root URL with a host, and no user info, query or fragment: anything
/// appended to it stays a path on that host. The host and port are written exactly as the
/// URL standard reads them (letter case aside), so no other spelling of an address, no
/// percent-escape and nothing before the host can make a client reach a host other than
/// the one a policy checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl {
    written: String,
    url: Url,
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
        if s.len() > MAX_LEN {
            return Err(invalid("is longer than 2048 characters"));
        }
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or(invalid("must start with http:// or https://"))?;
        if s.contains('\\') || s.chars().any(char::is_whitespace) {
            return Err(invalid("must not contain spaces or backslashes"));
        }
        let url = Url::parse(s).map_err(|_| {
            invalid(
                "has no valid host (a name, an IPv4 address or a bracketed IPv6 address) or port",
            )
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not hold user info (user:password@)"));
        }
        if url.query().is_some() {
            return Err(invalid("must not have a query (?...)"));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment (#...)"));
        }
        let host = url.host_str().unwrap_or_default();
        let written_host = rest
            .get(..host.len())
            .filter(|written| !host.is_empty() && written.eq_ignore_ascii_case(host))
            .ok_or(invalid(
                "must name its host as the URL standard reads it (an address as four decimal \
                 numbers or in brackets, a name without escapes)",
            ))?;
        let after_host = &rest[written_host.len()..];
        let (port, path) = match after_host.strip_prefix(':') {
            Some(port_and_path) => {
                let end = port_and_path.find('/').unwrap_or(port_and_path.len());
                (Some(&port_and_path[..end]), &port_and_path[end..])
            }
            None => (None, after_host),
        };
        if !path.is_empty() && !path.starts_with('/') {
            return Err(invalid("has a malformed host"));
        }
        if let Some(port) = port {
            let read = url.port_or_known_default().filter(|&p| p != 0);
            if read.map(|p| p.to_string()).as_deref() != Some(port) {
                return Err(invalid(
                    "has a malformed port (1 to 65535, no leading zero)",
                ));
            }
        }
        Ok(SourceUrl {
            written: s.to_owned(),
            url,
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The URL as the URL standard reads it (what an HTTP client connects to).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL without trailing slashes, ready for a path to be appended.
    pub fn root(&self) -> &str {
        self.written.trim_end_matches('/')
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The host, lower-cased (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port, when the URL names one other than the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The port, or the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.url
            .port_or_known_default()
            .unwrap_or(if self.scheme() == "https" { 443 } else { 80 })
    }
}

impl TryFrom<String> for SourceUrl {
    type Error = InvalidSourceUrl;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SourceUrl::parse(&s)
    }
}

impl From<SourceUrl> for String {
    fn from(u: SourceUrl) -> String {
        u.written
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
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
        // Letter case and the scheme's own port are the same URL.
        let u = SourceUrl::parse("https://API.OpenMoney.MD.:443/x").unwrap();
        assert_eq!((u.host(), u.port_or_default()), ("api.openmoney.md.", 443));
        assert_eq!(u.as_str(), "https://API.OpenMoney.MD.:443/x");
        assert!(SourceUrl::parse("http://demo_site:1").is_ok());
        assert!(SourceUrl::parse("http://[::ABCD]/").is_ok());
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
            "https://169.254.169.254\\@openmoney.md/",
            "ftp://openmoney.md",
            "HTTPS://openmoney.md",
            "https://",
            "https:///path",
            "https:///openmoney.md",
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
            "https://openmoney.md%2e/",
            "https://open%6doney.md/",
            "openmoney.md",
        ] {
            assert!(SourceUrl::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://a.md/{}", "x".repeat(MAX_LEN));
        assert!(SourceUrl::parse(&long).is_err());
    }

    #[test]
    fn other_spellings_of_an_address_are_refused_not_read() {
        // The URL standard reads each of these as another host than the one written.
        for bad in [
            "http://0x7f.1/",
            "http://2130706433/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://1.2.3.4./",
            "http://1.2.3.999/",
            "http://[::ffff:127.0.0.1]/",
            "http://[0:0::1]/",
        ] {
            assert!(SourceUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let u: SourceUrl = serde_json::from_str(r#""http://localhost:8090""#).unwrap();
        assert_eq!(u.host(), "localhost");
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#""http://localhost:8090""#
        );
        assert!(serde_json::from_str::<SourceUrl>(r#""http://a?b""#).is_err());
    }
}

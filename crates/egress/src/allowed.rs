//! The two lists a policy is made of, each read from a setting its user names: allowed
//! hosts (names or addresses, optionally with a port) and allowed networks (CIDR).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use url::Host;

/// A malformed list setting, naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting at fault (such as `SCRAPER_ALLOWED_HOSTS`).
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for SettingError {}

/// The non-empty entries of a comma-separated list (blanks ignored).
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// One allowed host: a name or an address, on any port unless one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// `name`, `name:port`, an IPv4 address (`:port` optional), an IPv6 address bare or in
    /// brackets, `[IPv6]:port`. The host is read as a URL's host is read, so an entry
    /// matches the URLs that reach it.
    fn parse(entry: &str) -> Result<Self, String> {
        let bad = || format!("{entry:?} is not a host name, IP address, host:port or [IPv6]:port");
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Ok(Self {
                host: ip_host(ip),
                port: None,
            });
        }
        let (host, port) = match entry.rsplit_once(':') {
            // A colon inside brackets belongs to the address.
            Some((host, port)) if !port.contains(']') => {
                (host, Some(parse_port(port).ok_or_else(bad)?))
            }
            _ => (entry, None),
        };
        let host = match Host::parse(host).map_err(|_| bad())? {
            Host::Domain(name) => Host::Domain(plausible_name(&name).ok_or_else(bad)?),
            ip => ip,
        };
        Ok(Self { host, port })
    }

    fn matches(&self, host: &Host<&str>, port: u16) -> bool {
        let host_matches = match (&self.host, host) {
            (Host::Domain(allowed), Host::Domain(name)) => {
                allowed.as_str() == name.strip_suffix('.').unwrap_or(name)
            }
            (allowed, host) => match (ip_of(allowed), ip_of(host)) {
                (Some(allowed), Some(ip)) => allowed.to_canonical() == ip.to_canonical(),
                _ => false,
            },
        };
        host_matches && self.port.is_none_or(|p| p == port)
    }
}

fn ip_host(ip: IpAddr) -> Host<String> {
    match ip {
        IpAddr::V4(v4) => Host::Ipv4(v4),
        IpAddr::V6(v6) => Host::Ipv6(v6),
    }
}

/// The address of an IP-literal host; `None` for a name.
pub(crate) fn ip_of<S>(host: &Host<S>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(*v6)),
        Host::Domain(_) => None,
    }
}

/// Digits only, 1 to 65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&p| p != 0)
}

/// A name as the URL parser gave it (lower-cased), one trailing dot dropped; `None` unless
/// it is a plausible DNS name.
fn plausible_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (!name.is_empty() && name.len() <= 253 && labels_ok).then(|| name.to_owned())
}

/// The hosts a policy allows, read from a comma-separated setting: host names or IP
/// addresses, each optionally with a port (`host:port`, `[IPv6]:port`); without one, any
/// port. Keeps the list as written, and the setting's name for refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    setting: &'static str,
    written: String,
    hosts: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses `list`, the value of `setting`.
    pub fn parse(setting: &'static str, list: &str) -> Result<Self, SettingError> {
        let hosts = entries(list)
            .map(AllowedHost::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| SettingError { setting, message })?;
        Ok(Self {
            setting,
            written: list.to_owned(),
            hosts,
        })
    }

    /// No host at all.
    pub fn none(setting: &'static str) -> Self {
        Self {
            setting,
            written: String::new(),
            hosts: Vec::new(),
        }
    }

    /// The setting the list was read from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The list as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Whether `host` on `port` is listed.
    pub fn allows(&self, host: &Host<&str>, port: u16) -> bool {
        self.hosts.iter().any(|h| h.matches(host, port))
    }
}

/// The non-public networks a policy lets connections reach, read from a comma-separated
/// setting of CIDR networks (`10.0.0.0/8`, `fd00::/8`; a bare address is one host). Keeps
/// the list as written, and the setting's name for refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedNetworks {
    setting: &'static str,
    written: String,
    networks: Vec<IpNet>,
}

impl AllowedNetworks {
    /// Parses `list`, the value of `setting`. Host bits must be zero and the prefix plain
    /// digits, so a typo such as `10.0.0.1/8` or `10.0.0.0/08` is refused rather than read.
    pub fn parse(setting: &'static str, list: &str) -> Result<Self, SettingError> {
        let networks = entries(list)
            .map(parse_network)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| SettingError { setting, message })?;
        Ok(Self {
            setting,
            written: list.to_owned(),
            networks,
        })
    }

    /// No network at all.
    pub fn none(setting: &'static str) -> Self {
        Self {
            setting,
            written: String::new(),
            networks: Vec::new(),
        }
    }

    /// The setting the list was read from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The list as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// Whether `ip` lies in one of the networks (an IPv4-mapped IPv6 address counts as
    /// the IPv4 address it is).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }
}

/// One network: `addr/prefix` with no host bits set, or a bare address.
fn parse_network(s: &str) -> Result<IpNet, String> {
    let Some((_, prefix)) = s.split_once('/') else {
        return s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{s:?} is not a CIDR network (such as 10.0.0.0/8)"));
    };
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("{s:?} is not a CIDR network (such as 10.0.0.0/8)"))?;
    // Digits only, no leading zero: `+8` and `08` are typos, not /8.
    if prefix != net.prefix_len().to_string() {
        return Err(format!(
            "{s:?} has a prefix length that is not 0..={}",
            net.max_prefix_len()
        ));
    }
    if net.trunc() != net {
        return Err(format!("{s:?} has host bits set"));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn network(s: &str) -> Result<IpNet, String> {
        parse_network(s)
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(network("::1").unwrap().to_string(), "::1/128");
        let all_v4 = AllowedNetworks::parse("NETS", "0.0.0.0/0").unwrap();
        assert!(all_v4.contains(ip("8.8.8.8")));
        assert!(!all_v4.contains(ip("::1")));
        assert!(
            AllowedNetworks::parse("NETS", "::/0")
                .unwrap()
                .contains(ip("fe80::1"))
        );
        let private = AllowedNetworks::parse("NETS", "172.16.0.0/12").unwrap();
        assert!(private.contains(ip("172.31.1.1")));
        assert!(!private.contains(ip("172.32.0.0")));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "fd00::/129",
            "10/8",
            "example.com/24",
            "",
        ] {
            assert!(network(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn malformed_lists_name_their_setting() {
        let e = AllowedHosts::parse("SOME_HOSTS", "openmoney.md,bad host").unwrap_err();
        assert_eq!(e.setting, "SOME_HOSTS");
        assert!(e.to_string().starts_with("SOME_HOSTS: "), "{e}");
        let e = AllowedNetworks::parse("SOME_NETWORKS", "10.0.0.0/8,nope").unwrap_err();
        assert_eq!(e.setting, "SOME_NETWORKS");
        for bad in [
            "host:",
            "host:0",
            "host:70000",
            "[::1",
            "[::1]x",
            "-a.b",
            "a..b",
            "http://x",
        ] {
            assert!(
                AllowedHosts::parse("SOME_HOSTS", bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        // Blanks between commas are ignored; empty lists are valid; the list is kept as written.
        let hosts = AllowedHosts::parse("SOME_HOSTS", " a.test , ,b.test ").unwrap();
        assert_eq!(hosts.as_str(), " a.test , ,b.test ");
        assert_eq!(hosts.setting(), "SOME_HOSTS");
        assert!(AllowedNetworks::parse("SOME_NETWORKS", " ").is_ok());
    }

    #[test]
    fn entries_match_as_urls_read_hosts() {
        let hosts = AllowedHosts::parse(
            "HOSTS",
            "Example.TEST.,127.0.0.1,[::1]:9000,::2,localhost:8090",
        )
        .unwrap();
        let allows = |url: &str| {
            let url = url::Url::parse(url).unwrap();
            hosts.allows(&url.host().unwrap(), url.port_or_known_default().unwrap())
        };
        assert!(allows("https://example.test/"));
        assert!(allows("https://EXAMPLE.test./"));
        assert!(allows("http://127.0.0.1:1/"));
        assert!(allows("http://[::ffff:127.0.0.1]/"));
        assert!(allows("http://[::1]:9000/"));
        assert!(!allows("http://[::1]:9001/"));
        assert!(allows("http://[::2]:1/"));
        assert!(allows("http://localhost:8090/"));
        assert!(!allows("http://localhost/"));
        assert!(!allows("http://127.0.0.2/"));
    }
}

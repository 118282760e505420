//! Where a run may connect: the allowed hosts and networks (`SCRAPER_ALLOWED_HOSTS`,
//! `SCRAPER_ALLOWED_NETWORKS`).
//!
//! Two checks, both needed. When a spec is accepted, its URLs must name an allowed host
//! (and an IP-literal host that is not public must also lie in an allowed network). When
//! a connection is made, every address the name resolved to must be public or inside an
//! allowed network, so a name that resolves (or is re-pointed, DNS rebinding) to a cluster
//! or metadata address is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Environment variable holding the allowed hosts.
pub const ALLOWED_HOSTS_ENV: &str = "SCRAPER_ALLOWED_HOSTS";
/// Environment variable holding the allowed networks.
pub const ALLOWED_NETWORKS_ENV: &str = "SCRAPER_ALLOWED_NETWORKS";
/// Hosts allowed when `SCRAPER_ALLOWED_HOSTS` is not set.
pub const DEFAULT_ALLOWED_HOSTS: &str = "openmoney.md,api.openmoney.md";
/// Networks allowed when `SCRAPER_ALLOWED_NETWORKS` is not set: none.
pub const DEFAULT_ALLOWED_NETWORKS: &str = "";

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `addr/prefix` or a bare address. Host bits must be zero, so a typo such as
    /// `10.0.0.1/8` is refused rather than silently widened.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not a CIDR network (such as 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only, no leading zero: `+8` and `08` are typos, not /8.
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p == n.to_string() => n,
                _ => return Err(format!("{s:?} has a prefix length that is not 0..={max}")),
            },
        };
        let net = Self { addr, prefix };
        if net.network_bits(addr) != bits(addr) {
            return Err(format!("{s:?} has host bits set"));
        }
        Ok(net)
    }

    /// Whether `ip` lies inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && self.network_bits(ip) == bits(self.addr)
    }

    fn network_bits(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let host_bits = u32::from(width - self.prefix);
        let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
        bits(ip) & mask
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A URL's host, as the URL parser saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name (compared ASCII case-insensitively, a trailing dot ignored).
    Name(&'a str),
    /// An IP literal.
    Ip(IpAddr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedName {
    Name(String),
    Ip(IpAddr),
}

/// One entry of `SCRAPER_ALLOWED_HOSTS`: a host, on any port unless one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: AllowedName,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a host name, IP address, host:port or [IPv6]:port");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
            let ip: Ipv6Addr = ip.parse().map_err(|_| bad())?;
            let port = match after {
                "" => None,
                p => Some(parse_port(p.strip_prefix(':').ok_or_else(bad)?).ok_or_else(bad)?),
            };
            (AllowedName::Ip(IpAddr::V6(ip)), port)
        } else if let Ok(ip) = s.parse::<IpAddr>() {
            (AllowedName::Ip(ip), None)
        } else {
            let (name, port) = match s.rsplit_once(':') {
                Some((n, p)) => (n, Some(parse_port(p).ok_or_else(bad)?)),
                None => (s, None),
            };
            if let Ok(ip) = name.parse::<Ipv4Addr>() {
                (AllowedName::Ip(IpAddr::V4(ip)), port)
            } else {
                (
                    AllowedName::Name(normalize_name(name).ok_or_else(bad)?),
                    port,
                )
            }
        };
        Ok(Self { host, port })
    }

    fn matches(&self, host: &Host<'_>, port: u16) -> bool {
        let host_matches = match (&self.host, host) {
            (AllowedName::Name(allowed), Host::Name(name)) => {
                normalize_name(name).is_some_and(|n| &n == allowed)
            }
            (AllowedName::Ip(allowed), Host::Ip(ip)) => allowed.to_canonical() == ip.to_canonical(),
            _ => false,
        };
        host_matches && self.port.is_none_or(|p| p == port)
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&p| p != 0)
}

/// Lower-cased, one trailing dot dropped; `None` unless it is a plausible DNS name.
fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (!name.is_empty() && name.len() <= 253 && labels_ok).then_some(name)
}

/// A malformed `SCRAPER_ALLOWED_HOSTS` or `SCRAPER_ALLOWED_NETWORKS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The setting at fault.
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Why a host or address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The URL cannot be read (no host, not http(s), userinfo, characters a host cannot hold).
    InvalidUrl(String),
    /// The host (and port) is not in `SCRAPER_ALLOWED_HOSTS`.
    HostNotAllowed(String),
    /// The address is loopback, private, link-local, metadata or otherwise not public, and
    /// not inside `SCRAPER_ALLOWED_NETWORKS`.
    AddressNotAllowed(IpAddr),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::InvalidUrl(why) => write!(f, "{why}"),
            Refusal::HostNotAllowed(host) => {
                write!(f, "host {host} is not allowed ({ALLOWED_HOSTS_ENV})")
            }
            Refusal::AddressNotAllowed(ip) => write!(
                f,
                "address {ip} is not public and not in an allowed network ({ALLOWED_NETWORKS_ENV})"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// The parsed `SCRAPER_ALLOWED_HOSTS`: host names or IP addresses, each optionally with a
/// port (`host:port`, `[IPv6]:port`); without one, any port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl FromStr for AllowedHosts {
    type Err = PolicyError;

    fn from_str(list: &str) -> Result<Self, PolicyError> {
        entries(list)
            .map(AllowedHost::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|message| PolicyError {
                setting: ALLOWED_HOSTS_ENV,
                message,
            })
    }
}

/// The parsed `SCRAPER_ALLOWED_NETWORKS`: CIDR networks whose addresses a connection may
/// reach even though they are not public.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedNetworks(Vec<IpNetwork>);

impl FromStr for AllowedNetworks {
    type Err = PolicyError;

    fn from_str(list: &str) -> Result<Self, PolicyError> {
        entries(list)
            .map(IpNetwork::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|message| PolicyError {
                setting: ALLOWED_NETWORKS_ENV,
                message,
            })
    }
}

/// Where a run may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    hosts: Vec<AllowedHost>,
    networks: Vec<IpNetwork>,
}

impl Default for EgressPolicy {
    /// The production default: openmoney.md and api.openmoney.md, no private networks.
    fn default() -> Self {
        Self::parse(DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS)
            .unwrap_or_else(|_| Self::deny_all())
    }
}

impl EgressPolicy {
    /// A policy from the two parsed settings.
    pub fn new(hosts: AllowedHosts, networks: AllowedNetworks) -> Self {
        Self {
            hosts: hosts.0,
            networks: networks.0,
        }
    }

    /// A policy that allows nothing.
    pub fn deny_all() -> Self {
        Self::new(AllowedHosts::default(), AllowedNetworks::default())
    }

    /// Parses the two settings (comma-separated; blanks ignored), naming the one at fault.
    pub fn parse(hosts: &str, networks: &str) -> Result<Self, PolicyError> {
        Ok(Self::new(hosts.parse()?, networks.parse()?))
    }

    /// Reads the settings from the environment, with their defaults when unset.
    pub fn from_env() -> Result<Self, PolicyError> {
        let hosts = std::env::var(ALLOWED_HOSTS_ENV);
        let networks = std::env::var(ALLOWED_NETWORKS_ENV);
        Self::parse(
            hosts.as_deref().unwrap_or(DEFAULT_ALLOWED_HOSTS),
            networks.as_deref().unwrap_or(DEFAULT_ALLOWED_NETWORKS),
        )
    }

    /// The allowed networks.
    pub fn networks(&self) -> &[IpNetwork] {
        &self.networks
    }

    /// Whether a URL's host and port may be fetched: the host is allowed, and an IP-literal
    /// host that is not public also lies in an allowed network.
    pub fn check_host(&self, host: Host<'_>, port: u16) -> Result<(), Refusal> {
        if !self.hosts.iter().any(|h| h.matches(&host, port)) {
            return Err(Refusal::HostNotAllowed(format!("{host}:{port}")));
        }
        if let Host::Ip(ip) = host {
            self.check_ip(ip)?;
        }
        Ok(())
    }

    /// Whether an address a connection is about to go to is allowed: public, or inside an
    /// allowed network.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if is_public(ip) || self.networks.iter().any(|n| n.contains(ip)) {
            Ok(())
        } else {
            Err(Refusal::AddressNotAllowed(ip))
        }
    }

    /// Checks an `http(s)` URL as written in a spec. The authority is read strictly: userinfo,
    /// percent-escapes and anything a host cannot hold are refused rather than interpreted, so
    /// no spelling reaches a host other than the one checked.
    pub fn check_url(&self, url: &str) -> Result<(), Refusal> {
        let (host, port) = url_authority(url)?;
        match host.parse::<IpAddr>() {
            Ok(ip) => self.check_host(Host::Ip(ip), port),
            Err(_) => self.check_host(Host::Name(host), port),
        }
    }
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// The host (brackets removed) and port (default by scheme) of an http(s) URL.
fn url_authority(url: &str) -> Result<(&str, u16), Refusal> {
    let invalid = |why: &str| Refusal::InvalidUrl(why.to_owned());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("must be an http(s) URL"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(invalid("must be an http(s) URL")),
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(invalid("must not hold a user name or password"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid("has an unterminated IPv6 address"))?;
        (host, after)
    } else {
        match authority.find(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    let port = match port {
        "" => default_port,
        p => p
            .strip_prefix(':')
            .and_then(parse_port)
            .ok_or_else(|| invalid("has an invalid port"))?,
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !host_ok {
        return Err(invalid(
            "has no host, or a host with characters a host cannot hold",
        ));
    }
    Ok((host, port))
}

/// Whether an address is globally reachable: not loopback, private, link-local (cloud
/// metadata lives there), shared (CGNAT), unspecified, documentation, benchmarking,
/// multicast, reserved, ULA, or an IPv6 form that embeds a non-public IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 ranges that are not globally reachable (RFC 6890 and successors).
const NON_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (CGNAT; Alibaba metadata)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local (cloud metadata 169.254.169.254)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, broadcast
];

/// IPv6 ranges that are not globally reachable.
const NON_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 8), // reserved: unspecified, loopback, IPv4-compatible
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments (Teredo, ...)
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16), // SRv6 segment identifiers
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local (AWS metadata fd00:ec2::254)
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

fn in_range(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    IpNetwork { addr: net, prefix }.contains(ip)
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    !NON_PUBLIC_V4
        .iter()
        .any(|&(net, prefix)| in_range(IpAddr::V4(v4), IpAddr::V4(net), prefix))
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let ip = IpAddr::V6(v6);
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // NAT64 (64:ff9b::/96, inside the reserved ::/8) and 6to4 (2002::/16) reach the IPv4
    // address they embed.
    if in_range(
        ip,
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)),
        96,
    ) {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !NON_PUBLIC_V6
        .iter()
        .any(|&(net, prefix)| in_range(ip, IpAddr::V6(net), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(hosts: &str, networks: &str) -> EgressPolicy {
        EgressPolicy::parse(hosts, networks).unwrap()
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused() {
        for addr in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.192",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip(addr)), "{addr} must not be public");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_the_ranges_are_allowed() {
        for addr in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "185.3.4.5",
        ] {
            assert!(is_public(ip(addr)), "{addr} is public");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused() {
        for addr in [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(addr)), "{addr} must not be public");
        }
    }

    #[test]
    fn public_ipv6_is_allowed_including_forms_embedding_public_ipv4() {
        for addr in [
            "2a00:1450:4001::1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ] {
            assert!(is_public(ip(addr)), "{addr} is public");
        }
    }

    #[test]
    fn connect_time_check_allows_public_and_allowed_networks_only() {
        let p = policy("example.test", "127.0.0.0/8, fd00::/8");
        assert_eq!(p.check_ip(ip("93.184.216.34")), Ok(()));
        assert_eq!(p.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check_ip(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(p.check_ip(ip("fd00:ec2::254")), Ok(()));
        assert_eq!(
            p.check_ip(ip("169.254.169.254")),
            Err(Refusal::AddressNotAllowed(ip("169.254.169.254")))
        );
        // The IPv4-mapped form is judged as the IPv4 address it is.
        assert_eq!(
            p.check_ip(ip("::ffff:10.0.0.1")),
            Err(Refusal::AddressNotAllowed(ip("10.0.0.1")))
        );
        assert!(p.check_ip(ip("::1")).is_err());
        assert!(policy("", "").check_ip(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn default_allows_openmoney_and_nothing_private() {
        let p = EgressPolicy::default();
        assert_eq!(p.check_url("https://openmoney.md"), Ok(()));
        assert_eq!(p.check_url("https://api.openmoney.md/"), Ok(()));
        assert_eq!(p.check_url("HTTPS://API.OpenMoney.MD./x"), Ok(()));
        assert!(matches!(
            p.check_url("https://evil.example"),
            Err(Refusal::HostNotAllowed(_))
        ));
        assert!(p.check_url("https://openmoney.md.evil.example").is_err());
        assert!(
            p.check_url("http://169.254.169.254/latest/meta-data")
                .is_err()
        );
        assert!(p.check_url("http://localhost:8080").is_err());
        assert!(p.check_ip(ip("127.0.0.1")).is_err());
        assert!(p.networks().is_empty());
    }

    #[test]
    fn spec_check_refuses_non_public_ip_literals_outside_allowed_networks() {
        // Listing an address as a host is not enough: it must be in an allowed network too.
        let p = policy("127.0.0.1,10.0.0.1,[::1],169.254.169.254", "127.0.0.0/8");
        assert_eq!(p.check_url("http://127.0.0.1:8090/"), Ok(()));
        assert_eq!(
            p.check_url("http://10.0.0.1/"),
            Err(Refusal::AddressNotAllowed(ip("10.0.0.1")))
        );
        assert!(p.check_url("http://169.254.169.254/").is_err());
        assert!(p.check_url("http://[::1]:8080/").is_err());
        // Not listed at all.
        assert!(matches!(
            p.check_url("http://127.0.0.2/"),
            Err(Refusal::HostNotAllowed(_))
        ));
        // A public literal needs only the host entry.
        let p = policy("93.184.216.34", "");
        assert_eq!(p.check_url("http://93.184.216.34/"), Ok(()));
    }

    #[test]
    fn ports_restrict_when_given() {
        let p = policy("localhost:8090,127.0.0.1,[::1]:9000", "127.0.0.0/8,::1");
        assert_eq!(p.check_url("http://localhost:8090/"), Ok(()));
        assert!(p.check_url("http://localhost:8091/").is_err());
        assert!(p.check_url("http://localhost/").is_err());
        assert_eq!(p.check_url("http://127.0.0.1:1/"), Ok(()));
        assert_eq!(p.check_url("http://127.0.0.1/"), Ok(()));
        assert_eq!(p.check_url("http://[::1]:9000/"), Ok(()));
        assert!(p.check_url("http://[::1]:9001/").is_err());
        let p = policy("openmoney.md:443", "");
        assert_eq!(p.check_url("https://openmoney.md/"), Ok(()));
        assert!(p.check_url("http://openmoney.md/").is_err());
    }

    #[test]
    fn url_tricks_are_refused_not_interpreted() {
        let p = policy("openmoney.md", "");
        for url in [
            "https://openmoney.md@169.254.169.254/",
            "https://user:pw@openmoney.md/",
            "https://169.254.169.254\\@openmoney.md/",
            "https://openmoney.md%2e/",
            "https://open%6doney.md/",
            "https://openmoney.md:0/",
            "https://openmoney.md:99999/",
            "https://openmoney.md:/",
            "https:///openmoney.md",
            "ftp://openmoney.md/",
            "openmoney.md",
            "https://[::1/",
            "https://0x7f.1/",
            "https://2130706433/",
        ] {
            assert!(p.check_url(url).is_err(), "{url} must be refused");
        }
        // A fragment or query after the host does not change the host.
        assert_eq!(p.check_url("https://openmoney.md#x"), Ok(()));
        assert_eq!(p.check_url("https://openmoney.md?x=1"), Ok(()));
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(
            IpNetwork::parse("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(IpNetwork::parse("::1").unwrap().to_string(), "::1/128");
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(!IpNetwork::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(IpNetwork::parse("::/0").unwrap().contains(ip("fe80::1")));
        let net = IpNetwork::parse("172.16.0.0/12").unwrap();
        assert!(net.contains(ip("172.31.1.1")));
        assert!(!net.contains(ip("172.32.0.0")));
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
            assert!(IpNetwork::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn malformed_settings_name_the_setting() {
        let e = EgressPolicy::parse("openmoney.md,bad host", "").unwrap_err();
        assert_eq!(e.setting, ALLOWED_HOSTS_ENV);
        assert!(e.to_string().starts_with("SCRAPER_ALLOWED_HOSTS: "), "{e}");
        let e = EgressPolicy::parse("openmoney.md", "10.0.0.0/8,nope").unwrap_err();
        assert_eq!(e.setting, ALLOWED_NETWORKS_ENV);
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
                EgressPolicy::parse(bad, "").is_err(),
                "{bad:?} must be refused"
            );
        }
        // Blanks between commas are ignored; empty lists are valid.
        assert!(EgressPolicy::parse(" a.test , ,b.test ", " ").is_ok());
        assert_eq!(
            EgressPolicy::parse("", "")
                .unwrap()
                .check_url("https://openmoney.md"),
            Err(Refusal::HostNotAllowed("openmoney.md:443".into()))
        );
    }
}

//! The policy: which URLs a configuration may name and which addresses a connection may
//! reach.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::address::is_public;
use crate::allowed::{AllowedHosts, AllowedNetworks, ip_of};
use crate::source_url::SourceUrl;

/// Why a URL or address is refused. Each refusal names the setting that would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The URL cannot be read (no host, not http(s), user info).
    InvalidUrl(String),
    /// Plain `http` where only `https` is allowed.
    HttpNotAllowed {
        /// The setting that would allow it.
        setting: &'static str,
    },
    /// The host (and port) is not in the allowed hosts.
    HostNotAllowed {
        /// The host and port, as `host:port`.
        host: String,
        /// The setting that lists the allowed hosts.
        setting: &'static str,
    },
    /// The address is loopback, private, link-local, metadata or otherwise not public, and
    /// not inside an allowed network.
    AddressNotAllowed {
        /// The address (an IPv4-mapped IPv6 address as the IPv4 address it is).
        ip: IpAddr,
        /// The setting that lists the allowed networks.
        setting: &'static str,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::InvalidUrl(why) => write!(f, "{why}"),
            Refusal::HttpNotAllowed { setting } => {
                write!(f, "must be an https URL ({setting})")
            }
            Refusal::HostNotAllowed { host, setting } => {
                write!(f, "host {host} is not allowed ({setting})")
            }
            Refusal::AddressNotAllowed { ip, setting } => write!(
                f,
                "address {ip} is not public and not in an allowed network ({setting})"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Where connections may go. Two checks, both needed:
/// - when a URL is configured (and before each request, each redirect hop), its scheme
///   must be allowed, its host must be an allowed host (when the policy lists hosts), and
///   an IP-literal host must also be public or inside an allowed network;
/// - when a connection is made, every address a name resolved to must be public or inside
///   an allowed network, so a name that resolves (or is re-pointed: DNS rebinding) to a
///   cluster or metadata address is refused.
///
/// The networks only widen where allowed hosts may connect: an address inside an allowed
/// network is not an allowed host unless it is listed as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// `None`: any host.
    hosts: Option<AllowedHosts>,
    networks: AllowedNetworks,
    /// `Some(setting)`: https only, `setting` would allow http.
    https_only: Option<&'static str>,
}

impl EgressPolicy {
    /// Only the listed hosts, over http or https; non-public addresses only inside
    /// `networks`.
    pub fn new(hosts: AllowedHosts, networks: AllowedNetworks) -> Self {
        Self {
            hosts: Some(hosts),
            networks,
            https_only: None,
        }
    }

    /// Any host, over http or https; non-public addresses only inside `networks`.
    pub fn any_host(networks: AllowedNetworks) -> Self {
        Self {
            hosts: None,
            networks,
            https_only: None,
        }
    }

    /// The same policy refusing plain `http`; `setting` is what would allow it.
    pub fn https_only(mut self, setting: &'static str) -> Self {
        self.https_only = Some(setting);
        self
    }

    /// The allowed hosts; `None` when any host is allowed.
    pub fn hosts(&self) -> Option<&AllowedHosts> {
        self.hosts.as_ref()
    }

    /// The allowed networks.
    pub fn networks(&self) -> &AllowedNetworks {
        &self.networks
    }

    /// Whether a configured source URL may be fetched.
    pub fn check(&self, url: &SourceUrl) -> Result<(), Refusal> {
        self.check_url(url.url())
    }

    /// Whether a request may go to `url` (one a client built, or a redirect's target).
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        match (url.scheme(), self.https_only) {
            ("https", _) | ("http", None) => {}
            ("http", Some(setting)) => return Err(Refusal::HttpNotAllowed { setting }),
            _ => return Err(Refusal::InvalidUrl("must be an http(s) URL".into())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::InvalidUrl(
                "must not hold a user name or password".into(),
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| Refusal::InvalidUrl("has no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refusal::InvalidUrl("has no port".into()))?;
        self.check_host(&host, port)
    }

    /// Whether `host` on `port` may be reached: an allowed host (when hosts are listed),
    /// and an IP-literal host must also be an allowed address.
    pub fn check_host(&self, host: &Host<&str>, port: u16) -> Result<(), Refusal> {
        if let Some(hosts) = &self.hosts
            && !hosts.allows(host, port)
        {
            return Err(Refusal::HostNotAllowed {
                host: format!("{host}:{port}"),
                setting: hosts.setting(),
            });
        }
        match ip_of(host) {
            Some(ip) => self.check_ip(ip),
            None => Ok(()),
        }
    }

    /// Whether an address a connection is about to go to is allowed: public, or inside an
    /// allowed network.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if is_public(ip) || self.networks.contains(ip) {
            Ok(())
        } else {
            Err(Refusal::AddressNotAllowed {
                ip,
                setting: self.networks.setting(),
            })
        }
    }
}

//! The client's address, as rate limits and audit lines need it.
//!
//! Behind `TRUSTED_PROXIES = N` proxies, each proxy appends the address it
//! received the request from to `X-Forwarded-For`, so the client is the N-th
//! entry from the right. Everything left of it was written by the client and
//! is never believed. With `N = 0` (or when fewer than N entries arrived, or
//! the entry is not an address) the peer of the TCP connection is the client.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::error::ApiError;

/// How many proxies in front of the service append to `X-Forwarded-For`
/// (`TRUSTED_PROXIES`; 0 = use the peer address).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub usize);

/// The client's address, as far as the trusted proxies vouch for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client of a request from `peer` with `headers`.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: TrustedProxies) -> Self {
        Self(client_ip(peer, headers, trusted))
    }

    /// The key rate limits count under: the address itself for IPv4, the
    /// /64 network for IPv6 (one subscriber usually holds a whole /64).
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The client address of a request from `peer` behind `trusted` proxies.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted.0 == 0 {
        return peer;
    }
    // Several X-Forwarded-For headers are one list, in order (RFC 9110 §5.3).
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(value.split(',').map(str::trim).filter(|h| !h.is_empty()));
    }
    if hops.len() < trusted.0 {
        return peer;
    }
    hops.get(hops.len() - trusted.0)
        .copied()
        .and_then(parse_hop)
        .map_or(peer, |ip| ip.to_canonical())
}

/// An address as proxies write it: bare, `v4:port` or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl<S> FromRequestParts<S> for ClientAddr
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("no peer address: serve with connect info"))
            })?;
        Ok(Self::resolve(
            peer,
            &parts.headers,
            TrustedProxies::from_ref(state),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PEER: &str = "10.0.0.1";

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = headers(&["6.6.6.6"]);
        assert_eq!(client_ip(ip(PEER), &h, TrustedProxies(0)), ip(PEER));
    }

    #[test]
    fn the_nth_address_from_the_right_is_the_client() {
        // The client wrote 6.6.6.6 itself; proxy 1 appended 1.2.3.4, proxy 2 appended 10.1.1.1.
        let h = headers(&["6.6.6.6, 1.2.3.4, 10.1.1.1"]);
        assert_eq!(client_ip(ip(PEER), &h, TrustedProxies(1)), ip("10.1.1.1"));
        assert_eq!(client_ip(ip(PEER), &h, TrustedProxies(2)), ip("1.2.3.4"));
        assert_eq!(client_ip(ip(PEER), &h, TrustedProxies(3)), ip("6.6.6.6"));
    }

    #[test]
    fn the_leftmost_address_is_never_believed_when_proxies_appended() {
        let h = headers(&["203.0.113.9, 198.51.100.7"]);
        assert_eq!(
            client_ip(ip(PEER), &h, TrustedProxies(1)),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn repeated_headers_form_one_list() {
        let h = headers(&["6.6.6.6", "1.2.3.4"]);
        assert_eq!(client_ip(ip(PEER), &h, TrustedProxies(1)), ip("1.2.3.4"));
    }

    #[test]
    fn too_few_hops_or_garbage_fall_back_to_the_peer() {
        assert_eq!(
            client_ip(ip(PEER), &headers(&["1.2.3.4"]), TrustedProxies(2)),
            ip(PEER)
        );
        assert_eq!(
            client_ip(ip(PEER), &HeaderMap::new(), TrustedProxies(1)),
            ip(PEER)
        );
        assert_eq!(
            client_ip(
                ip(PEER),
                &headers(&["1.2.3.4, nonsense"]),
                TrustedProxies(1)
            ),
            ip(PEER)
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_normalised() {
        assert_eq!(
            client_ip(ip(PEER), &headers(&["1.2.3.4:5555"]), TrustedProxies(1)),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(
                ip(PEER),
                &headers(&["[2001:db8::1]:443"]),
                TrustedProxies(1)
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip(PEER), &headers(&["::ffff:1.2.3.4"]), TrustedProxies(1)),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &HeaderMap::new(), TrustedProxies(0)),
            ip(PEER)
        );
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddr(ip("2001:db8:1:2:ffff:1:2:3"));
        let c = ClientAddr(ip("2001:db8:1:3::1"));
        assert_eq!(a.limit_key(), "2001:db8:1:2::/64");
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), c.limit_key());
        assert_eq!(ClientAddr(ip("1.2.3.4")).limit_key(), "1.2.3.4");
    }
}

//! What the gateway writes into the headers of what it forwards and answers:
//! hop-by-hop headers dropped, `X-Forwarded-*` set, and the rate-limit headers.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use gleaner_common::client_addr::TrustedProxies;
use gleaner_common::ratelimit::Decision;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1):
/// never passed on in either direction.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Remove the hop-by-hop headers, and every header `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names, without hashing, says so.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// `X-Forwarded-For` gets the peer appended. `X-Forwarded-Proto` and
/// `-Host` are kept from a trusted proxy in front, set by the gateway otherwise;
/// `Forwarded` and `X-Real-IP` are kept only from a trusted proxy.
pub(crate) fn forwarded_headers(
    headers: &mut HeaderMap,
    peer: SocketAddr,
    original_host: Option<HeaderValue>,
    trusted: TrustedProxies,
    uri: &Uri,
) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");
    const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
    // Several X-Forwarded-For headers are one list, in order; the peer goes last.
    let mut forwarded_for = String::with_capacity(48);
    for hop in headers
        .get_all(&XFF)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        forwarded_for.push_str(hop);
        forwarded_for.push_str(", ");
    }
    push_ip(&mut forwarded_for, peer.ip().to_canonical());
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(XFF, v);
    }
    let from_trusted_proxy = trusted.0 > 0;
    if !(from_trusted_proxy && headers.contains_key(XFP)) {
        let scheme = uri.scheme_str().unwrap_or("http");
        if let Ok(v) = HeaderValue::from_str(scheme) {
            headers.insert(XFP, v);
        }
    }
    if !(from_trusted_proxy && headers.contains_key(XFH)) {
        match original_host {
            Some(host) => {
                headers.insert(XFH, host);
            }
            None => {
                headers.remove(&XFH);
            }
        }
    }
    // The same claims in other spellings: from a client they are not facts, and a service
    // or a tool behind the gateway that reads them must not be told them.
    if !from_trusted_proxy {
        headers.remove(header::FORWARDED);
        headers.remove(&X_REAL_IP);
    }
}

/// Append `ip` as text: an IPv4 address (nearly every peer) digit by digit, without
/// the formatting machinery; an IPv6 one as `Display` writes it.
fn push_ip(text: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(text, "{v6}");
        }
    }
}

/// `RateLimit-*` (IETF draft) and `X-RateLimit-*`: the burst, what is left
/// of it, and the seconds until all of it is back.
pub fn rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    const NAMES: [[HeaderName; 3]; 2] = [
        [
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ],
        [
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ],
    ];
    let values = [
        number_value(u64::from(decision.limit)),
        number_value(u64::from(decision.remaining)),
        number_value(decision.reset_secs()),
    ];
    for names in NAMES {
        for (name, value) in names.into_iter().zip(values.iter()) {
            headers.insert(name, value.clone());
        }
    }
}

/// `n` as a header value. The numbers rate-limit headers carry (a burst, what is
/// left of it, seconds) are nearly always small: those are made once, and cloning
/// one copies a pointer, where a new value costs an allocation and a conversion on
/// every response.
fn number_value(n: u64) -> HeaderValue {
    const MADE_ONCE: usize = 1024;
    static SMALL: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    let small = SMALL.get_or_init(|| {
        (0..=MADE_ONCE)
            .map(|n| HeaderValue::from_static(Box::leak(n.to_string().into_boxed_str())))
            .collect()
    });
    usize::try_from(n)
        .ok()
        .and_then(|i| small.get(i))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn numbers_made_once_read_as_numbers_made_each_time() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            300,
            1023,
            1024,
            1025,
            86_400,
            u64::MAX,
        ] {
            assert_eq!(number_value(n), HeaderValue::from(n), "{n}");
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in 0..=255u8 {
            let ips = [
                std::net::IpAddr::from([a, 255 - a, a / 3, 9]),
                std::net::IpAddr::from([10, a, 0, a.wrapping_mul(7)]),
                std::net::IpAddr::from([0, 0, 0, 0, 0, 0xffff, u16::from(a), 1]),
            ];
            for ip in ips {
                let mut text = String::from("x, ");
                push_ip(&mut text, ip);
                assert_eq!(text, format!("x, {ip}"));
            }
        }
    }

    #[test]
    fn forwarded_headers_append_the_peer_and_distrust_the_client() {
        let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        let uri: Uri = "/x".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil"));
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        let host = Some(HeaderValue::from_static("gleaner.example"));
        forwarded_headers(&mut h, peer, host.clone(), TrustedProxies(0), &uri);
        assert!(!h.contains_key("forwarded"));
        assert!(!h.contains_key("x-real-ip"));
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "gleaner.example");

        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("gleaner.example"),
        );
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        forwarded_headers(&mut h, peer, host, TrustedProxies(1), &uri);
        assert_eq!(h["forwarded"], "for=1.2.3.4;proto=https");
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gleaner.example");
    }
}

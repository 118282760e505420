//! Property tests for what the gateway reads from a client before any service
//! does: the path (never a way into `/internal`), the route table setting,
//! hop-by-hop headers, and whole requests with hostile headers through a
//! running gateway.

mod support;

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use gleaner_common::auth::Role;
use gleaner_gateway::headers::remove_hop_by_hop;
use gleaner_gateway::route_table::{DEFAULT_ROUTES, RouteTable};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use support::{TestApp, spawn_app};

const UPSTREAMS: [&str; 3] = ["identity", "scraper", "app"];

/// Failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Paths

/// Decode every `%XX` escape once; anything else stays as it is.
fn percent_decode_once(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path as the most lenient server behind the gateway could read it:
/// escapes decoded until nothing changes, backslashes as slashes, any letter
/// case, `;parameters` dropped, empty segments collapsed, dot segments resolved.
/// `None` when it never stops decoding.
fn leniently_normalised(path: &str) -> Option<String> {
    let mut decoded = path.to_owned();
    let mut rounds = 0;
    loop {
        let next = percent_decode_once(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
        rounds += 1;
        if rounds > 16 {
            return None;
        }
    }
    let lower = decoded.replace('\\', "/").to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for segment in lower.split('/') {
        match segment.split(';').next().unwrap_or_default() {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    Some(format!("/{}", segments.join("/")))
}

fn reaches_internal(path: &str) -> bool {
    leniently_normalised(path).is_none_or(|p| p == "/internal" || p.starts_with("/internal/"))
}

/// Path segments an attacker combines: `internal` in disguises, dot segments
/// plain and escaped (once or twice), escaped slashes and backslashes,
/// parameters, and the segments real routes use.
fn arb_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "internal", "INTERNAL", "Internal", "%69nternal", "%49NTERNAL", "%2569nternal",
            "int%65rnal", "internal;x", "internal%3bx", "internal%00", ".", "..", "%2e", "%2E",
            "%2e%2e", ".%2e", "%2e.", "%252e%252e", "%25252e%25252e", "..;", "%2f", "%2F",
            "%5c", "%255c", "..%2f", "..%5c", "%2e%2e%2f", "", "api", "v1", "companies",
            "1003600000001", "sources", "users", "me", "auth", "login", "scrape-runs",
            "v1;x", "%61pi", "runs",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9._~%;-]{0,8}",
    ]
}

/// A path as it reaches the gateway: segments joined by `/` (sometimes `\`),
/// often under a routed prefix so a `**` pattern is in play.
fn arb_path() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "",
        "/api/v1/companies",
        "/api/v1/users",
        "/api/v1/scrape-runs",
        "/api/v1/auth",
        "/api/v1/sources",
    ]);
    let joined = prop::collection::vec(
        (
            arb_segment(),
            prop_oneof![8 => Just("/"), 1 => Just("\\"), 1 => Just("//")],
        ),
        0..7,
    );
    (prefix, joined).prop_map(|(prefix, parts)| {
        let mut path = prefix.to_owned();
        for (segment, separator) in parts {
            path.push_str(separator);
            path.push_str(&segment);
        }
        if path.is_empty() || !path.starts_with('/') {
            path.insert(0, '/');
        }
        path
    })
}

fn tables() -> &'static [RouteTable; 2] {
    static TABLES: OnceLock<[RouteTable; 2]> = OnceLock::new();
    TABLES.get_or_init(|| {
        [
            RouteTable::parse(DEFAULT_ROUTES, &UPSTREAMS).expect("the default table parses"),
            // The widest table a setting can hold: everything to one service.
            RouteTable::parse("* /** scraper public", &UPSTREAMS).expect("a catch-all table"),
        ]
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// A path that any reading of it puts under `/internal` is never routed,
    /// by the default table or by one that routes everything.
    #[test]
    fn a_path_that_normalises_under_internal_is_never_routed(
        path in arb_path(),
        method in prop::sample::select(vec![Method::GET, Method::POST, Method::DELETE, Method::HEAD]),
    ) {
        prop_assume!(path.parse::<axum::http::Uri>().is_ok());
        if reaches_internal(&path) {
            for table in tables() {
                prop_assert!(table.resolve(&method, &path).is_none(), "{} {} was routed", method, path);
            }
        }
    }

    /// Any route table setting parses or is refused without a panic, and no
    /// table it accepts routes anything under `/internal`.
    #[test]
    fn any_route_table_parses_or_is_refused(
        text in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["*", "GET", "post", "BREW", "G E T", ""]),
                    prop_oneof![arb_path(), Just("/**".to_owned()), Just("/*/**".to_owned()), "[/*a-z%]{0,12}"],
                    prop::sample::select(vec!["identity", "scraper", "app", "nowhere"]),
                    prop::sample::select(vec!["public", "bearer", "maybe"]),
                ),
                0..4,
            )
            .prop_map(|entries| {
                entries
                    .into_iter()
                    .map(|(m, p, u, a)| format!("{m} {p} {u} {a}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ],
        internal in arb_path().prop_filter("under /internal", |p| reaches_internal(p)),
    ) {
        if let Ok(table) = RouteTable::parse(&text, &UPSTREAMS) {
            prop_assume!(internal.parse::<axum::http::Uri>().is_ok());
            prop_assert!(table.resolve(&Method::GET, &internal).is_none(), "{text:?} routes {internal}");
        }
    }
}

// ---------------------------------------------------------------------------
// Hop-by-hop headers

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn arb_header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(HOP_BY_HOP.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "accept", "authorization", "x-private", "cookie", "x-forwarded-for", "forwarded",
            "content-type", "x-request-id",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z0-9-]{1,12}",
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// After `remove_hop_by_hop`: no hop-by-hop header, none that a
    /// `Connection` header named (in any case, with any spacing), and every
    /// other header exactly as it was.
    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed(
        headers in prop::collection::vec((arb_header_name(), "[ -~]{0,16}"), 0..10),
        connection in prop::collection::vec(
            prop::collection::vec((arb_header_name(), any::<bool>(), "[ \t]{0,2}"), 0..4),
            0..3,
        ),
        raw in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a token");
            map.append(name, HeaderValue::from_str(value).expect("visible ASCII"));
        }
        let mut named: Vec<String> = Vec::new();
        for list in &connection {
            let value = list
                .iter()
                .map(|(name, upper, space)| {
                    named.push(name.clone());
                    let name = if *upper { name.to_ascii_uppercase() } else { name.clone() };
                    format!("{space}{name}{space}")
                })
                .collect::<Vec<_>>()
                .join(",");
            map.append("connection", HeaderValue::from_str(&value).expect("visible ASCII"));
        }
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            map.append("connection", value);
        }
        let before = map.clone();
        remove_hop_by_hop(&mut map);
        for name in HOP_BY_HOP.iter().map(|n| n.to_string()).chain(named.iter().cloned()) {
            prop_assert!(!map.contains_key(name.as_str()), "{name} left in {map:?}");
        }
        for (name, value) in &before {
            let removed = HOP_BY_HOP.contains(&name.as_str())
                || named.iter().any(|n| n == name.as_str())
                || before.get_all("connection").iter().any(|v| {
                    v.to_str().is_ok_and(|v| {
                        v.split(',').any(|n| n.trim().eq_ignore_ascii_case(name.as_str()))
                    })
                });
            if !removed {
                prop_assert!(map.get_all(name).iter().any(|v| v == value), "{name} lost");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Whole requests through a running gateway

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the property tests")
    })
}

fn gateway() -> &'static TestApp {
    static GATEWAY: OnceLock<TestApp> = OnceLock::new();
    GATEWAY.get_or_init(|| runtime().block_on(spawn_app()))
}

/// `Authorization` values: garbage, other schemes, bearer with junk, a valid token.
fn arb_authorization() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop_oneof![
        prop::collection::vec(any::<u8>(), 0..60),
        "(Bearer|bearer|BEARER|Basic|Token)[ \t]{0,2}[ -~]{0,60}".prop_map(String::into_bytes),
        Just(()).prop_map(|_| format!("Bearer {}", gateway().token(Role::User)).into_bytes()),
        Just(()).prop_map(|_| {
            let token = gateway().token(Role::User);
            format!("Bearer {}x", &token[..token.len() - 1]).into_bytes()
        }),
    ])
}

/// Headers a client makes up about proxies and connections.
fn arb_hostile_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "x-request-id",
        "traceparent",
        "host",
        "content-length",
        "transfer-encoding",
    ]);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::sample::select(vec![
            "1.2.3.4, 10.0.0.1",
            "[2001:db8::1]:443",
            "for=1.2.3.4;proto=https;host=evil",
            "for=\"[::1]\", for=unknown",
            "https",
            "close",
            "keep-alive, x-forwarded-for",
            "upgrade",
            "websocket",
            "trailers",
            "chunked",
            "evil.example",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-zz-zz-zz",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..6)
}

proptest! {
    #![proptest_config(config(96))]

    /// Whatever a client says about proxies, connections and itself, the
    /// gateway answers without a 5xx, and what reaches a service carries no
    /// hop-by-hop header, the client's address as the last `X-Forwarded-For`
    /// entry, `X-Forwarded-Proto: http`, `-Host` as the gateway was addressed,
    /// and no `Forwarded` or `X-Real-IP` (no trusted proxy in front).
    #[test]
    fn hostile_headers_get_an_answer_and_are_cleaned_on_the_way(
        path in prop::sample::select(vec![
            "/api/v1/companies",
            "/api/v1/companies/1003600000001",
            "/api/v1/users/me",
            "/api/v1/scrape-jobs",
            "/nowhere",
        ]),
        authorization in arb_authorization(),
        headers in arb_hostile_headers(),
    ) {
        let gw = gateway();
        let mut request = gw.http.get(gw.url(path));
        let mut sent = reqwest::header::HeaderMap::new();
        if let Some(value) = authorization
            && let Ok(value) = HeaderValue::from_bytes(&value)
        {
            sent.append("authorization", value);
        }
        for (name, value) in &headers {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                sent.append(HeaderName::from_bytes(name.as_bytes()).expect("a token"), value);
            }
        }
        request = request.headers(sent.clone());
        let before = [&gw.identity, &gw.scraper, &gw.app].map(|u| u.requests().len());
        let Ok(response) = runtime().block_on(request.send()) else {
            // reqwest refused to send it (a framing header it will not write): no request.
            return Ok(());
        };
        let status = response.status();
        prop_assert!(!status.is_server_error(), "{status} for {headers:?}");
        if status.is_success() {
            let reached = [&gw.identity, &gw.scraper, &gw.app]
                .iter()
                .zip(before)
                .find_map(|(u, n)| u.requests().get(n).cloned());
            let seen = reached.expect("a 200 came from a service");
            for name in HOP_BY_HOP {
                prop_assert!(!seen.headers.contains_key(name), "{name} reached the service");
            }
            let forwarded_for = &seen.headers["x-forwarded-for"];
            prop_assert!(
                forwarded_for.rsplit(',').next().is_some_and(|last| last.trim() == "127.0.0.1"),
                "{forwarded_for}"
            );
            prop_assert_eq!(seen.headers["x-forwarded-proto"].as_str(), "http");
            if !sent.contains_key("host") {
                prop_assert_eq!(
                    seen.headers["x-forwarded-host"].as_str(),
                    gw.base.trim_start_matches("http://")
                );
            }
            // What a client claims about proxies in other headers is not passed on.
            prop_assert!(!seen.headers.contains_key("forwarded"), "{:?}", seen.headers);
            prop_assert!(!seen.headers.contains_key("x-real-ip"), "{:?}", seen.headers);
        }
    }
}

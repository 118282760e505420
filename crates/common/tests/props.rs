//! Property tests for everything in `gleaner-common` that reads what a client
//! sends: access tokens and their headers, the `Authorization` header, request
//! ids, `X-Forwarded-For` behind `TRUSTED_PROXIES`, query strings and JSON
//! bodies. Whatever arrives, the answer is a value or a refusal, never a panic,
//! and a refusal is the documented one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gleaner_common::auth::{Role, TokenError, TokenVerifier, bearer_token, decoding_keys};
use gleaner_common::client_addr::{ClientAddr, TrustedProxies, client_ip};
use gleaner_common::error::PROBLEM_JSON;
use gleaner_common::extract::parse_json;
use gleaner_common::observe::{HttpMetrics, Observe, observe_http};
use gleaner_common::pagination::{MAX_PER_PAGE, PageParams};
use gleaner_common::request_context::{X_REQUEST_ID, is_sane_request_id};
use gleaner_common::{ApiResult, Query};
use gleaner_testkit::{AUDIENCE, ISSUER, TestSigner};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// 256 cases; failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime for the property tests")
    })
}

// ---------------------------------------------------------------------------
// Access tokens

/// One signer (a fresh Ed25519 key and its JWKS) and a verifier that knows
/// its key, shared by every case.
struct Tokens {
    signer: TestSigner,
    verifier: TokenVerifier,
    kid: String,
    public_key: Vec<u8>,
}

fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let signer = runtime()
            .block_on(TestSigner::start())
            .expect("a test signer");
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(signer.jwks().clone()).expect("the signer's JWKS");
        let keys: HashMap<_, _> = decoding_keys(&set);
        let kid = keys.keys().next().cloned().expect("one key in the JWKS");
        let x = signer.jwks()["keys"][0]["x"]
            .as_str()
            .expect("an OKP key has x")
            .to_owned();
        let public_key = URL_SAFE_NO_PAD.decode(x).expect("x is base64url");
        let verifier = TokenVerifier::with_keys(keys, ISSUER, AUDIENCE, None);
        Tokens {
            signer,
            verifier,
            kid,
            public_key,
        }
    })
}

fn verify(token: &str) -> Result<(), TokenError> {
    runtime()
        .block_on(tokens().verifier.verify(token))
        .map(|_| ())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `alg` values an attacker tries: none in its spellings, HMAC (with the
/// public key as the secret), other key types, made-up names, wrong JSON types.
fn arb_alg() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!("none"))),
        Just(Some(json!("None"))),
        Just(Some(json!("NONE"))),
        Just(Some(json!("HS256"))),
        Just(Some(json!("HS512"))),
        Just(Some(json!("RS256"))),
        Just(Some(json!("ES256"))),
        Just(Some(json!("PS256"))),
        Just(Some(json!("EdDSA"))),
        Just(Some(json!("eddsa"))),
        Just(Some(Value::Null)),
        Just(Some(json!(1))),
        Just(Some(json!(["EdDSA"]))),
        ".{0,12}".prop_map(|s| Some(json!(s))),
    ]
}

/// `kid` values: absent, the real one, unknown, huge, wrong JSON types.
fn arb_kid() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!(tokens().kid.clone()))),
        Just(Some(Value::Null)),
        Just(Some(json!(42))),
        Just(Some(json!({"kid": "x"}))),
        ".{0,40}".prop_map(|s| Some(json!(s))),
        (1usize..200_000).prop_map(|n| Some(json!("k".repeat(n)))),
    ]
}

/// A JWT header as JSON, with the fields a verifier looks at and some it should not.
fn arb_header() -> impl Strategy<Value = Vec<u8>> {
    (
        arb_alg(),
        arb_kid(),
        proptest::option::of(".{0,10}"),
        proptest::option::of(".{0,20}"),
    )
        .prop_map(|(alg, kid, typ, jku)| {
            let mut header = serde_json::Map::new();
            if let Some(alg) = alg {
                header.insert("alg".into(), alg);
            }
            if let Some(kid) = kid {
                header.insert("kid".into(), kid);
            }
            if let Some(typ) = typ {
                header.insert("typ".into(), json!(typ));
            }
            if let Some(jku) = jku {
                header.insert("jku".into(), json!(jku));
            }
            serde_json::to_vec(&Value::Object(header)).expect("a JSON object serialises")
        })
}

/// A payload: the claims of a valid token, the same with a field changed, or junk.
fn arb_payload() -> impl Strategy<Value = Vec<u8>> {
    let valid =
        || serde_json::to_value(tokens().signer.claims(Role::Admin)).expect("claims serialise");
    prop_oneof![
        Just(()).prop_map(move |_| serde_json::to_vec(&valid()).expect("claims serialise")),
        (
            prop::sample::select(vec![
                "sub", "role", "jti", "sid", "gen", "iat", "nbf", "exp", "iss", "aud", "typ"
            ]),
            prop_oneof![
                Just(Value::Null),
                Just(json!(-1)),
                Just(json!(i64::MAX)),
                Just(json!(u64::MAX)),
                Just(json!(1e300)),
                ".{0,20}".prop_map(Value::from),
            ],
        )
            .prop_map(move |(field, value)| {
                let mut claims = valid();
                claims[field] = value;
                serde_json::to_vec(&claims).expect("claims serialise")
            }),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A signature segment: empty, random bytes, or text that is not base64url.
fn arb_signature() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(|b| b64(&b)),
        prop::collection::vec(any::<u8>(), 64..=64).prop_map(|b| b64(&b)),
        "[A-Za-z0-9+/=_.-]{0,100}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any string at all is refused as a token, without a panic.
    #[test]
    fn arbitrary_strings_are_not_tokens(token in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_.=-]{0,300}",
        "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}",
    ]) {
        prop_assert!(verify(&token).is_err());
    }

    /// A token whose header says anything (alg none, HMAC, unknown or huge
    /// kid, wrong JSON types) over any payload and a signature that is not the
    /// key's is refused.
    #[test]
    fn forged_tokens_are_refused(
        header in arb_header(),
        payload in arb_payload(),
        signature in arb_signature(),
    ) {
        let token = format!("{}.{}.{signature}", b64(&header), b64(&payload));
        prop_assert!(verify(&token).is_err());
    }

    /// Changing any one character of a valid token makes it invalid.
    #[test]
    fn a_valid_token_with_any_character_changed_is_refused(
        index in any::<prop::sample::Index>(),
        replacement in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
                .chars()
                .collect::<Vec<_>>(),
        ),
    ) {
        let token = tokens().signer.token(Role::User);
        prop_assert!(verify(&token).is_ok(), "the unchanged token is valid");
        let at = index.index(token.len());
        let original = token.as_bytes()[at] as char;
        prop_assume!(original != replacement);
        let mut changed = token;
        changed.replace_range(at..=at, &replacement.to_string());
        prop_assert!(verify(&changed).is_err(), "{changed}");
    }

    /// `Authorization` values of any bytes: a token comes out only of
    /// `Bearer <token>` (any case), trimmed and non-empty.
    #[test]
    fn bearer_tokens_come_only_from_the_bearer_scheme(value in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..100),
        "(?i:bearer)[ \t]{0,3}[ -~]{0,40}".prop_map(String::into_bytes),
        "[A-Za-z]{0,8} [ -~]{0,40}".prop_map(String::into_bytes),
    ]) {
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            return Ok(());
        };
        let request = Request::builder()
            .header(header::AUTHORIZATION, value.clone())
            .body(())
            .expect("a request with one header");
        let (parts, ()) = request.into_parts();
        if let Some(token) = bearer_token(&parts) {
            let text = value.to_str().expect("a token comes only from visible ASCII");
            let (scheme, rest) = text.split_once(' ').expect("scheme and token");
            prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
            prop_assert_eq!(token, rest.trim());
            prop_assert!(!token.is_empty());
        }
    }
}

#[test]
fn a_valid_token_is_accepted() {
    let token = tokens().signer.token(Role::Operator);
    assert!(verify(&token).is_ok());
}

#[test]
fn a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused() {
    let t = tokens();
    let claims = t.signer.claims(Role::Admin);
    for alg in [
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::HS384,
        jsonwebtoken::Algorithm::HS512,
    ] {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(t.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_secret(&t.public_key);
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("HMAC signing");
        assert!(
            matches!(verify(&token), Err(TokenError::Invalid(_))),
            "{alg:?}"
        );
    }
    let unsigned = format!(
        "{}.{}.",
        b64(format!(r#"{{"alg":"none","kid":"{}"}}"#, t.kid).as_bytes()),
        b64(&serde_json::to_vec(&claims).expect("claims serialise")),
    );
    assert!(matches!(verify(&unsigned), Err(TokenError::Invalid(_))));
}

#[test]
fn a_token_naming_a_huge_unknown_kid_is_refused_as_an_unknown_key() {
    let t = tokens();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("k".repeat(1 << 20));
    let token = format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(&header).expect("a header serialises")),
        b64(&serde_json::to_vec(&t.signer.claims(Role::User)).expect("claims serialise")),
        b64(&[0u8; 64]),
    );
    assert!(matches!(verify(&token), Err(TokenError::UnknownKey)));
}

/// A verifier that fetches the signer's JWKS from a loopback server counting its fetches.
struct JwksVerifier {
    verifier: TokenVerifier,
    fetches: Arc<AtomicUsize>,
    started: Instant,
}

fn jwks_verifier() -> &'static JwksVerifier {
    static VERIFIER: OnceLock<JwksVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let fetches = Arc::new(AtomicUsize::new(0));
        let jwks = tokens().signer.jwks().clone();
        let counted = fetches.clone();
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let url = runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let port = listener.local_addr().expect("a bound address").port();
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://127.0.0.1:{port}/jwks.json")
        });
        gleaner_common::install_crypto_provider();
        let verifier =
            TokenVerifier::with_jwks(&url, reqwest::Client::new(), ISSUER, AUDIENCE, None);
        JwksVerifier {
            verifier,
            fetches,
            started: Instant::now(),
        }
    })
}

proptest! {
    #![proptest_config(config())]

    /// Tokens naming made-up key ids are refused, and however many arrive
    /// they cannot make the verifier hammer the issuer: at most one JWKS
    /// fetch to start and one per refetch interval (10 s) after it.
    #[test]
    fn unknown_key_ids_do_not_hammer_the_issuer(
        kid in prop_oneof![".{0,40}", (1usize..100_000).prop_map(|n| "k".repeat(n))],
        payload in arb_payload(),
    ) {
        let v = jwks_verifier();
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), json!("EdDSA"));
        header.insert("kid".into(), json!(kid));
        let token = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&Value::Object(header)).expect("a header serialises")),
            b64(&payload),
            b64(&[7u8; 64]),
        );
        prop_assert!(runtime().block_on(v.verifier.verify(&token)).is_err());
        let intervals = v.started.elapsed().as_secs() / 10;
        let fetches = v.fetches.load(Ordering::SeqCst);
        prop_assert!(fetches as u64 <= 2 + intervals, "{fetches} JWKS fetches");
    }
}

// ---------------------------------------------------------------------------
// Request ids

fn request_id_app() -> Router {
    let observe = Observe {
        metrics: HttpMetrics::register("test", &prometheus::Registry::new()).unwrap(),
        deadline: None,
    };
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(observe, observe_http))
}

/// A request id as the test writes it down: 1 to 128 of `[A-Za-z0-9._-]`.
fn sane_by_definition(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

proptest! {
    #![proptest_config(config())]

    /// Whatever `X-Request-Id` a client sends (any bytes, overlong), the
    /// response carries a sane id: the client's when it is sane, a new one otherwise.
    #[test]
    fn request_ids_are_kept_only_when_sane(id in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "[A-Za-z0-9._-]{1,128}".prop_map(String::into_bytes),
        "[A-Za-z0-9._-]{129,400}".prop_map(String::into_bytes),
        "[ -~]{0,140}".prop_map(String::into_bytes),
    ]) {
        let text = String::from_utf8_lossy(&id);
        prop_assert_eq!(is_sane_request_id(&text), sane_by_definition(&id));
        let Ok(value) = HeaderValue::from_bytes(&id) else {
            return Ok(());
        };
        let request = Request::builder()
            .uri("/")
            .header(&X_REQUEST_ID, value)
            .body(Body::empty())
            .expect("a request");
        let response = runtime()
            .block_on(request_id_app().oneshot(request))
            .expect("the router answers");
        let answered = response
            .headers()
            .get(&X_REQUEST_ID)
            .expect("every response has a request id")
            .to_str()
            .expect("a sane id is ASCII");
        prop_assert!(is_sane_request_id(answered));
        prop_assert_eq!(answered.as_bytes() == id.as_slice(), sane_by_definition(&id));
    }
}

// ---------------------------------------------------------------------------
// Client addresses behind trusted proxies

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
        any::<u32>().prop_map(|n| IpAddr::V6(Ipv4Addr::from(n).to_ipv6_mapped())),
    ]
}

/// An `X-Forwarded-For` entry as a proxy writes one (bare, with a port, IPv6
/// in brackets with a port) or as a client makes one up.
fn arb_hop() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => arb_ip().prop_map(|ip| ip.to_string()),
        2 => (arb_ip(), any::<u16>()).prop_map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string()),
        1 => "[ -~]{0,30}",
        1 => Just("unknown".to_owned()),
        1 => Just(String::new()),
    ]
}

/// What a proxy chain looks like to the service: the client's own made-up
/// entries, then one entry per trusted proxy, split over one or more headers.
fn forwarded(entries: &[String], split: &[usize]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut start = 0;
    for &cut in split.iter().chain(std::iter::once(&entries.len())) {
        let cut = cut.clamp(start, entries.len());
        if cut > start || cut == entries.len() {
            if let Ok(value) = HeaderValue::from_str(&entries[start..cut].join(", ")) {
                headers.append("x-forwarded-for", value);
            }
            start = cut;
        }
    }
    headers
}

/// The address the test expects: the `trusted`-th non-empty entry from the
/// right when it is an address, else the peer.
fn expected_client(peer: IpAddr, entries: &[String], trusted: usize) -> IpAddr {
    let hops: Vec<&str> = entries
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if trusted == 0 || hops.len() < trusted {
        return peer.to_canonical();
    }
    let hop = hops[hops.len() - trusted];
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map_or(peer.to_canonical(), |ip| ip.to_canonical())
}

proptest! {
    #![proptest_config(config())]

    /// The client is the `TRUSTED_PROXIES`-th entry from the right, or the
    /// peer; never a panic, whatever the lists, ports, IPv6 or garbage.
    #[test]
    fn the_client_is_the_nth_entry_from_the_right_or_the_peer(
        peer in arb_ip(),
        entries in prop::collection::vec(arb_hop(), 0..12),
        split in prop::collection::vec(0usize..12, 0..3),
        trusted in prop_oneof![0usize..6, Just(usize::MAX)],
    ) {
        let headers = forwarded(&entries, &split);
        let sent: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().expect("built from text").to_owned())
            .collect();
        let got = client_ip(peer, &headers, TrustedProxies(trusted));
        prop_assert_eq!(got, expected_client(peer, &sent, trusted));
        prop_assert_eq!(got, got.to_canonical());
    }

    /// What the client writes to the left of the entries the trusted
    /// proxies appended never changes who the client is.
    #[test]
    fn entries_the_client_wrote_are_never_believed(
        peer in arb_ip(),
        appended in prop::collection::vec(arb_ip(), 1..5),
        made_up in prop::collection::vec(arb_hop(), 0..8),
    ) {
        let trusted = TrustedProxies(appended.len());
        let appended: Vec<String> = appended.iter().map(IpAddr::to_string).collect();
        let honest = forwarded(&appended, &[]);
        let with_lies = forwarded(&[made_up, appended.clone()].concat(), &[]);
        let client = client_ip(peer, &honest, trusted);
        prop_assert_eq!(client, appended[0].parse::<IpAddr>().expect("an address").to_canonical());
        prop_assert_eq!(client_ip(peer, &with_lies, trusted), client);
    }

    /// Values that are not text, and huge lists, fall back to the peer or
    /// pick the right entry without a panic.
    #[test]
    fn header_bytes_and_huge_lists_never_panic(
        peer in arb_ip(),
        raw in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..4),
        repeat in 0usize..20_000,
        trusted in 0usize..30_000,
    ) {
        let mut headers = HeaderMap::new();
        for value in &raw {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append("x-forwarded-for", value);
            }
        }
        if repeat > 0 {
            let list = vec!["203.0.113.7"; repeat].join(",");
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(&list).expect("an ASCII list"),
            );
        }
        let got = client_ip(peer, &headers, TrustedProxies(trusted));
        let any_opaque = headers.get_all("x-forwarded-for").iter().any(|v| v.to_str().is_err());
        if trusted == 0 || any_opaque {
            prop_assert_eq!(got, peer.to_canonical());
        }
    }

    /// Rate limits count IPv4 clients per address and IPv6 clients per /64.
    #[test]
    fn limit_keys_group_ipv6_by_64(a in any::<u128>(), b in any::<u128>(), v4 in any::<u32>()) {
        let key = |ip: IpAddr| ClientAddr(ip).limit_key();
        let (a6, b6) = (Ipv6Addr::from(a), Ipv6Addr::from(b));
        prop_assert_eq!(key(IpAddr::V6(a6)) == key(IpAddr::V6(b6)), a >> 64 == b >> 64);
        prop_assert!(key(IpAddr::V6(a6)).ends_with("/64"));
        prop_assert_eq!(key(IpAddr::V4(Ipv4Addr::from(v4))), Ipv4Addr::from(v4).to_string());
    }
}

// ---------------------------------------------------------------------------
// Query strings and JSON bodies

/// The shape of the services' list filters: free text, an enum, a flag, a
/// date and the page parameters, unknown parameters refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Filter {
    q: Option<String>,
    role: Option<Role>,
    unread: Option<bool>,
    registered_from: Option<chrono::NaiveDate>,
    page: Option<u32>,
    per_page: Option<u32>,
}

const FILTER_FIELDS: [&str; 6] = ["q", "role", "unread", "registered_from", "page", "per_page"];

async fn list(Query(filter): Query<Filter>) -> ApiResult<String> {
    let page = PageParams {
        page: filter.page,
        per_page: filter.per_page,
    }
    .validate()?;
    Ok(format!("{} {}", page.page, page.per_page))
}

fn query_app() -> Router {
    Router::new().route("/list", get(list))
}

/// A query string: known and unknown names with any values, percent-encoded
/// as a browser would, or raw characters a URI allows (stray `%`, `+`, `;`).
fn arb_query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => prop::sample::select(FILTER_FIELDS.to_vec()).prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    let value = prop_oneof![
        ".{0,20}",
        "[0-9]{1,12}",
        Just("0".to_owned()),
        Just("4294967296".to_owned()),
        Just("-1".to_owned()),
        prop::sample::select(vec![
            "user",
            "ADMIN",
            "true",
            "1",
            "2024-02-30",
            "2024-02-29"
        ])
        .prop_map(str::to_owned),
    ];
    let encoded = prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(&k, &v);
        }
        s.finish()
    });
    prop_oneof![
        3 => encoded,
        1 => "[A-Za-z0-9%+=&;_.~!$'()*,:@/?-]{0,60}",
    ]
}

async fn call(app: Router, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("a request");
    let response = app.oneshot(request).await.expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the body is in memory");
    (parts.status, parts.headers, bytes.to_vec())
}

fn is_problem(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes())
}

proptest! {
    #![proptest_config(config())]

    /// Any query string gets 200 or 422 problem+json naming the parameter;
    /// a 200 only for page parameters in range.
    #[test]
    fn query_strings_are_a_value_or_a_422_naming_the_parameter(query in arb_query()) {
        let uri = format!("/list?{query}");
        prop_assume!(uri.parse::<axum::http::Uri>().is_ok());
        let (status, headers, body) = runtime().block_on(call(query_app(), &uri));
        match status {
            StatusCode::OK => {
                let text = String::from_utf8(body).expect("the handler answers text");
                let (page, per_page) = text.split_once(' ').expect("page and per_page");
                let page: u32 = page.parse().expect("a page number");
                let per_page: u32 = per_page.parse().expect("a page size");
                prop_assert!(page >= 1);
                prop_assert!((1..=MAX_PER_PAGE).contains(&per_page));
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                prop_assert!(is_problem(&headers), "{headers:?}");
                let problem: Value = serde_json::from_slice(&body).expect("problem+json");
                prop_assert_eq!(&problem["status"], &json!(422));
                let errors = problem["errors"].as_array().expect("422 lists the fields");
                prop_assert!(!errors.is_empty());
                let sent: Vec<String> = form_urlencoded::parse(query.as_bytes())
                    .map(|(name, _)| name.into_owned())
                    .collect();
                for error in errors {
                    let field = error["field"].as_str().expect("a field name");
                    prop_assert!(
                        FILTER_FIELDS.contains(&field) || sent.iter().any(|n| n == field),
                        "{problem} does not name a parameter of {query:?}"
                    );
                }
            }
            other => prop_assert!(false, "{other} for {uri}"),
        }
    }

    /// Any bytes as a JSON body: 400 when not JSON, 422 naming a field when
    /// JSON of the wrong shape.
    #[test]
    fn json_bodies_are_a_value_a_400_or_a_422(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        arb_json().prop_map(|v| serde_json::to_vec(&v).expect("JSON serialises")),
    ]) {
        match parse_json::<Filter>(&body) {
            Ok(_) => {}
            Err(error) => {
                let status = error.status();
                prop_assert!(
                    status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
                    "{status}"
                );
                if status == StatusCode::UNPROCESSABLE_ENTITY {
                    prop_assert!(!error.field_errors().is_empty());
                }
            }
        }
    }

    /// Page parameters: in range or 422, and offsets never overflow.
    #[test]
    fn page_parameters_are_checked(page in any::<Option<u32>>(), per_page in any::<Option<u32>>()) {
        match (PageParams { page, per_page }).validate() {
            Ok(request) => {
                prop_assert!(request.page >= 1);
                prop_assert!((1..=MAX_PER_PAGE).contains(&request.per_page));
                prop_assert!(request.offset() >= 0);
                prop_assert_eq!(
                    request.offset(),
                    (i64::from(request.page) - 1) * i64::from(request.per_page)
                );
            }
            Err(error) => prop_assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
}

/// JSON values shaped like a filter: its fields with any JSON type, and others.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let name = prop_oneof![
        prop::sample::select(FILTER_FIELDS.to_vec()).prop_map(str::to_owned),
        ".{0,6}",
    ];
    prop_oneof![
        1 => value.clone(),
        3 => prop::collection::btree_map(name, value, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

#[test]
fn a_repeated_parameter_is_a_422_naming_it() {
    let (status, headers, body) = runtime().block_on(call(query_app(), "/list?page=1&page=2"));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is_problem(&headers));
    let problem: Value = serde_json::from_slice(&body).expect("problem+json");
    assert_eq!(problem["errors"][0]["field"], "page", "{problem}");
}

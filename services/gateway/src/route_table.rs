//! The route table: which upstream serves a request, and whether it needs a
//! bearer token at the edge. A setting (`GATEWAY_ROUTES`), not code.
//!
//! Each entry is `METHOD PATTERN UPSTREAM ACCESS`, entries separated by `;`
//! or new lines; the first entry matching the method and path wins.
//! `METHOD` is an HTTP method or `*` (a `GET` entry also serves `HEAD`).
//! In `PATTERN`, `*` matches within one path segment and `**` matches
//! anything, `/` included. `ACCESS` is `public` or `bearer`.
//! `/internal` and everything under it is never routed, whatever the table says.

use std::sync::Arc;

use http::Method;

/// The table the gateway starts with unless `GATEWAY_ROUTES` says otherwise.
pub const DEFAULT_ROUTES: &str = concat!(
    "GET /.well-known/jwks.json identity public; ",
    "POST /api/v1/auth/register identity public; ",
    "POST /api/v1/auth/login identity public; ",
    "POST /api/v1/auth/refresh identity public; ",
    "POST /api/v1/auth/logout identity bearer; ",
    "* /api/v1/users identity bearer; ",
    "* /api/v1/users/** identity bearer; ",
    "GET /api/v1/companies/*/sources scraper bearer; ",
    "GET /api/v1/companies scraper public; ",
    "GET /api/v1/companies/** scraper public; ",
    "GET /api/v1/people scraper public; ",
    "GET /api/v1/people/* scraper public; ",
    "GET /api/v1/reconcile scraper public; ",
    "POST /api/v1/reconcile scraper public; ",
    "GET /api/v1/reconcile/** scraper public; ",
    "GET /api/v1/exports/** scraper bearer; ",
    "GET /api/v1/changes scraper bearer; ",
    "GET /api/v1/changes/stream scraper bearer; ",
    "* /api/v1/sources/** scraper bearer; ",
    "* /api/v1/transform scraper bearer; ",
    "* /api/v1/scrape-jobs app bearer; ",
    "* /api/v1/scrape-jobs/** app bearer; ",
    "* /api/v1/scrape-runs app bearer; ",
    "* /api/v1/scrape-runs/** app bearer; ",
    "* /api/v1/watchlist app bearer; ",
    "* /api/v1/watchlist/** app bearer; ",
    "* /api/v1/notifications app bearer; ",
    "* /api/v1/notifications/** app bearer; ",
    "* /api/v1/webhooks app bearer; ",
    "* /api/v1/webhooks/** app bearer"
);

/// Whether a route needs a valid bearer token at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (a valid token still counts the request against its user).
    Public,
    /// A valid access token, or 401 at the gateway.
    Bearer,
}

/// One entry of the table.
#[derive(Debug, Clone)]
pub struct Route {
    method: Option<Method>,
    pattern: Arc<str>,
    /// How many bytes of the pattern come before its first `*`: they must start the
    /// path as written, which one comparison checks before the glob.
    literal: usize,
    /// The upstream's name (`identity`, `scraper`, `app`).
    pub upstream: Arc<str>,
    /// Who may call it.
    pub access: Access,
}

impl Route {
    /// The pattern, as written: the `route` label of metrics.
    pub fn pattern(&self) -> &Arc<str> {
        &self.pattern
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        let method_ok = match &self.method {
            None => true,
            Some(m) => m == method || (*m == Method::GET && *method == Method::HEAD),
        };
        method_ok && self.matches_path(path)
    }

    fn matches_path(&self, path: &str) -> bool {
        let (pattern, path) = (self.pattern.as_bytes(), path.as_bytes());
        path.starts_with(&pattern[..self.literal])
            && glob(&pattern[self.literal..], &path[self.literal..])
    }
}

/// The parsed route table.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Parse `text`, refusing upstreams not in `upstreams` and patterns under `/internal`.
    pub fn parse(text: &str, upstreams: &[&str]) -> Result<Self, String> {
        let mut routes = Vec::new();
        for entry in text.split([';', '\n']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let fields: Vec<&str> = entry.split_whitespace().collect();
            let [method, pattern, upstream, access] = fields[..] else {
                return Err(format!(
                    "{entry:?}: an entry is METHOD PATTERN UPSTREAM ACCESS"
                ));
            };
            let method = match method {
                "*" => None,
                m => Some(
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| format!("{entry:?}: {m:?} is not an HTTP method"))?,
                ),
            };
            if !pattern.starts_with('/') {
                return Err(format!("{entry:?}: the pattern must start with /"));
            }
            if is_internal(pattern) {
                return Err(format!("{entry:?}: /internal is never routed"));
            }
            if !upstreams.contains(&upstream) {
                return Err(format!(
                    "{entry:?}: unknown upstream {upstream:?} (known: {})",
                    upstreams.join(", ")
                ));
            }
            let access = match access {
                "public" => Access::Public,
                "bearer" => Access::Bearer,
                other => {
                    return Err(format!(
                        "{entry:?}: access {other:?} is neither public nor bearer"
                    ));
                }
            };
            routes.push(Route {
                method,
                literal: pattern.find('*').unwrap_or(pattern.len()),
                pattern: pattern.into(),
                upstream: upstream.into(),
                access,
            });
        }
        if routes.is_empty() {
            return Err("the route table is empty".into());
        }
        Ok(Self { routes })
    }

    /// The route serving `method` on `path`, if any. Paths under
    /// `/internal` and paths with `.`/`..` segments are never routed.
    pub fn resolve(&self, method: &Method, path: &str) -> Option<&Route> {
        if refused(path) {
            return None;
        }
        self.routes.iter().find(|r| r.matches(method, path))
    }

    /// The methods the table routes for `path`, for the `Allow` of a 405 when a request's
    /// method is not among them; empty when no entry matches the path, or when one for any
    /// method (`*`) does. `HEAD` comes with `GET`.
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        if refused(path) {
            return Vec::new();
        }
        let mut allowed = Vec::new();
        for route in self.routes.iter().filter(|r| r.matches_path(path)) {
            let Some(method) = &route.method else {
                return Vec::new();
            };
            let implied = (*method == Method::GET).then_some(Method::HEAD);
            for m in std::iter::once(method.clone()).chain(implied) {
                if !allowed.contains(&m) {
                    allowed.push(m);
                }
            }
        }
        allowed
    }

    /// The upstream names the table uses.
    pub fn upstreams(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| &*r.upstream)
    }
}

/// Whether `path` is never routed: under `/internal` however it is written, or with a
/// dot segment.
fn refused(path: &str) -> bool {
    if is_plain(path) {
        // Nothing in it decodes, collapses or resolves: it reads as written.
        return under_internal(path);
    }
    is_internal(path) || has_dot_segment(path)
}

/// A path every reading of which is itself (less a trailing slash): it starts with `/`,
/// has only letters, digits, `-`, `_`, `.` and `~` between single slashes, and no `.` or
/// `..` segment. Nearly every request's path is one.
fn is_plain(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
        && !path.contains("//")
        && path
            .split('/')
            .all(|segment| segment != "." && segment != "..")
}

/// `/internal` or below it, in any letter case, as written.
fn under_internal(path: &str) -> bool {
    const INTERNAL: &str = "/internal";
    path.len() >= INTERNAL.len()
        && path.as_bytes()[..INTERNAL.len()].eq_ignore_ascii_case(INTERNAL.as_bytes())
        && matches!(path.as_bytes().get(INTERNAL.len()), None | Some(b'/'))
}

/// `/internal` or below it, in any letter case (an upstream may not care), as written
/// or as the most lenient server behind the gateway could read it (see `lenient_reading`).
fn is_internal(path: &str) -> bool {
    under_internal(path) || lenient_reading(path).is_none_or(|p| under_internal(&p))
}

#[cfg(test)]
mod plain_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcut for plain paths answers as the full reading does.
        #[test]
        fn a_plain_path_is_refused_exactly_when_its_full_reading_is(
            path in "(/(internal|INTERNAL|Internal|api|v1|users|me|a|\\.|\\.\\.|x\\.y|~|-|_|)){0,6}/?"
        ) {
            prop_assert_eq!(refused(&path), is_internal(&path) || has_dot_segment(&path), "{}", path);
        }
    }

    #[test]
    fn plain_paths_are_recognised() {
        for plain in ["/", "/api/v1/users/me", "/internal/", "/a.b/c~d-e_f"] {
            assert!(is_plain(plain), "{plain}");
        }
        for not_plain in [
            "",
            "api",
            "//internal",
            "/a//b",
            "/a/./b",
            "/a/..",
            "/%69nternal",
            "/a;b",
            "/a\\b",
            "/a b",
        ] {
            assert!(!is_plain(not_plain), "{not_plain}");
        }
    }
}

/// A path with percent-escapes decoded until nothing changes (`%2569` is `%69` is `i`),
/// backslashes read as slashes, `;parameters` dropped, empty segments collapsed and dot
/// segments resolved; `None` for a path that is still decoding after a few rounds.
fn lenient_reading(path: &str) -> Option<String> {
    const ROUNDS: usize = 4;
    let mut decoded = path.to_owned();
    let mut rounds = 0;
    loop {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        rounds += 1;
        if rounds > ROUNDS {
            return None;
        }
        decoded = next;
    }
    let decoded = decoded.replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
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

/// Every `%XX` escape decoded once (bytes that are not UTF-8 become U+FFFD).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if let (b'%', Some(h), Some(l)) = (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            // Two hex digits make at most 0xff.
            out.push(u8::try_from(h * 16 + l).unwrap_or(u8::MAX));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `.` or `..` segment, written plainly or percent-encoded: a proxy that
/// passed one on could reach what its table does not route.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    }) || path.to_ascii_lowercase().contains("%2f")
}

/// `*` matches within a segment, `**` matches anything.
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    match pattern {
        [] => path.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=path.len()).any(|i| glob(rest, &path[i..])),
        [b'*', rest @ ..] => {
            let segment = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
            (0..=segment).any(|i| glob(rest, &path[i..]))
        }
        [c, rest @ ..] => path.first() == Some(c) && glob(rest, &path[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAMS: [&str; 3] = ["identity", "scraper", "app"];

    fn table() -> RouteTable {
        RouteTable::parse(DEFAULT_ROUTES, &UPSTREAMS).unwrap()
    }

    fn resolve(method: Method, path: &str) -> Option<(String, Access)> {
        table()
            .resolve(&method, path)
            .map(|r| (r.upstream.to_string(), r.access))
    }

    #[test]
    fn the_default_table_sends_each_family_to_its_service() {
        use Access::*;
        let cases = [
            (Method::POST, "/api/v1/auth/login", "identity", Public),
            (Method::POST, "/api/v1/auth/register", "identity", Public),
            (Method::POST, "/api/v1/auth/refresh", "identity", Public),
            (Method::POST, "/api/v1/auth/logout", "identity", Bearer),
            (Method::GET, "/api/v1/users/me", "identity", Bearer),
            (Method::GET, "/api/v1/users", "identity", Bearer),
            (Method::GET, "/.well-known/jwks.json", "identity", Public),
            (Method::GET, "/api/v1/companies", "scraper", Public),
            (Method::HEAD, "/api/v1/companies", "scraper", Public),
            (
                Method::GET,
                "/api/v1/companies/1003600000001",
                "scraper",
                Public,
            ),
            (
                Method::GET,
                "/api/v1/companies/1003600000001/history",
                "scraper",
                Public,
            ),
            (
                Method::GET,
                "/api/v1/companies/1003600000001/sources",
                "scraper",
                Bearer,
            ),
            (Method::GET, "/api/v1/sources/42/raw", "scraper", Bearer),
            (Method::POST, "/api/v1/transform", "scraper", Bearer),
            (Method::POST, "/api/v1/scrape-jobs", "app", Bearer),
            (Method::GET, "/api/v1/scrape-runs/7/events", "app", Bearer),
            (
                Method::PUT,
                "/api/v1/watchlist/1003600000001",
                "app",
                Bearer,
            ),
            (Method::POST, "/api/v1/notifications/read", "app", Bearer),
            (Method::GET, "/api/v1/people", "scraper", Public),
            (
                Method::GET,
                "/api/v1/people/9fc1d68e43a94961642e",
                "scraper",
                Public,
            ),
            (Method::GET, "/api/v1/reconcile", "scraper", Public),
            (Method::POST, "/api/v1/reconcile", "scraper", Public),
            (
                Method::GET,
                "/api/v1/reconcile/suggest/entity",
                "scraper",
                Public,
            ),
            (Method::GET, "/api/v1/exports/companies", "scraper", Bearer),
            (Method::GET, "/api/v1/changes", "scraper", Bearer),
            (Method::GET, "/api/v1/changes/stream", "scraper", Bearer),
            (Method::POST, "/api/v1/webhooks", "app", Bearer),
            (Method::DELETE, "/api/v1/webhooks/7", "app", Bearer),
            (Method::GET, "/api/v1/webhooks/7/deliveries", "app", Bearer),
        ];
        for (method, path, upstream, access) in cases {
            assert_eq!(
                resolve(method.clone(), path),
                Some((upstream.to_string(), access)),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn a_path_routed_for_other_methods_lists_them() {
        let t = table();
        assert_eq!(
            t.allowed_methods("/api/v1/companies/1003600000001"),
            [Method::GET, Method::HEAD]
        );
        assert_eq!(
            t.allowed_methods("/.well-known/jwks.json"),
            [Method::GET, Method::HEAD]
        );
        assert_eq!(resolve(Method::POST, "/api/v1/companies"), None);
        assert_eq!(resolve(Method::TRACE, "/.well-known/jwks.json"), None);
        assert_eq!(t.allowed_methods("/api/v1/auth/login"), [Method::POST]);
        // Any method goes on to the service, which answers 405 itself.
        assert!(t.allowed_methods("/api/v1/users/me").is_empty());
        assert!(t.allowed_methods("/api/v2/companies").is_empty());
        assert!(t.allowed_methods("/internal/v1/runs").is_empty());
    }

    #[test]
    fn internal_paths_and_unknown_paths_are_never_routed() {
        for path in [
            "/internal/runs",
            "/internal",
            "/INTERNAL/runs",
            "/api/v1/companies/../../internal/runs",
            "/api/v1/companies/%2e%2e/x",
            "/api/v1/companies%2F..%2Finternal",
            "/api/v2/companies",
            "/api/v1/companiesx",
            "/",
        ] {
            assert_eq!(resolve(Method::GET, path), None, "{path}");
        }
        let err = RouteTable::parse("* /internal/** scraper public", &UPSTREAMS).unwrap_err();
        assert!(err.contains("/internal"), "{err}");
    }

    #[test]
    fn a_path_a_lenient_server_could_read_as_internal_is_never_routed() {
        let everything = RouteTable::parse("* /** scraper public", &UPSTREAMS).unwrap();
        for path in [
            "/%69nternal/runs",
            "/%2569nternal/runs",
            "//internal/runs",
            "/internal;x/runs",
            "/x/..;/internal",
            "/x\\..\\internal",
            "/api/v1/companies/%252e%252e/%252e%252e/%252e%252e/internal",
            "/%2525252525252569nternal",
        ] {
            assert!(everything.resolve(&Method::GET, path).is_none(), "{path}");
        }
        assert!(everything.resolve(&Method::GET, "/internals").is_some());
        assert!(
            everything
                .resolve(&Method::GET, "/api/v1/%69nternal")
                .is_some()
        );
    }

    #[test]
    fn a_custom_table_is_read_and_checked() {
        let t =
            RouteTable::parse("GET /a/*/b app public\n* /a/** scraper bearer", &UPSTREAMS).unwrap();
        assert_eq!(&*t.resolve(&Method::GET, "/a/x/b").unwrap().upstream, "app");
        assert_eq!(
            &*t.resolve(&Method::GET, "/a/x/y/b").unwrap().upstream,
            "scraper"
        );
        for bad in [
            "GET /a nowhere public",
            "GET /a app sometimes",
            "GET a app public",
            "GET /a app",
            "",
        ] {
            assert!(RouteTable::parse(bad, &UPSTREAMS).is_err(), "{bad:?}");
        }
    }
}

//! The HTTP site: routes, conditional requests, fault injection, request log,
//! and the in-process handle tests use.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::data::{self, DemoCompany, Rng};
use crate::render;

/// Default `robots.txt`.
pub const DEFAULT_ROBOTS_TXT: &str = "User-agent: *\nAllow: /\n";

/// Most requests kept in the request log (oldest dropped first).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// Largest accepted `size` of a list page.
pub const MAX_PAGE_SIZE: u64 = 100;

/// How the site is set up.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Seed of the generated data.
    pub seed: u64,
    /// Number of companies.
    pub companies: usize,
    /// Body of `/robots.txt`.
    pub robots_txt: String,
    /// Address to bind; `DemoSite::start` uses it (default `127.0.0.1:0`).
    pub listen: SocketAddr,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            companies: 100,
            robots_txt: DEFAULT_ROBOTS_TXT.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl DemoConfig {
    /// `count` companies from `seed`, other settings default.
    pub fn new(seed: u64, companies: usize) -> Self {
        Self {
            seed,
            companies,
            ..Self::default()
        }
    }
}

/// A misbehaviour the site can be told to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: retry_after_secs`.
    TooManyRequests {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// 503.
    ServiceUnavailable,
    /// 500.
    ServerError,
    /// Sleep `secs` seconds, then answer normally.
    Timeout {
        /// Delay before answering.
        secs: u64,
    },
    /// 200 with the real body cut in half (never valid JSON), `application/json`.
    MalformedJson,
    /// 200 with pseudo-random bytes (invalid UTF-8).
    Garbage,
}

/// One request the site answered.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// When the request arrived.
    pub at: Instant,
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// e.g. `/api/companies?page=2&size=50`.
    pub path_and_query: String,
    /// Status code sent.
    pub status: u16,
    /// The `User-Agent` header, if any (and valid UTF-8).
    pub user_agent: Option<String>,
    /// Whether the request carried `If-None-Match` or `If-Modified-Since`.
    pub conditional: bool,
}

#[derive(Debug)]
struct FaultRule {
    prefix: String,
    fault: Fault,
    every_nth: u64,
    seen: u64,
}

#[derive(Debug, Default)]
struct Faults {
    next: VecDeque<Fault>,
    rules: Vec<FaultRule>,
}

/// The served companies: generated on demand from `(seed, index)`, so a million
/// companies cost no memory and no start-up time; only what tests changed is kept.
#[derive(Debug)]
struct Data {
    seed: u64,
    /// Companies `0..count` of the generated data set, in list order.
    count: u64,
    /// Companies changed by `mutate`, by index (they replace the generated ones).
    changed: HashMap<u64, DemoCompany>,
    /// The current IDNO of every changed company → its index.
    changed_idnos: HashMap<String, u64>,
    /// Indices taken off the site by `remove`.
    removed: BTreeSet<u64>,
    api_missing: HashSet<String>,
    robots_txt: String,
}

impl Data {
    /// The index of the company served as `idno`.
    fn index_of(&self, idno: &str) -> Option<u64> {
        let index = match self.changed_idnos.get(idno) {
            Some(&i) => i,
            None => data::index_of_idno(self.seed, idno)
                .filter(|i| *i < self.count && !self.changed.contains_key(i))?,
        };
        (!self.removed.contains(&index)).then_some(index)
    }

    /// Company `index` as served (changed or generated).
    fn at(&self, index: u64) -> Cow<'_, DemoCompany> {
        match self.changed.get(&index) {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(data::company(self.seed, index)),
        }
    }

    fn get(&self, idno: &str) -> Option<Cow<'_, DemoCompany>> {
        self.index_of(idno).map(|i| self.at(i))
    }

    /// How many companies the site lists.
    fn total(&self) -> u64 {
        self.count - self.removed.len() as u64
    }

    /// The index of the `k`-th listed company (from 0), if there are that many.
    fn nth_listed(&self, k: u64) -> Option<u64> {
        // The least i with i = k + |removed ∩ [0, i]|; iterating from k reaches it.
        let mut i = k;
        loop {
            let next = k.checked_add(self.removed.range(..=i).count() as u64)?;
            if next == i {
                break;
            }
            i = next;
        }
        (i < self.count).then_some(i)
    }

    /// Up to `size` listed companies from the `start`-th on, in list order.
    fn listed(&self, start: u64, size: u64) -> Vec<Cow<'_, DemoCompany>> {
        let Some(first) = self.nth_listed(start) else {
            return Vec::new();
        };
        (first..self.count)
            .filter(|i| !self.removed.contains(i))
            .take(usize::try_from(size).unwrap_or(usize::MAX))
            .map(|i| self.at(i))
            .collect()
    }
}

#[derive(Debug)]
struct Inner {
    data: RwLock<Data>,
    faults: Mutex<Faults>,
    log: Mutex<VecDeque<RequestRecord>>,
    garbage_counter: AtomicU64,
}

/// The site's shared state and its runtime controls. Cheap to clone; every
/// clone controls the same site, also while it serves.
#[derive(Clone, Debug)]
pub struct DemoControl {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DemoControl {
    /// State for `config`. Companies are generated when asked for, so this is
    /// instant and small whatever `config.companies` is.
    pub fn new(config: &DemoConfig) -> Self {
        let data = Data {
            seed: config.seed,
            count: config.companies as u64,
            changed: HashMap::new(),
            changed_idnos: HashMap::new(),
            removed: BTreeSet::new(),
            api_missing: HashSet::new(),
            robots_txt: config.robots_txt.clone(),
        };
        Self {
            inner: Arc::new(Inner {
                data: RwLock::new(data),
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(VecDeque::new()),
                garbage_counter: AtomicU64::new(0),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.inner.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.inner.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The companies as currently served (after mutations), in list order.
    /// Generates every one of them: for a large site, prefer [`Self::company`] or
    /// [`Self::listed`].
    pub fn companies(&self) -> Vec<DemoCompany> {
        let data = self.read();
        data.listed(0, data.total())
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    /// How many companies the site lists (`totalItemCount`).
    pub fn total(&self) -> u64 {
        self.read().total()
    }

    /// Up to `size` listed companies from the `start`-th on (from 0), in list order:
    /// what a list page shows.
    pub fn listed(&self, start: u64, size: u64) -> Vec<DemoCompany> {
        self.read()
            .listed(start, size)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    /// One company as currently served.
    pub fn company(&self, idno: &str) -> Option<DemoCompany> {
        self.read().get(idno).map(Cow::into_owned)
    }

    /// Replace the body of `/robots.txt`.
    pub fn set_robots_txt(&self, body: impl Into<String>) {
        self.write().robots_txt = body.into();
    }

    /// The next `n` requests (other than `/health` and `/ready`) get `fault`.
    /// Calls queue up: `fail_next(2, A); fail_next(1, B)` gives A, A, B.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut f = lock(&self.inner.faults);
        f.next.extend(std::iter::repeat_n(fault, n));
    }

    /// Every `every_nth` request whose path starts with `path_prefix` gets `fault`
    /// (the nth, 2nth, ...; `1` means every one). Replaces an earlier rule for the
    /// same prefix; `every_nth == 0` removes it. `fail_next` faults go first.
    pub fn set_fault_ratio(&self, path_prefix: &str, fault: Fault, every_nth: u64) {
        let mut f = lock(&self.inner.faults);
        f.rules.retain(|r| r.prefix != path_prefix);
        if every_nth > 0 {
            f.rules.push(FaultRule {
                prefix: path_prefix.to_owned(),
                fault,
                every_nth,
                seen: 0,
            });
        }
    }

    /// Forget every queued fault and ratio rule.
    pub fn clear_faults(&self) {
        let mut f = lock(&self.inner.faults);
        f.next.clear();
        f.rules.clear();
    }

    /// The JSON detail and financials of `idno` answer 404; the HTML page and the list entry stay.
    pub fn api_missing(&self, idno: &str) {
        self.write().api_missing.insert(idno.to_owned());
    }

    /// Undo `api_missing` for `idno`.
    pub fn api_restore(&self, idno: &str) {
        self.write().api_missing.remove(idno);
    }

    /// Change a company in place. Unless the closure set `revision_date` itself,
    /// it becomes now (UTC, whole seconds; strictly later than before), which moves
    /// `revisionDate` and `Last-Modified`; the ETag follows the new body.
    /// Returns false (and does nothing) for an unknown idno.
    pub fn mutate<F: FnOnce(&mut DemoCompany)>(&self, idno: &str, f: F) -> bool {
        let mut data = self.write();
        let Some(i) = data.index_of(idno) else {
            return false;
        };
        let mut c = data.at(i).into_owned();
        let before = c.revision_date;
        f(&mut c);
        if c.revision_date == before {
            let now = Utc::now().naive_utc();
            let now = now.date().and_hms_opt(
                chrono::Timelike::hour(&now),
                chrono::Timelike::minute(&now),
                chrono::Timelike::second(&now),
            );
            let bumped = before + chrono::Duration::seconds(1);
            c.revision_date = now.map_or(bumped, |n| n.max(bumped));
        }
        data.changed_idnos.remove(idno);
        data.changed_idnos.insert(c.idno.clone(), i);
        data.changed.insert(i, c);
        true
    }

    /// Remove a company from the site (list, API and HTML). Returns whether it existed.
    pub fn remove(&self, idno: &str) -> bool {
        let mut data = self.write();
        let Some(i) = data.index_of(idno) else {
            return false;
        };
        data.removed.insert(i);
        true
    }

    /// Every request answered so far (oldest first, at most [`REQUEST_LOG_CAPACITY`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// The largest number of logged requests within any window of `window` length.
    pub fn max_requests_in_window(&self, window: Duration) -> usize {
        let mut times: Vec<Instant> = lock(&self.inner.log).iter().map(|r| r.at).collect();
        times.sort_unstable();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut f = lock(&self.inner.faults);
        if let Some(fault) = f.next.pop_front() {
            return Some(fault);
        }
        let mut hit = None;
        for rule in f.rules.iter_mut().filter(|r| path.starts_with(&r.prefix)) {
            rule.seen += 1;
            if hit.is_none() && rule.seen % rule.every_nth == 0 {
                hit = Some(rule.fault.clone());
            }
        }
        hit
    }

    fn record(&self, rec: RequestRecord) {
        let mut log = lock(&self.inner.log);
        if log.len() >= REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(rec);
    }
}

/// Build the site's router over `control`.
pub fn router(control: DemoControl) -> Router {
    Router::new()
        .route("/api/companies", get(list_companies))
        .route("/api/companies/{idno}", get(company_json))
        .route("/api/fin-data-v1/{idno}", get(financials_json))
        .route("/companies/{idno}", get(company_html))
        .route("/robots.txt", get(robots_txt))
        .route("/health", get(health))
        .route("/ready", get(health))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            control.clone(),
            faults_and_log,
        ))
        .with_state(control)
}

/// Serve `control` on `listener` until `shutdown` completes (then finish in-flight requests).
pub async fn serve<F>(
    listener: TcpListener,
    control: DemoControl,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(control))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Entry point for running the site in-process.
pub struct DemoSite;

impl DemoSite {
    /// Generate the data, bind `config.listen` (default `127.0.0.1:0`) and serve in
    /// a background task of the current Tokio runtime.
    pub async fn start(config: DemoConfig) -> std::io::Result<DemoSiteHandle> {
        let control = DemoControl::new(&config);
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, control.clone(), async move {
            let _ = rx.await;
        }));
        Ok(DemoSiteHandle {
            addr,
            control,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running in-process site. Derefs to [`DemoControl`] for the runtime controls.
/// Dropping it stops the server.
#[derive(Debug)]
pub struct DemoSiteHandle {
    addr: SocketAddr,
    control: DemoControl,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl DemoSiteHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash); both the
    /// `apiUrl` and the `baseUrl` of the source.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A clone of the controls (usable after the handle is moved or dropped).
    pub fn control(&self) -> DemoControl {
        self.control.clone()
    }

    /// Stop accepting, finish in-flight requests, and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Deref for DemoSiteHandle {
    type Target = DemoControl;
    fn deref(&self) -> &DemoControl {
        &self.control
    }
}

impl Drop for DemoSiteHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------- middleware

async fn faults_and_log(State(ctl): State<DemoControl>, req: Request, next: Next) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let conditional = req.headers().contains_key(header::IF_NONE_MATCH)
        || req.headers().contains_key(header::IF_MODIFIED_SINCE);

    let fault = if path == "/health" || path == "/ready" {
        None
    } else {
        ctl.take_fault(&path)
    };
    let response = match &fault {
        None => next.run(req).await,
        Some(f) => apply_fault(&ctl, f, &path, req, next).await,
    };
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        path = %path_and_query,
        status,
        user_agent = user_agent.as_deref().unwrap_or(""),
        conditional,
        fault = fault.as_ref().map_or_else(|| "none".to_owned(), |f| format!("{f:?}")),
        elapsed_ms = at.elapsed().as_millis() as u64,
        "request"
    );
    ctl.record(RequestRecord {
        at,
        method,
        path_and_query,
        status,
        user_agent,
        conditional,
    });
    response
}

async fn apply_fault(
    ctl: &DemoControl,
    fault: &Fault,
    path: &str,
    req: Request,
    next: Next,
) -> Response {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let mut r = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            r
        }
        Fault::ServiceUnavailable => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Fault::ServerError => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Fault::Timeout { secs } => {
            tokio::time::sleep(Duration::from_secs(*secs)).await;
            next.run(req).await
        }
        Fault::MalformedJson => {
            let full = axum::body::to_bytes(next.run(req).await.into_body(), 64 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let body = if full.len() >= 2 {
                full.slice(..full.len() / 2)
            } else {
                axum::body::Bytes::from_static(b"{\"data\":[{\"id\":")
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Fault::Garbage => {
            let n = ctl.inner.garbage_counter.fetch_add(1, Ordering::Relaxed);
            let mut rng = Rng::new(0x6A7B_A6E0, n, 7);
            let mut bytes = Vec::with_capacity(1024);
            bytes.push(0xFF); // never valid UTF-8
            while bytes.len() < 1024 {
                bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            let ct = if path.starts_with("/api/") {
                "application/json"
            } else {
                "text/html; charset=utf-8"
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
    }
}

// ------------------------------------------------------------------ handlers

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Last-Modified of documents that are not one company's (lists, robots.txt).
fn fixed_date() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, JSON)],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

fn not_found_json() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

async fn not_found() -> Response {
    not_found_json()
}

/// `HTTP-date` (RFC 9110), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: NaiveDateTime) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc2822(s)
                .ok()
                .map(|d| d.naive_utc())
        })
}

/// The strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// A 200 with ETag and Last-Modified, or a 304 when the request's validators match
/// (`If-None-Match` wins over `If-Modified-Since`, as RFC 9110 says).
fn conditional(
    headers: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    last_modified: NaiveDateTime,
) -> Response {
    let etag = etag_of(&body);
    let lm = http_date(last_modified);
    let not_modified = if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        inm.to_str().is_ok_and(|v| etag_matches(v, &etag))
    } else if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    {
        last_modified <= ims
    } else {
        false
    };
    let validators = [(header::ETAG, etag), (header::LAST_MODIFIED, lm)];
    if not_modified {
        (StatusCode::NOT_MODIFIED, validators).into_response()
    } else {
        (
            StatusCode::OK,
            validators,
            [(header::CONTENT_TYPE, content_type)],
            body,
        )
            .into_response()
    }
}

async fn list_companies(
    State(ctl): State<DemoControl>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        match serde_urlencoded::from_str(query.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(_) => return message(StatusCode::BAD_REQUEST, "Malformed query string"),
        };
    let mut page: u64 = 1;
    let mut size: u64 = 20;
    for (k, v) in pairs {
        match k.as_str() {
            "page" => match v.trim().parse::<u64>() {
                Ok(p) if p >= 1 => page = p,
                _ => return message(StatusCode::BAD_REQUEST, "page must be an integer >= 1"),
            },
            "size" => match v.trim().parse::<u64>() {
                Ok(s) if (1..=MAX_PAGE_SIZE).contains(&s) => size = s,
                _ => {
                    return message(
                        StatusCode::BAD_REQUEST,
                        "size must be an integer between 1 and 100",
                    );
                }
            },
            _ => {}
        }
    }
    let (body, last_modified) = {
        let data = ctl.read();
        let total = data.total();
        let items = match (page - 1).checked_mul(size) {
            Some(start) => data.listed(start, size),
            None => Vec::new(),
        };
        // Fixed, unless a company on this page was changed later.
        let last_modified = items
            .iter()
            .map(|c| c.revision_date)
            .fold(fixed_date(), NaiveDateTime::max);
        let body = json!({
            "data": items.iter().map(|c| render::api_summary(c)).collect::<Vec<Value>>(),
            "totalItemCount": total,
            "page": page,
            "size": size,
        });
        (body.to_string().into_bytes(), last_modified)
    };
    conditional(&headers, JSON, body, last_modified)
}

fn is_idno(s: &str) -> bool {
    s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON API document of one company, unless the company is unknown or its
/// API answer has been switched off with `api_missing`.
fn api_document(
    ctl: &DemoControl,
    idno: &str,
    headers: &HeaderMap,
    render: fn(&DemoCompany) -> Value,
) -> Response {
    let found = {
        let data = ctl.read();
        if !is_idno(idno) || data.api_missing.contains(idno) {
            None
        } else {
            data.get(idno)
                .map(|c| (render(&c).to_string(), c.revision_date))
        }
    };
    match found {
        Some((body, lm)) => conditional(headers, JSON, body.into_bytes(), lm),
        None => not_found_json(),
    }
}

async fn company_json(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    api_document(&ctl, &idno, &headers, render::api_company)
}

async fn financials_json(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    api_document(&ctl, &idno, &headers, render::api_financials)
}

async fn company_html(
    State(ctl): State<DemoControl>,
    Path(idno): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = {
        let data = ctl.read();
        data.get(&idno)
            .map(|c| (render::html_company(&c), c.revision_date))
    };
    match found {
        Some((body, lm)) => conditional(&headers, HTML, body.into_bytes(), lm),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, HTML)],
            render::html_not_found(),
        )
            .into_response(),
    }
}

async fn robots_txt(State(ctl): State<DemoControl>, headers: HeaderMap) -> Response {
    let body = ctl.read().robots_txt.clone();
    conditional(&headers, TEXT, body.into_bytes(), fixed_date())
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, JSON)],
        json!({"status": "ok"}).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    fn site(n: usize) -> (DemoControl, Router) {
        let ctl = DemoControl::new(&DemoConfig::new(42, n));
        let app = router(ctl.clone());
        (ctl, app)
    }

    async fn get_with(
        app: &Router,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = HttpRequest::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        (status, headers, body)
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        get_with(app, uri, &[]).await
    }

    fn json_of(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("json")
    }

    #[tokio::test]
    async fn list_pagination() {
        let (ctl, app) = site(45);
        let (s, h, b) = get(&app, "/api/companies").await;
        assert_eq!(s, StatusCode::OK);
        assert!(h.get(header::ETAG).is_some() && h.get(header::LAST_MODIFIED).is_some());
        let v = json_of(&b);
        assert_eq!(v["totalItemCount"], 45);
        assert_eq!(v["page"], 1);
        assert_eq!(v["size"], 20);
        assert_eq!(v["data"].as_array().map(Vec::len), Some(20));
        let first = &v["data"][0];
        let mut keys: Vec<&str> = first
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["fullName", "id", "idno", "isActive", "registeredAt", "type"]
        );
        assert_eq!(first["idno"], ctl.companies()[0].idno);

        let v = json_of(&get(&app, "/api/companies?page=3&size=20").await.2);
        assert_eq!(v["data"].as_array().map(Vec::len), Some(5));
        let v = json_of(&get(&app, "/api/companies?page=4&size=20").await.2);
        assert_eq!(v["data"], json!([]));
        assert_eq!(v["totalItemCount"], 45);
        let (s, _, b) = get(&app, "/api/companies?page=18446744073709551615&size=100").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(json_of(&b)["data"], json!([]));
        let v = json_of(&get(&app, "/api/companies?size=100").await.2);
        assert_eq!(v["data"].as_array().map(Vec::len), Some(45));
        let v = json_of(&get(&app, "/api/companies?page=2&size=1").await.2);
        assert_eq!(v["data"][0]["idno"], ctl.companies()[1].idno);

        for bad in [
            "size=0", "size=101", "page=0", "page=-1", "size=abc", "page=1.5", "size=%ZZ",
        ] {
            let (s, _, b) = get(&app, &format!("/api/companies?{bad}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
            assert!(json_of(&b)["message"].is_string());
        }
    }

    #[tokio::test]
    async fn company_detail_financials_and_404() {
        let (ctl, app) = site(30);
        let c = ctl.companies()[7].clone();
        let (s, h, b) = get(&app, &format!("/api/companies/{}", c.idno)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(json_of(&b), render::api_company(&c));
        let (s, _, b) = get(&app, &format!("/api/fin-data-v1/{}", c.idno)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(json_of(&b), render::api_financials(&c));

        for path in [
            "/api/companies/1009999999999",
            "/api/companies/abc",
            "/api/fin-data-v1/1009999999999",
            "/nope",
        ] {
            let (s, _, b) = get(&app, path).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(json_of(&b), json!({"message": "Not found"}));
        }
        let (s, h, _) = get(&app, "/companies/1009999999999").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(h[header::CONTENT_TYPE], HTML);

        let no_fin = ctl
            .companies()
            .into_iter()
            .find(|c| c.financials.is_empty());
        if let Some(c) = no_fin {
            let (_, _, b) = get(&app, &format!("/api/fin-data-v1/{}", c.idno)).await;
            assert_eq!(json_of(&b), json!([]));
        }
    }

    #[tokio::test]
    async fn html_page_served() {
        let (ctl, app) = site(5);
        let c = ctl.companies()[0].clone();
        let (s, h, b) = get(&app, &format!("/companies/{}", c.idno)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!((25 * 1024..40 * 1024).contains(&b.len()));
        let html = String::from_utf8(b).expect("utf-8");
        assert_eq!(html, render::html_company(&c), "the company's own layout");
    }

    #[tokio::test]
    async fn etag_and_304() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[1].idno.clone();
        for path in [
            format!("/api/companies/{idno}"),
            format!("/api/fin-data-v1/{idno}"),
            format!("/companies/{idno}"),
            "/api/companies?page=1&size=5".to_owned(),
            "/robots.txt".to_owned(),
        ] {
            let (s, h, b) = get(&app, &path).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            let etag = h[header::ETAG].to_str().expect("etag").to_owned();
            assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
            assert_eq!(etag, etag_of(&b));
            let lm = h[header::LAST_MODIFIED].to_str().expect("lm").to_owned();

            let (s, h2, b) = get_with(&app, &path, &[("if-none-match", &etag)]).await;
            assert_eq!(s, StatusCode::NOT_MODIFIED, "{path}");
            assert!(b.is_empty());
            assert_eq!(h2[header::ETAG], etag.as_str());
            let (s, _, _) = get_with(
                &app,
                &path,
                &[("if-none-match", "\"other\", W/".to_owned().as_str())],
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            let (s, _, _) = get_with(
                &app,
                &path,
                &[("if-none-match", &format!("\"x\", W/{etag}"))],
            )
            .await;
            assert_eq!(s, StatusCode::NOT_MODIFIED);

            let (s, _, b) = get_with(&app, &path, &[("if-modified-since", &lm)]).await;
            assert_eq!(s, StatusCode::NOT_MODIFIED, "{path}");
            assert!(b.is_empty());
            let (s, _, _) = get_with(
                &app,
                &path,
                &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            let (s, _, _) = get_with(&app, &path, &[("if-modified-since", "garbage")]).await;
            assert_eq!(s, StatusCode::OK);
            // If-None-Match wins over If-Modified-Since.
            let (s, _, _) = get_with(
                &app,
                &path,
                &[("if-none-match", "\"nope\""), ("if-modified-since", &lm)],
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
    }

    #[tokio::test]
    async fn company_last_modified_is_revision_date() {
        let (ctl, app) = site(3);
        let c = ctl.companies()[2].clone();
        let (_, h, _) = get(&app, &format!("/api/companies/{}", c.idno)).await;
        assert_eq!(
            h[header::LAST_MODIFIED],
            http_date(c.revision_date).as_str()
        );
    }

    #[tokio::test]
    async fn mutate_changes_etag_and_last_modified() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[3].idno.clone();
        let path = format!("/api/companies/{idno}");
        let html_path = format!("/companies/{idno}");
        let (_, h1, _) = get(&app, &path).await;
        let (_, hh1, _) = get(&app, &html_path).await;
        let old_rev = ctl.company(&idno).map(|c| c.revision_date);
        assert!(ctl.mutate(&idno, |c| {
            c.full_name = "Companie Nouă SRL".to_owned();
            c.address.city = "Cahul".to_owned();
        }));
        assert!(!ctl.mutate("1000000000000", |_| {}));
        let c = ctl.company(&idno).expect("company");
        assert!(Some(c.revision_date) > old_rev);
        let (s, h2, b) = get_with(
            &app,
            &path,
            &[("if-none-match", h1[header::ETAG].to_str().expect("etag"))],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_ne!(h1[header::ETAG], h2[header::ETAG]);
        assert_ne!(h1[header::LAST_MODIFIED], h2[header::LAST_MODIFIED]);
        let v = json_of(&b);
        assert_eq!(v["fullName"], "Companie Nouă SRL");
        assert_eq!(
            v["revisionDate"],
            c.revision_date.format("%Y-%m-%dT%H:%M:%S").to_string()
        );
        let (s, _, _) = get_with(
            &app,
            &html_path,
            &[(
                "if-modified-since",
                hh1[header::LAST_MODIFIED].to_str().expect("lm"),
            )],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        // The list page carrying it changes too.
        let (_, _, b) = get(&app, "/api/companies?page=1&size=5").await;
        assert_eq!(json_of(&b)["data"][3]["fullName"], "Companie Nouă SRL");
        // Two quick mutations still give different revision dates.
        let before = ctl.company(&idno).map(|c| c.revision_date);
        ctl.mutate(&idno, |c| c.is_active = !c.is_active);
        assert!(ctl.company(&idno).map(|c| c.revision_date) > before);
    }

    #[tokio::test]
    async fn api_missing_keeps_html() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[0].idno.clone();
        ctl.api_missing(&idno);
        let (s, _, b) = get(&app, &format!("/api/companies/{idno}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(json_of(&b), json!({"message": "Not found"}));
        let (s, _, _) = get(&app, &format!("/api/fin-data-v1/{idno}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, _) = get(&app, &format!("/companies/{idno}")).await;
        assert_eq!(s, StatusCode::OK);
        let (_, _, b) = get(&app, "/api/companies?size=5").await;
        assert_eq!(json_of(&b)["data"][0]["idno"], idno.as_str());
        ctl.api_restore(&idno);
        let (s, _, _) = get(&app, &format!("/api/companies/{idno}")).await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn remove_company() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[0].idno.clone();
        assert!(ctl.remove(&idno));
        assert!(!ctl.remove(&idno));
        let (s, _, _) = get(&app, &format!("/companies/{idno}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, _, b) = get(&app, "/api/companies").await;
        assert_eq!(json_of(&b)["totalItemCount"], 4);
    }

    #[tokio::test]
    async fn removed_companies_leave_the_list_pages_without_gaps() {
        let (ctl, app) = site(30);
        let all = ctl.companies();
        for i in [0, 9, 10, 11, 29] {
            assert!(ctl.remove(&all[i].idno));
        }
        let kept: Vec<&str> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 9, 10, 11, 29].contains(i))
            .map(|(_, c)| c.idno.as_str())
            .collect();
        let mut listed = Vec::new();
        for page in 1..=4 {
            let v = json_of(
                &get(&app, &format!("/api/companies?page={page}&size=7"))
                    .await
                    .2,
            );
            assert_eq!(v["totalItemCount"], 25);
            for c in v["data"].as_array().into_iter().flatten() {
                listed.push(c["idno"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(listed, kept);
        assert_eq!(ctl.total(), 25);
        assert_eq!(
            ctl.companies()
                .iter()
                .map(|c| c.idno.as_str())
                .collect::<Vec<_>>(),
            kept
        );
        assert_eq!(ctl.listed(24, 10).len(), 1);
        assert!(ctl.listed(25, 10).is_empty());
        assert!(ctl.listed(u64::MAX, 10).is_empty());
    }

    #[tokio::test]
    async fn a_company_given_another_idno_moves() {
        let (ctl, app) = site(10);
        let old = ctl.companies()[4].idno.clone();
        let new = "1000000000001".to_owned();
        assert!(ctl.mutate(&old, |c| c.idno = new.clone()));
        assert!(ctl.company(&old).is_none());
        assert_eq!(
            get(&app, &format!("/api/companies/{old}")).await.0,
            StatusCode::NOT_FOUND
        );
        let (s, _, b) = get(&app, &format!("/api/companies/{new}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(json_of(&b)["idno"], new.as_str());
        assert_eq!(ctl.companies()[4].idno, new);
        // Changed again, then removed: gone under both IDNOs.
        assert!(ctl.mutate(&new, |c| c.is_active = !c.is_active));
        assert!(ctl.remove(&new));
        assert!(ctl.company(&new).is_none() && ctl.company(&old).is_none());
        assert_eq!(ctl.total(), 9);
    }

    #[tokio::test]
    async fn a_million_companies_cost_nothing_until_asked_for() {
        let (ctl, app) = site(1_000_000);
        assert_eq!(ctl.total(), 1_000_000);
        let v = json_of(&get(&app, "/api/companies?page=10000&size=100").await.2);
        assert_eq!(v["totalItemCount"], 1_000_000);
        let last = &v["data"][99];
        let expected = data::company(42, 999_999);
        assert_eq!(last["idno"], expected.idno.as_str());
        let (s, _, b) = get(&app, &format!("/api/companies/{}", expected.idno)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(json_of(&b), render::api_company(&expected));
        let v = json_of(&get(&app, "/api/companies?page=10001&size=100").await.2);
        assert_eq!(v["data"], json!([]));
        // The IDNO of a company past the end is unknown.
        let beyond = data::idno_for(42, 1_000_000);
        assert_eq!(
            get(&app, &format!("/api/companies/{beyond}")).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn every_fault_kind() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[0].idno.clone();
        let path = format!("/api/companies/{idno}");

        ctl.fail_next(
            1,
            Fault::TooManyRequests {
                retry_after_secs: 7,
            },
        );
        let (s, h, _) = get(&app, &path).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h[header::RETRY_AFTER], "7");

        ctl.fail_next(2, Fault::ServiceUnavailable);
        ctl.fail_next(1, Fault::ServerError);
        assert_eq!(get(&app, &path).await.0, StatusCode::SERVICE_UNAVAILABLE);
        // /health is never faulted and does not consume queued faults.
        assert_eq!(get(&app, "/health").await.0, StatusCode::OK);
        assert_eq!(get(&app, &path).await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(&app, &path).await.0, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(get(&app, &path).await.0, StatusCode::OK);

        ctl.fail_next(1, Fault::MalformedJson);
        let (s, h, b) = get(&app, &path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert!(!b.is_empty());
        assert!(serde_json::from_slice::<Value>(&b).is_err());
        ctl.fail_next(1, Fault::MalformedJson);
        let (_, _, b) = get(&app, "/api/fin-data-v1/1009999999999").await;
        assert!(serde_json::from_slice::<Value>(&b).is_err());

        ctl.fail_next(1, Fault::Garbage);
        let (s, _, b) = get(&app, &path).await;
        assert_eq!(s, StatusCode::OK);
        assert!(b.len() >= 1024);
        assert!(std::str::from_utf8(&b).is_err());
        assert!(serde_json::from_slice::<Value>(&b).is_err());

        ctl.fail_next(1, Fault::Timeout { secs: 1 });
        let t = Instant::now();
        let (s, _, b) = get(&app, &path).await;
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert_eq!(s, StatusCode::OK);
        assert_eq!(json_of(&b)["idno"], idno.as_str());
    }

    #[tokio::test]
    async fn fault_ratio_by_prefix() {
        let (ctl, app) = site(5);
        let idno = ctl.companies()[0].idno.clone();
        ctl.set_fault_ratio("/api/fin-data-v1/", Fault::ServerError, 3);
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                get(&app, &format!("/api/fin-data-v1/{idno}"))
                    .await
                    .0
                    .as_u16(),
            );
            // Other paths are not counted nor faulted.
            assert_eq!(
                get(&app, &format!("/api/companies/{idno}")).await.0,
                StatusCode::OK
            );
        }
        assert_eq!(statuses, [200, 200, 500, 200, 200, 500]);
        ctl.set_fault_ratio("/api/fin-data-v1/", Fault::ServerError, 0);
        assert_eq!(
            get(&app, &format!("/api/fin-data-v1/{idno}")).await.0,
            StatusCode::OK
        );
        ctl.set_fault_ratio("/", Fault::ServiceUnavailable, 1);
        assert_eq!(
            get(&app, "/robots.txt").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        ctl.clear_faults();
        assert_eq!(get(&app, "/robots.txt").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn robots_configurable() {
        let (ctl, app) = site(1);
        let (s, h, b) = get(&app, "/robots.txt").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], TEXT);
        assert_eq!(b, DEFAULT_ROBOTS_TXT.as_bytes());
        ctl.set_robots_txt("User-agent: *\nDisallow: /companies/\n");
        let (_, _, b) = get(&app, "/robots.txt").await;
        assert_eq!(b, b"User-agent: *\nDisallow: /companies/\n");
    }

    #[tokio::test]
    async fn request_log() {
        let (ctl, app) = site(3);
        let idno = ctl.companies()[0].idno.clone();
        get_with(
            &app,
            "/api/companies?page=1&size=2",
            &[("user-agent", "GleanerBot/1.0")],
        )
        .await;
        get_with(
            &app,
            &format!("/companies/{idno}"),
            &[("if-none-match", "\"x\"")],
        )
        .await;
        ctl.fail_next(1, Fault::ServiceUnavailable);
        get(&app, "/robots.txt").await;
        let log = ctl.requests();
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].method, "GET");
        assert_eq!(log[0].path_and_query, "/api/companies?page=1&size=2");
        assert_eq!(log[0].status, 200);
        assert_eq!(log[0].user_agent.as_deref(), Some("GleanerBot/1.0"));
        assert!(!log[0].conditional);
        assert!(log[1].conditional);
        assert_eq!(log[1].user_agent, None);
        assert_eq!(log[2].status, 503);
        assert!(log[0].at <= log[1].at && log[1].at <= log[2].at);
        assert_eq!(ctl.max_requests_in_window(Duration::from_secs(1)), 3);
        ctl.clear_requests();
        assert!(ctl.requests().is_empty());
        assert_eq!(ctl.max_requests_in_window(Duration::from_secs(1)), 0);
    }
}

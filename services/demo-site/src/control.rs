//! The site's shared state and its runtime controls: the served companies (generated on
//! demand, with the changes tests made), robots.txt, and the request log.
//!
//! Between two runs of a scraper a test changes the registry with
//! [`DemoControl::mutate`] (any field), [`DemoControl::remove_role`] (a founder or
//! administrator disappears), [`DemoControl::restore`] (the company as generated
//! comes back, its roles with it) and [`DemoControl::remove`] (the company goes).
//! Every change moves the company's `revisionDate` strictly later, so its ETag and
//! `Last-Modified` change and a polite scraper fetches it again.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::DemoConfig;
use crate::data::{self, DemoCompany};
use crate::faults::Faults;

/// Most requests kept in the request log (oldest dropped first).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

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

/// The served companies: generated on demand from `(seed, index)`, so a million
/// companies cost no memory and no start-up time; only what tests changed is kept.
#[derive(Debug)]
pub(crate) struct Data {
    seed: u64,
    /// Companies `0..count` of the generated data set, in list order.
    count: u64,
    /// Companies changed by `mutate`, by index (they replace the generated ones).
    changed: HashMap<u64, DemoCompany>,
    /// The current IDNO of every changed company → its index.
    changed_idnos: HashMap<String, u64>,
    /// Indices taken off the site by `remove`.
    removed: BTreeSet<u64>,
    pub(crate) api_missing: HashSet<String>,
    pub(crate) robots_txt: String,
}

impl Data {
    /// The index of the company served as `idno`.
    pub(crate) fn index_of(&self, idno: &str) -> Option<u64> {
        let index = match self.changed_idnos.get(idno) {
            Some(&i) => i,
            None => data::index_of_idno(self.seed, idno)
                .filter(|i| *i < self.count && !self.changed.contains_key(i))?,
        };
        (!self.removed.contains(&index)).then_some(index)
    }

    /// Company `index` as served (changed or generated).
    pub(crate) fn at(&self, index: u64) -> Cow<'_, DemoCompany> {
        match self.changed.get(&index) {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(data::company(self.seed, index)),
        }
    }

    pub(crate) fn get(&self, idno: &str) -> Option<Cow<'_, DemoCompany>> {
        self.index_of(idno).map(|i| self.at(i))
    }

    /// How many companies the site lists.
    pub(crate) fn total(&self) -> u64 {
        self.count - self.removed.len() as u64
    }

    /// The index of the `k`-th listed company (from 0), if there are that many.
    pub(crate) fn nth_listed(&self, k: u64) -> Option<u64> {
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
    pub(crate) fn listed(&self, start: u64, size: u64) -> Vec<Cow<'_, DemoCompany>> {
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

/// What every clone of a [`DemoControl`] shares.
#[derive(Debug)]
pub(crate) struct Inner {
    data: RwLock<Data>,
    pub(crate) faults: Mutex<Faults>,
    log: Mutex<VecDeque<RequestRecord>>,
    pub(crate) garbage_counter: AtomicU64,
}

/// The site's shared state and its runtime controls. Cheap to clone; every
/// clone controls the same site, also while it serves.
#[derive(Clone, Debug)]
pub struct DemoControl {
    pub(crate) inner: Arc<Inner>,
}

/// Now (UTC, whole seconds), or a second after `before` if that is later.
fn later_revision(before: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    let now = Utc::now().naive_utc();
    let now = now.date().and_hms_opt(
        chrono::Timelike::hour(&now),
        chrono::Timelike::minute(&now),
        chrono::Timelike::second(&now),
    );
    let bumped = before + chrono::Duration::seconds(1);
    now.map_or(bumped, |n| n.max(bumped))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Data> {
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
            c.revision_date = later_revision(before);
        }
        data.changed_idnos.remove(idno);
        data.changed_idnos.insert(c.idno.clone(), i);
        data.changed.insert(i, c);
        true
    }

    /// A founder or administrator disappears from a company: every person or company
    /// role of `idno` whose name, trimmed, is `name` is dropped (the company's other
    /// roles stay; shares are served as they were). Like [`Self::mutate`], it moves
    /// `revisionDate`. Returns whether a role was dropped (false for an unknown idno
    /// or name). [`Self::restore`] brings it back.
    pub fn remove_role(&self, idno: &str, name: &str) -> bool {
        let Some(c) = self.company(idno) else {
            return false;
        };
        let is = |n: &String| n.trim() == name.trim();
        let held = c.person_founders.iter().any(|f| is(&f.full_name))
            || c.company_founders.iter().any(|f| is(&f.full_name))
            || c.person_administrators.iter().any(|a| is(&a.full_name))
            || c.company_administrators.iter().any(|a| is(&a.full_name));
        held && self.mutate(idno, |c| {
            c.person_founders.retain(|f| !is(&f.full_name));
            c.company_founders.retain(|f| !is(&f.full_name));
            c.person_administrators.retain(|a| !is(&a.full_name));
            c.company_administrators.retain(|a| !is(&a.full_name));
        })
    }

    /// Undo every [`Self::mutate`] and [`Self::remove_role`] of a company: it is
    /// served as generated again (removed roles come back), with a `revisionDate`
    /// strictly later than the one served before. Returns false for an unknown idno.
    pub fn restore(&self, idno: &str) -> bool {
        let mut data = self.write();
        let Some(i) = data.index_of(idno) else {
            return false;
        };
        let Some(changed) = data.changed.remove(&i) else {
            return true;
        };
        data.changed_idnos.remove(&changed.idno);
        let mut c = data::company(data.seed, i);
        c.revision_date = later_revision(changed.revision_date.max(c.revision_date));
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

    pub(crate) fn record(&self, rec: RequestRecord) {
        let mut log = lock(&self.inner.log);
        if log.len() >= REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(rec);
    }
}

//! Budgets leased from the shared limiter and spent in memory.
//!
//! A caller that counts every request against the shared GCRA in Redis pays one round
//! trip per request. A [`LeaseBook`] lets it take several of a key's requests at once
//! ([`super::RedisRateLimiter::take`]) and spend them itself for at most
//! [`LeasePolicy::ttl`]. Every request still counts against the shared budget: its
//! cell is taken in Redis before the request goes ahead, only earlier. So:
//!
//! - **Never more than the limit, give or take the lease time.** A request spent from a
//!   lease was counted when the lease was taken, at most `ttl` before. In any window of
//!   `w`, every replica together lets through at most what the shared GCRA allows in
//!   `w + ttl`: `burst + rate × (w + ttl)`.
//! - **What a lease leaves unspent is given back** with the key's next take, when nothing
//!   else was counted under the key since the lease (the TAT stored is still the one the
//!   lease left, so the TAT without those requests is exactly it less their intervals).
//!   When another replica counted in between they are dropped instead: giving them back
//!   then could let more through than the limit, since GCRA forgets a debt once its time
//!   has passed. So with one replica a client gets exactly what per-request checks give
//!   it, bursts and pauses included; with several, a replica refuses early by at most
//!   the `max − 1` requests it holds or dropped, and those come back to the budget one
//!   interval each, as any spent request does.
//! - **Refusals are exact.** A refusal is remembered until its `Retry-After`, and answered
//!   without Redis until then: the shared TAT only grows, so Redis would refuse too.
//! - **Leases grow only for busy keys.** A key's first lease is one request, as without
//!   leases. A lease spent within `ttl / 2` makes the next twice as large, up to `max`;
//!   one spent within `ttl` keeps the size; one that outlives `ttl` makes the next one
//!   request again. A client sending less than two requests per `ttl` is counted in
//!   Redis on every request, as before.
//! - **`RateLimit-Remaining`** is what could still go ahead right now: the shared
//!   remaining as of the lease plus the requests this replica holds. With one replica and
//!   one request per lease it is the shared count exactly; otherwise it is as old as the
//!   lease (at most `ttl`) and leaves out what came back to the budget since.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Decision, GiveBack, Grant, Quota, millis};

/// How leases are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// How long the requests of a lease may be spent.
    pub ttl: Duration,
    /// The most requests one lease takes (1: every request asks Redis; refusals are
    /// still remembered).
    pub max: u32,
}

/// What [`LeaseBook::spend`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// Decided from memory: a request of a lease, or a remembered refusal.
    Decided(Decision),
    /// Ask the shared limiter, then [`LeaseBook::record`] what it granted.
    Take(Take),
}

/// A take to ask the shared limiter for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    /// Requests to take.
    pub wanted: u32,
    /// What the last lease left unspent, to give back first.
    pub back: Option<GiveBack>,
}

/// How many keys the book holds before it drops the idle ones.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    /// Requests leased and not yet spent.
    held: u32,
    /// The shared remaining after the last lease.
    remaining: u32,
    /// When the last lease was taken (ms since the book's epoch).
    leased_at: f64,
    /// When the whole burst is back, as of the last lease (ms).
    reset_at: f64,
    /// Requests the next lease asks for.
    next: u32,
    /// Refused until then (ms); 0 when not refused.
    refused_until: f64,
    /// The TAT the shared limiter stored after the last grant.
    tat: Option<String>,
}

/// Leases of a caller, by key.
pub struct LeaseBook {
    policy: LeasePolicy,
    epoch: Instant,
    entries: Mutex<HashMap<String, Entry>>,
}

impl LeaseBook {
    /// An empty book.
    pub fn new(policy: LeasePolicy) -> Self {
        Self {
            policy: LeasePolicy {
                ttl: policy.ttl,
                max: policy.max.max(1),
            },
            epoch: Instant::now(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1000.0
    }

    /// Decide one request of `key` from memory, or say how many to take.
    pub fn spend(&self, key: &str, quota: Quota) -> Spend {
        self.spend_at(key, quota, self.now())
    }

    /// Record what the shared limiter granted after [`Spend::Take`]; one request (the
    /// caller's) is spent from it. The caller's decision.
    pub fn record(&self, key: &str, quota: Quota, grant: &Grant) -> Decision {
        self.record_at(key, quota, grant, self.now())
    }

    fn ttl_ms(&self) -> f64 {
        self.policy.ttl.as_secs_f64() * 1000.0
    }

    pub(super) fn spend_at(&self, key: &str, quota: Quota, now: f64) -> Spend {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = entries.get_mut(key) else {
            return Spend::Take(Take {
                wanted: 1,
                back: None,
            });
        };
        let fresh = now < e.leased_at + self.ttl_ms();
        if e.held > 0 && fresh {
            e.held -= 1;
            return Spend::Decided(allowed(e, quota, now));
        }
        if e.held == 0 && now < e.refused_until {
            return Spend::Decided(Decision {
                allowed: false,
                limit: quota.burst(),
                remaining: 0,
                retry_after: millis(e.refused_until - now),
                reset_after: millis(e.reset_at - now),
            });
        }
        // An expired lease's unspent requests go back with this take.
        let back = match (e.held, &e.tat) {
            (0, _) | (_, None) => None,
            (count, Some(tat)) => Some(GiveBack {
                count,
                tat: tat.clone(),
            }),
        };
        e.held = 0;
        // Size the next lease by how fast the last one went: twice as large when it
        // went within half the lease time (twice as many would go within all of it),
        // as large when within the lease time, one request when slower.
        let elapsed = now - e.leased_at;
        e.next = if elapsed < self.ttl_ms() / 2.0 {
            e.next.saturating_mul(2).min(self.policy.max)
        } else if fresh {
            e.next
        } else {
            1
        };
        Spend::Take(Take {
            wanted: e.next,
            back,
        })
    }

    pub(super) fn record_at(&self, key: &str, quota: Quota, grant: &Grant, now: f64) -> Decision {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= SWEEP_AT && !entries.contains_key(key) {
            let ttl = self.ttl_ms();
            entries.retain(|_, e| now < e.leased_at + ttl || now < e.refused_until);
        }
        let d = grant.decision;
        let e = entries.entry(key.to_owned()).or_insert(Entry {
            held: 0,
            remaining: 0,
            leased_at: f64::NEG_INFINITY,
            reset_at: now,
            next: 1,
            refused_until: 0.0,
            tat: None,
        });
        e.tat.clone_from(&grant.tat);
        let reset_at = now + d.reset_after.as_secs_f64() * 1000.0;
        if grant.granted == 0 {
            e.refused_until = now + d.retry_after.as_secs_f64() * 1000.0;
            e.reset_at = reset_at;
            return d;
        }
        // Requests another lease of this key left are still held and spent first by
        // the next requests; the shared remaining already counts them.
        e.held = e.held.saturating_add(grant.granted - 1);
        e.remaining = d.remaining;
        e.leased_at = now;
        e.reset_at = reset_at;
        e.refused_until = 0.0;
        allowed(e, quota, now)
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The decision for a request spent from `e`'s lease: what could still go ahead is the
/// shared remaining plus what this replica holds, and the burst is back once the held
/// requests' intervals (counted, not spent) have passed too.
fn allowed(e: &Entry, quota: Quota, now: f64) -> Decision {
    let unspent = quota.interval_ms() * f64::from(e.held);
    Decision {
        allowed: true,
        limit: quota.burst(),
        remaining: e.remaining.saturating_add(e.held),
        retry_after: Duration::ZERO,
        reset_after: millis(e.reset_at - unspent - now),
    }
}

#[cfg(test)]
mod tests {
    use super::super::gcra;
    use super::*;
    use proptest::prelude::*;

    /// The shared limiter as Redis runs it (the script's steps), on a simulated clock.
    struct Shared {
        stored: Option<String>,
        takes: usize,
    }

    impl Shared {
        fn new() -> Self {
            Self {
                stored: None,
                takes: 0,
            }
        }

        fn take(&mut self, quota: Quota, take: &Take, now: f64) -> Grant {
            self.takes += 1;
            let mut tat: Option<f64> = self.stored.as_deref().and_then(|t| t.parse().ok());
            let given_back = take
                .back
                .as_ref()
                .is_some_and(|b| b.count > 0 && self.stored.as_deref() == Some(b.tat.as_str()));
            if given_back && let (Some(t), Some(b)) = (tat, &take.back) {
                let back = (t - quota.interval_ms() * f64::from(b.count)).max(now);
                tat = Some(back);
                self.stored = Some(format!("{back:.3}"));
            }
            let (decision, granted, new_tat) = gcra(now, tat, quota, take.wanted);
            if let Some(t) = new_tat {
                self.stored = Some(format!("{t:.3}"));
            }
            Grant {
                decision,
                granted,
                tat: self.stored.clone(),
            }
        }
    }

    /// One request of `key` at `now` through `book`, asking `shared` when told to.
    fn request(book: &LeaseBook, shared: &mut Shared, quota: Quota, now: f64) -> Decision {
        match book.spend_at("k", quota, now) {
            Spend::Decided(d) => d,
            Spend::Take(take) => {
                let grant = shared.take(quota, &take, now);
                book.record_at("k", quota, &grant, now)
            }
        }
    }

    fn policy(ttl_ms: u64, max: u32) -> LeasePolicy {
        LeasePolicy {
            ttl: Duration::from_millis(ttl_ms),
            max,
        }
    }

    #[test]
    fn a_burst_counts_down_as_per_request_checks_do_then_refusals_stay_local() {
        let quota = Quota::new(0.5, 3).unwrap();
        let book = LeaseBook::new(policy(100, 32));
        let mut shared = Shared::new();
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                let d = request(&book, &mut shared, quota, 1000.0);
                assert!(d.allowed);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        // Leases of 1 then 2: two round trips for three requests.
        assert_eq!(shared.takes, 2);
        let refused = request(&book, &mut shared, quota, 1000.0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(2));
        assert_eq!(shared.takes, 3);
        // Remembered until its Retry-After: no round trip, the same answer.
        let again = request(&book, &mut shared, quota, 1500.0);
        assert!(!again.allowed);
        assert_eq!(again.retry_after, Duration::from_millis(1500));
        assert_eq!(shared.takes, 3);
        // Then the shared limiter is asked again, and one more goes ahead.
        assert!(request(&book, &mut shared, quota, 3000.0).allowed);
        assert_eq!(shared.takes, 4);
    }

    #[test]
    fn a_quiet_key_asks_the_shared_limiter_on_every_request() {
        let quota = Quota::new(10.0, 20).unwrap();
        let book = LeaseBook::new(policy(100, 32));
        let mut shared = Shared::new();
        for i in 0..10 {
            let d = request(&book, &mut shared, quota, 1000.0 + f64::from(i) * 150.0);
            assert!(d.allowed);
            assert_eq!(d.remaining, 19, "request {i}");
        }
        assert_eq!(shared.takes, 10);
    }

    #[test]
    fn a_busy_key_takes_leases_of_up_to_max() {
        let quota = Quota::new(1e6, 1_000_000).unwrap();
        let book = LeaseBook::new(policy(100, 32));
        let mut shared = Shared::new();
        for i in 0..10_000 {
            assert!(request(&book, &mut shared, quota, f64::from(i) * 0.1).allowed);
        }
        // 1 + 2 + 4 + 8 + 16, then 32 at a time.
        assert_eq!(shared.takes, 5 + (10_000 - 31usize).div_ceil(32));
    }

    #[test]
    fn traffic_under_the_rate_is_never_refused() {
        let quota = Quota::new(1000.0, 20).unwrap();
        let book = LeaseBook::new(policy(100, 32));
        let mut shared = Shared::new();
        for i in 0..20_000 {
            let now = f64::from(i) * 1.11;
            assert!(request(&book, &mut shared, quota, now).allowed, "at {now}");
        }
        assert!(shared.takes < 20_000 / 10, "{} takes", shared.takes);
    }

    /// Requests every `pace` ms for 10 s: how many go ahead, and how many takes.
    fn steady(quota: Quota, policy: LeasePolicy, pace: f64) -> (usize, usize) {
        let book = LeaseBook::new(policy);
        let mut shared = Shared::new();
        let mut allowed = 0;
        let mut now = 1000.0;
        while now < 11_000.0 {
            allowed += usize::from(request(&book, &mut shared, quota, now).allowed);
            now += pace;
        }
        (allowed, shared.takes)
    }

    #[test]
    fn a_steady_client_over_the_limit_gets_what_per_request_checks_give() {
        let quota = Quota::new(10.0, 20).unwrap();
        for pace in [1.0, 7.0, 10.0, 30.0, 49.0, 50.0, 51.0, 99.0] {
            let (exact, _) = steady(quota, policy(100, 1), pace);
            let (leased, _) = steady(quota, policy(100, 32), pace);
            // A steady client spends every lease it takes: nothing is lost.
            assert_eq!(leased, exact, "every {pace} ms");
        }
    }

    #[test]
    fn a_client_in_bursts_with_pauses_gets_what_per_request_checks_give() {
        let quota = Quota::new(10.0, 20).unwrap();
        for (burst, pause) in [(8, 200.0), (5, 120.0), (12, 400.0), (3, 60.0), (30, 1000.0)] {
            let run = |policy: LeasePolicy| {
                let book = LeaseBook::new(policy);
                let mut shared = Shared::new();
                let mut allowed = 0;
                let mut now = 1000.0;
                while now < 11_000.0 {
                    for i in 0..burst {
                        let at = now + f64::from(i) * 0.5;
                        allowed += usize::from(request(&book, &mut shared, quota, at).allowed);
                    }
                    now += pause;
                }
                allowed
            };
            let exact = run(policy(100, 1));
            assert_eq!(run(policy(100, 32)), exact, "{burst} every {pause} ms");
        }
    }

    #[test]
    fn idle_keys_are_dropped_when_the_book_is_full() {
        let quota = Quota::new(1000.0, 10).unwrap();
        let book = LeaseBook::new(policy(100, 32));
        let grant = Grant {
            decision: Decision {
                allowed: true,
                limit: 10,
                remaining: 9,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_millis(1),
            },
            granted: 1,
            tat: Some("1.000".into()),
        };
        for i in 0..SWEEP_AT {
            book.record_at(&i.to_string(), quota, &grant, 0.0);
        }
        assert_eq!(book.len(), SWEEP_AT);
        book.record_at("new", quota, &grant, 1000.0);
        assert_eq!(book.len(), 1);
    }

    /// Arrivals (ms, replica) of a few replicas, each at its own pace.
    fn arrivals() -> impl Strategy<Value = Vec<(f64, usize)>> {
        (1usize..=4).prop_flat_map(|replicas| {
            prop::collection::vec((0.0..2_000.0f64, 0..replicas), 1..600).prop_map(|mut v| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                v
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// In any window, every replica together lets through at most what the shared
        /// limiter allows in the window plus the lease time.
        #[test]
        fn replicas_never_pass_more_than_the_limit_plus_the_lease_time(
            arrivals in arrivals(),
            per_second in 1.0..500.0f64,
            burst in 1u32..40,
            ttl_ms in 1u64..300,
            max in 1u32..64,
        ) {
            let quota = Quota::new(per_second, burst).unwrap();
            let books: Vec<LeaseBook> = (0..4).map(|_| LeaseBook::new(policy(ttl_ms, max))).collect();
            let mut shared = Shared::new();
            let passed: Vec<f64> = arrivals
                .iter()
                .filter(|(now, r)| request(&books[*r], &mut shared, quota, *now).allowed)
                .map(|(now, _)| *now)
                .collect();
            for window in [1.0, 100.0, 1000.0] {
                let bound = f64::from(burst) + per_second * (window + ttl_ms as f64) / 1000.0;
                let mut start = 0;
                for end in 0..passed.len() {
                    while passed[end] - passed[start] > window {
                        start += 1;
                    }
                    let count = (end - start + 1) as f64;
                    prop_assert!(count <= bound.floor() + 1.0, "{count} in {window} ms (bound {bound})");
                }
            }
        }
    }
}

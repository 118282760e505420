//! Leader election through a `coordination.k8s.io/v1` Lease: only the replica holding the
//! Lease runs the controller, so two replicas never start the same run twice.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tracing::{info, warn};

/// How the Lease is held.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// This replica's holderIdentity.
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (and others retry).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The usual timings: a 15 s Lease renewed every 5 s.
    pub fn new(name: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
    }
}

/// What to do with the Lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Nobody holds it (or the holder let it expire): take it over.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a valid Lease.
    Wait {
        /// The current holder.
        holder: String,
    },
}

/// Decides from the Lease, who we are and the time.
pub fn decide(lease: &Lease, identity: &str, now: Timestamp) -> LeaseDecision {
    let spec = lease.spec.as_ref();
    let holder = spec
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty());
    let Some(holder) = holder else {
        return LeaseDecision::Acquire;
    };
    if holder == identity {
        return LeaseDecision::Renew;
    }
    let renewed = spec
        .and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()))
        .map(|t| t.0);
    let duration = spec
        .and_then(|s| s.lease_duration_seconds)
        .unwrap_or(15)
        .max(1);
    match renewed {
        Some(renewed) if renewed + SignedDuration::from_secs(i64::from(duration)) > now => {
            LeaseDecision::Wait { holder }
        }
        _ => LeaseDecision::Acquire,
    }
}

/// The Lease as it should be after we acquire or renew it.
pub fn claimed(existing: Option<&Lease>, cfg: &LeaseConfig, now: Timestamp) -> Lease {
    let mut lease = existing.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let old = lease.spec.take().unwrap_or_default();
    let ours = old.holder_identity.as_deref() == Some(cfg.identity.as_str());
    let transitions = old.lease_transitions.unwrap_or(0);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(i32::try_from(cfg.duration.as_secs()).unwrap_or(15)),
        acquire_time: if ours {
            old.acquire_time.clone()
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if ours || existing.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..old
    });
    lease
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: nobody can ask to stop any more, so wait forever.
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Holds or waits for the Lease through the Kubernetes API.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

impl LeaderElector {
    /// An elector for the Lease in `api`'s namespace.
    pub fn new(api: Api<Lease>, cfg: LeaseConfig) -> Self {
        LeaderElector { api, cfg }
    }

    /// One attempt to acquire or renew; true when we hold the Lease afterwards.
    /// Optimistic concurrency (resourceVersion) makes two replicas racing safe: one gets 409.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        match self.api.get_opt(&self.cfg.name).await? {
            None => {
                let lease = claimed(None, &self.cfg, now);
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(existing) => match decide(&existing, &self.cfg.identity, now) {
                LeaseDecision::Wait { .. } => Ok(false),
                LeaseDecision::Acquire | LeaseDecision::Renew => {
                    let lease = claimed(Some(&existing), &self.cfg, now);
                    match self
                        .api
                        .replace(&self.cfg.name, &PostParams::default(), &lease)
                        .await
                    {
                        Ok(_) => Ok(true),
                        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                        Err(e) => Err(e),
                    }
                }
            },
        }
    }

    /// Waits until this replica leads; false if `shutdown` turned true first.
    pub async fn acquire(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
                    return true;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election attempt failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.retry_period) => {}
                () = stopped(shutdown) => return false,
            }
        }
    }

    /// Renews until `shutdown` turns true (then releases the Lease) or the Lease is lost
    /// (then returns false: the caller must stop reconciling at once).
    pub async fn hold(&self, mut shutdown: watch::Receiver<bool>) -> bool {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.cfg.retry_period) => {}
                () = stopped(&mut shutdown) => {
                    self.release().await;
                    return true;
                }
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!("leader lease taken by another replica");
                    return false;
                }
                Err(e) => {
                    warn!(error = %e, "lease renewal failed");
                    // Another replica may take over once the Lease expires: stop before that.
                    if last_renewed.elapsed() + self.cfg.retry_period >= self.cfg.duration {
                        return false;
                    }
                }
            }
        }
    }

    /// Gives the Lease up so another replica can take over without waiting for expiry.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.cfg.identity.as_str());
        if !ours {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
        }
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!("leader lease released"),
            Err(e) => warn!(error = %e, "cannot release the leader lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn lease(holder: Option<&str>, renewed: &str, duration: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("gleaner-operator".into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                renew_time: Some(MicroTime(ts(renewed))),
                acquire_time: Some(MicroTime(ts(renewed))),
                lease_duration_seconds: Some(duration),
                lease_transitions: Some(2),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn decisions() {
        let now = ts("2026-11-22T00:00:10Z");
        assert_eq!(
            decide(&lease(None, "2026-11-22T00:00:00Z", 15), "a", now),
            LeaseDecision::Acquire
        );
        assert_eq!(
            decide(&lease(Some("a"), "2026-11-22T00:00:00Z", 15), "a", now),
            LeaseDecision::Renew
        );
        assert_eq!(
            decide(&lease(Some("b"), "2026-11-22T00:00:00Z", 15), "a", now),
            LeaseDecision::Wait { holder: "b".into() }
        );
        assert_eq!(
            decide(&lease(Some("b"), "2026-11-22T00:00:00Z", 5), "a", now),
            LeaseDecision::Acquire,
            "expired"
        );
    }

    #[test]
    fn claiming_sets_holder_times_and_transitions() {
        let cfg = LeaseConfig::new("gleaner-operator", "a");
        let now = ts("2026-11-22T00:00:10Z");
        let fresh = claimed(None, &cfg, now);
        let spec = fresh.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(0));

        let taken = claimed(
            Some(&lease(Some("b"), "2026-11-22T00:00:00Z", 5)),
            &cfg,
            now,
        );
        let spec = taken.spec.as_ref().unwrap();
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
        assert_eq!(
            taken.metadata.resource_version.as_deref(),
            Some("7"),
            "optimistic lock"
        );

        let renewed = claimed(
            Some(&lease(Some("a"), "2026-11-22T00:00:00Z", 15)),
            &cfg,
            now,
        );
        let spec = renewed.spec.as_ref().unwrap();
        assert_eq!(spec.lease_transitions, Some(2));
        assert_eq!(
            spec.acquire_time,
            Some(MicroTime(ts("2026-11-22T00:00:00Z")))
        );
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
    }
}

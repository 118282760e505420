//! Test harness: a fresh PostgreSQL database per test on the server named by
//! `TEST_DATABASE_URL` (`make test` starts one on a random port), private
//! `redis-server` and PostgreSQL servers a test can stop and start again to
//! prove recovery, a TCP fault proxy that cuts, stalls or slows the way to a
//! dependency mid-traffic, service binaries run and stopped as Kubernetes does
//! (SIGTERM), a byte-level HTTP/1.1 client, a token signer standing in for identity, a loopback
//! fake Kubernetes API server, and a poll-with-deadline probe for waiting on
//! something to happen.
#![warn(missing_docs)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::bail;

mod drain;
mod faultproxy;
mod kube_api;
#[cfg(feature = "pod-security")]
pub mod pod_security;
mod postgres;
mod process;
mod raw_http;
mod redis;
mod signer;

pub use drain::{Draining, ProxiedDatabase};
pub use faultproxy::{Fault, FaultProxy, assert_unavailable_naming, url_via_port};
pub use kube_api::{FakeKubeApi, Seen};
pub use postgres::{
    TEST_DATABASE_URL, TestDatabase, TestPostgres, connect_waiting_out_startup, fresh_database,
};
pub use process::{InFlight, ServiceProcess};
pub use raw_http::{RawConnection, RawResponse};
pub use redis::TestRedis;
pub use signer::{AUDIENCE, ISSUER, TestSigner};

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Poll `f` until it returns `Some`, or fail after `timeout`. The way to wait
/// for something another task or process does: never a fixed sleep.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        // Poll interval, not an ordering of events.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs for tests, when `TEST_LOG` is set.
pub fn init_logs() {
    gleaner_common::telemetry::init_for_tests();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_first_value_and_fails_at_the_deadline() {
        let calls = Arc::new(AtomicUsize::new(0));
        let got = eventually(Duration::from_secs(5), || {
            let calls = calls.clone();
            async move { (calls.fetch_add(1, Ordering::SeqCst) == 2).then_some("third") }
        })
        .await
        .unwrap();
        assert_eq!(got, "third");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let never = eventually(Duration::from_millis(1), || async { None::<()> }).await;
        assert!(never.is_err());
    }
}

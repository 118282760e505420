//! The policy at connect time, for a `reqwest` client: names resolve through
//! [`PolicyResolver`], which drops every address the policy refuses before any connection
//! is attempted (so a name that resolves, or is re-pointed by DNS rebinding, to a
//! cluster or metadata address does not pass), and [`refusal_in`] finds the policy's
//! refusal inside a request error.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{EgressPolicy, Refusal};

/// Resolves through `inner`, then keeps only the addresses `policy` allows; refuses when
/// none remain.
pub struct PolicyResolver {
    policy: Arc<EgressPolicy>,
    inner: Arc<dyn Resolve>,
}

impl PolicyResolver {
    /// `policy` applied to what `inner` resolves (the [`SystemResolver`], or a test's stub).
    pub fn new(policy: Arc<EgressPolicy>, inner: Arc<dyn Resolve>) -> Self {
        Self { policy, inner }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let resolving = self.inner.resolve(name);
        Box::pin(async move {
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolving
                .await?
                .filter(|addr| match policy.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refused.get_or_insert(refusal);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let refusal = refused.unwrap_or_else(|| {
                    Refusal::InvalidUrl("the host name resolved to no address".into())
                });
                return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The system resolver (getaddrinfo on a blocking thread).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The refusal inside a request error, if the policy is why it failed.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        source = e.source();
    }
    None
}

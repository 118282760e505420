//! The gateway's own metrics (names listed in the README's Metrics section).

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Rate-limit and upstream metrics.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// `gateway_rate_limited_total{scope}`: requests refused with 429, by `user` or `address`.
    pub rate_limited: IntCounterVec,
    /// `gateway_upstream_errors_total{upstream,kind}`: `connect`, `timeout` or `protocol`.
    pub upstream_errors: IntCounterVec,
    /// `gateway_rate_limiter_local`: 1 while Redis is unreachable and limits are kept in memory.
    pub local_limiter: IntGauge,
    /// `gateway_rate_limiter_fallbacks_total`: checks answered in memory because Redis was not.
    pub fallbacks: IntCounter,
}

impl GatewayMetrics {
    /// Create and register the metrics in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "gateway_rate_limited_total",
                "Requests refused by the rate limit",
            ),
            &["scope"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "gateway_upstream_errors_total",
                "Requests an upstream did not answer properly",
            ),
            &["upstream", "kind"],
        )?;
        let local_limiter = IntGauge::new(
            "gateway_rate_limiter_local",
            "1 while rate limits are kept in this process because Redis is unreachable",
        )?;
        let fallbacks = IntCounter::new(
            "gateway_rate_limiter_fallbacks_total",
            "Rate-limit checks answered in memory because Redis was unreachable",
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(local_limiter.clone()))?;
        registry.register(Box::new(fallbacks.clone()))?;
        // Every known label value from the start, so rates and alerts see a 0, not no data.
        for scope in ["user", "address"] {
            rate_limited.with_label_values(&[scope]);
        }
        for upstream in ["identity", "scraper", "app"] {
            for kind in ["connect", "timeout", "protocol"] {
                upstream_errors.with_label_values(&[upstream, kind]);
            }
        }
        Ok(Self {
            rate_limited,
            upstream_errors,
            local_limiter,
            fallbacks,
        })
    }
}

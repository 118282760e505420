//! Identity metrics (names listed in the README's Metrics section).

use prometheus::{IntCounterVec, Opts, Registry};

/// `identity_logins_total{result}` and `identity_tokens_issued_total{kind}`.
#[derive(Clone)]
pub struct IdentityMetrics {
    logins: IntCounterVec,
    tokens: IntCounterVec,
}

impl IdentityMetrics {
    /// Create and register.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let logins = IntCounterVec::new(
            Opts::new("identity_logins_total", "Login attempts by result"),
            &["result"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new("identity_tokens_issued_total", "Tokens issued by kind"),
            &["kind"],
        )?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(tokens.clone()))?;
        for result in [
            "success",
            "invalid_credentials",
            "throttled",
            "disabled",
            "busy",
        ] {
            logins.with_label_values(&[result]);
        }
        for kind in ["access", "refresh"] {
            tokens.with_label_values(&[kind]);
        }
        Ok(Self { logins, tokens })
    }

    /// Count a login attempt.
    pub fn login(&self, result: &str) {
        self.logins.with_label_values(&[result]).inc();
    }

    /// Count an issued access + refresh pair.
    pub fn token_pair(&self) {
        self.tokens.with_label_values(&["access"]).inc();
        self.tokens.with_label_values(&["refresh"]).inc();
    }
}

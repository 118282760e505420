//! Where deliveries may go: the URL check at creation, and the HTTP client that connects
//! only to addresses the egress policy allows (names are resolved, then every refused
//! address is dropped before a connection is attempted; redirects are never followed).

use std::sync::Arc;
use std::time::Duration;

use gleaner_egress::resolve::PolicyResolver;
pub use gleaner_egress::resolve::{SystemResolver, refusal_in};
use gleaner_egress::{EgressPolicy, Url};
use reqwest::dns::Resolve;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook URL that may be stored: absolute `http(s)`, at most [`MAX_URL_LEN`]
/// characters, no user info, and allowed by `policy` (the scheme; a host written as an
/// address must be public or in an allowed network). A host name is checked at connect
/// time, against every address it resolves to. The error says what is wrong.
pub fn check_url(policy: &EgressPolicy, raw: &str) -> Result<Url, String> {
    if raw.chars().count() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password (user:password@)".into());
    }
    if url.as_str().len() > MAX_URL_LEN {
        return Err(format!(
            "is longer than {MAX_URL_LEN} characters once normalised"
        ));
    }
    policy
        .check_url(&url)
        .map_err(|refusal| refusal.to_string())?;
    Ok(url)
}

/// The client deliveries are sent with: connects only where `policy` allows (resolving
/// names through `resolver`), never follows a redirect, no proxy, [`ATTEMPT_TIMEOUT`].
pub fn client(
    policy: Arc<EgressPolicy>,
    resolver: Arc<dyn Resolve>,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        // A proxy from the environment would resolve and connect on our behalf, past the
        // resolver below.
        .no_proxy()
        .dns_resolver(Arc::new(PolicyResolver::new(policy, resolver)))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("gleaner-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use gleaner_egress::AllowedNetworks;

    use super::*;

    fn https_only() -> EgressPolicy {
        EgressPolicy::any_host(AllowedNetworks::none("WEBHOOK_ALLOWED_NETWORKS"))
            .https_only("WEBHOOK_ALLOW_HTTP")
    }

    #[test]
    fn urls_are_refused_naming_why() {
        let policy = https_only();
        let why = |u: &str| check_url(&policy, u).expect_err(u);
        assert!(why("/relative").contains("absolute"));
        assert!(why("ftp://example.com/").contains("http(s)"));
        assert!(why("https://user:pw@example.com/").contains("user name or password"));
        assert!(why("https://user@example.com/").contains("user name or password"));
        assert!(why(&format!("https://example.com/{}", "a".repeat(2048))).contains("2048"));
        assert!(why("http://example.com/").contains("WEBHOOK_ALLOW_HTTP"));
        for address in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://0x7f.1/",
        ] {
            assert!(
                why(address).contains("WEBHOOK_ALLOWED_NETWORKS"),
                "{address}"
            );
        }
        assert!(check_url(&policy, "https://hooks.example.com/in?a=1").is_ok());
        // A name is judged at connect time, by the addresses it resolves to.
        assert!(check_url(&policy, "https://localhost/").is_ok());
    }
}

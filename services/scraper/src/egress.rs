//! The egress policy applied to every request a run makes: the URL's host is checked
//! before sending (IP literals never reach a resolver), names are resolved through a
//! resolver that drops every address the policy refuses (so DNS rebinding to a cluster
//! or metadata address does not pass), and each redirect hop is checked the same way.

use std::sync::Arc;

use gleaner_common::FieldError;
use gleaner_common::settings::env;
pub use gleaner_egress::resolve::refusal_in;
use gleaner_egress::resolve::{PolicyResolver, SystemResolver};
use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy, Refusal, Url};
use gleaner_scrapejob::egress::{
    self as run_egress, DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS,
};
use reqwest::dns::Resolve;

use crate::spec::RunSpec;

/// Redirect hops followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// `SCRAPER_ALLOWED_HOSTS` and `SCRAPER_ALLOWED_NETWORKS`; malformed values stop the
/// process at start, naming the setting.
#[derive(Debug, Clone, clap::Args)]
pub struct EgressSettings {
    /// Hosts a run may fetch from: names or IP addresses, optionally `host:port`, comma-separated.
    #[arg(long, env = env::SCRAPER_ALLOWED_HOSTS, default_value = DEFAULT_ALLOWED_HOSTS, value_parser = run_egress::allowed_hosts)]
    pub allowed_hosts: AllowedHosts,
    /// Non-public networks (CIDR, comma-separated) a run may connect to; none by default.
    #[arg(long, env = env::SCRAPER_ALLOWED_NETWORKS, default_value = DEFAULT_ALLOWED_NETWORKS, value_parser = run_egress::allowed_networks)]
    pub allowed_networks: AllowedNetworks,
}

impl EgressSettings {
    /// The policy these settings describe.
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy::new(self.allowed_hosts.clone(), self.allowed_networks.clone())
    }

    /// What `make up` and the tests use: `127.0.0.1` and `localhost` on any port, with
    /// `127.0.0.0/8` allowed.
    pub fn local() -> Self {
        Self {
            allowed_hosts: run_egress::allowed_hosts(run_egress::LOCAL_ALLOWED_HOSTS)
                .unwrap_or_else(|_| AllowedHosts::none(env::SCRAPER_ALLOWED_HOSTS)),
            allowed_networks: run_egress::allowed_networks(run_egress::LOCAL_ALLOWED_NETWORKS)
                .unwrap_or_else(|_| AllowedNetworks::none(env::SCRAPER_ALLOWED_NETWORKS)),
        }
    }
}

/// The policy and the resolver a run's HTTP client uses.
#[derive(Clone)]
pub struct Egress {
    policy: Arc<EgressPolicy>,
    resolver: Arc<dyn Resolve>,
}

impl Default for Egress {
    /// The production default policy, resolving through the system resolver.
    fn default() -> Self {
        Self::new(run_egress::default_policy())
    }
}

impl Egress {
    /// `policy`, resolving names through the system resolver.
    pub fn new(policy: EgressPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            resolver: Arc::new(SystemResolver),
        }
    }

    /// Resolve names through `resolver` instead (tests: a name that resolves to a chosen address).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Whether a request may go to `url`: http(s), an allowed host and port, and an
    /// IP-literal host also allowed as an address.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        self.policy.check_url(url)
    }

    /// Adds a field error (`spec.baseUrl`, `spec.apiUrl`) for each source URL of `spec`
    /// whose host the policy refuses; a URL that does not parse is the spec validation's to
    /// report.
    pub fn check_spec(&self, spec: &RunSpec, errors: &mut Vec<FieldError>) {
        errors.extend(run_egress::check_spec(&self.policy, spec));
    }

    /// A client builder that resolves, redirects and proxies only as the policy allows.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let redirects = self.clone();
        reqwest::Client::builder()
            // A proxy from the environment would resolve and connect on our behalf,
            // past the resolver below.
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver::new(
                self.policy.clone(),
                self.resolver.clone(),
            )))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(TooManyRedirects);
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
    }
}

/// More redirect hops than [`MAX_REDIRECTS`].
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
pub struct TooManyRedirects;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        egress: EgressSettings,
    }

    #[test]
    fn settings_default_to_openmoney_only() {
        let cli = Cli::try_parse_from(["scraper"]).unwrap();
        assert_eq!(cli.egress.policy(), run_egress::default_policy());
        assert_eq!(EgressSettings::local().policy(), run_egress::local_policy());
    }

    #[test]
    fn malformed_settings_are_refused_naming_them() {
        let err = Cli::try_parse_from(["scraper", "--allowed-networks", "10.0.0.1/8"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCRAPER_ALLOWED_NETWORKS"), "{err}");
        let err = Cli::try_parse_from(["scraper", "--allowed-hosts", "a b"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCRAPER_ALLOWED_HOSTS"), "{err}");
    }

    #[test]
    fn request_urls_are_checked_as_parsed() {
        let policy = run_egress::policy("openmoney.md", "").unwrap();
        let egress = Egress::new(policy);
        let ok = |u: &str| egress.check_url(&Url::parse(u).unwrap());
        assert_eq!(ok("https://openmoney.md/x?y#z"), Ok(()));
        assert_eq!(ok("https://OPENMONEY.md/"), Ok(()));
        assert!(ok("https://api.openmoney.md/").is_err());
        assert!(ok("http://169.254.169.254/").is_err());
        // Other spellings of an address are the address once parsed.
        assert!(ok("http://0x7f.1/").is_err());
        assert!(ok("http://2130706433/").is_err());
        assert!(ok("http://[::ffff:127.0.0.1]/").is_err());
        assert!(ok("file:///etc/passwd").is_err());
    }

    #[test]
    fn spec_urls_become_field_errors_once() {
        let egress = Egress::default();
        let mut spec: RunSpec = serde_json::from_value(serde_json::json!({
            "baseUrl": "http://169.254.169.254",
            "targets": {"idnos": ["1003600012345"]},
        }))
        .unwrap();
        spec.api_url = "not a url".into();
        let mut errors = vec![FieldError::new("spec.apiUrl", "must be an http(s) URL")];
        egress.check_spec(&spec, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.apiUrl", "spec.baseUrl"]);
        assert!(errors[1].message.contains("SCRAPER_ALLOWED_HOSTS"));
    }
}

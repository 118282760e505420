//! The egress policy applied to every request a run makes: the URL's host is checked
//! before sending (IP literals never reach a resolver), names are resolved through a
//! resolver that drops every address the policy refuses (so DNS rebinding to a cluster
//! or metadata address does not pass), and each redirect hop is checked the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use gleaner_common::FieldError;
use gleaner_common::settings::env;
use gleaner_scrapejob::egress::{
    AllowedHosts, AllowedNetworks, DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS, EgressPolicy,
    Host, Refusal,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirect hops followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// `SCRAPER_ALLOWED_HOSTS` and `SCRAPER_ALLOWED_NETWORKS`; malformed values stop the
/// process at start, naming the setting.
#[derive(Debug, Clone, clap::Args)]
pub struct EgressSettings {
    /// Hosts a run may fetch from: names or IP addresses, optionally `host:port`, comma-separated.
    #[arg(long, env = env::SCRAPER_ALLOWED_HOSTS, default_value = DEFAULT_ALLOWED_HOSTS)]
    pub allowed_hosts: AllowedHosts,
    /// Non-public networks (CIDR, comma-separated) a run may connect to; none by default.
    #[arg(long, env = env::SCRAPER_ALLOWED_NETWORKS, default_value = DEFAULT_ALLOWED_NETWORKS)]
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
            allowed_hosts: "127.0.0.1,localhost".parse().unwrap_or_default(),
            allowed_networks: "127.0.0.0/8".parse().unwrap_or_default(),
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
        Self::new(EgressPolicy::default())
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
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::InvalidUrl("must be an http(s) URL".into()));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => Host::Name(name),
            Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
            None => return Err(Refusal::InvalidUrl("has no host".into())),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refusal::InvalidUrl("has no port".into()))?;
        self.policy.check_host(host, port)
    }

    /// Field errors for the source URLs of a spec (`("spec.baseUrl", url)`, ...) whose host
    /// the policy refuses; a field already in `errors` is left alone (its syntax is wrong).
    pub fn check_spec_urls<'a>(
        &self,
        urls: impl IntoIterator<Item = (&'a str, &'a str)>,
        errors: &mut Vec<FieldError>,
    ) {
        for (field, url) in urls {
            if errors.iter().any(|e| e.field == field) {
                continue;
            }
            if let Err(refusal) = self.policy.check_url(url) {
                errors.push(FieldError::new(field, refusal.to_string()));
            }
        }
    }

    /// A client builder that resolves, redirects and proxies only as the policy allows.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let redirects = self.clone();
        reqwest::Client::builder()
            // A proxy from the environment would resolve and connect on our behalf,
            // past the resolver below.
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: self.policy.clone(),
                inner: self.resolver.clone(),
            }))
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

/// More redirect hops than [`MAX_REDIRECTS`].
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
pub struct TooManyRedirects;

/// Resolves through `inner`, then keeps only the addresses the policy allows; refuses
/// when none remain, before any connection is attempted.
struct PolicyResolver {
    policy: Arc<EgressPolicy>,
    inner: Arc<dyn Resolve>,
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
struct SystemResolver;

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
        assert_eq!(cli.egress.policy(), EgressPolicy::default());
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
        let egress = Egress::new(EgressPolicy::parse("openmoney.md", "").unwrap());
        let ok = |u: &str| egress.check_url(&url::Url::parse(u).unwrap());
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
        let egress = Egress::new(EgressPolicy::default());
        let mut errors = vec![FieldError::new("spec.apiUrl", "must be an http(s) URL")];
        egress.check_spec_urls(
            [
                ("spec.baseUrl", "http://169.254.169.254"),
                ("spec.apiUrl", "not a url"),
            ],
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.apiUrl", "spec.baseUrl"]);
        assert!(errors[1].message.contains("SCRAPER_ALLOWED_HOSTS"));
    }
}

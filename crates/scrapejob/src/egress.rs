//! Where a run may connect: the settings of the egress policy that scrape runs follow
//! (`SCRAPER_ALLOWED_HOSTS`, `SCRAPER_ALLOWED_NETWORKS`), read the same way by the scraper,
//! the operator (which passes them on to its runs) and the app (which checks specs against
//! them). The policy itself is [`gleaner_egress::EgressPolicy`]: a spec's hosts must be
//! listed, and the networks only widen where those hosts may resolve.

use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy, SettingError};

use crate::FieldError;
use crate::spec::ScrapeJobSpec;

/// Environment variable holding the hosts runs may fetch from.
pub const ALLOWED_HOSTS_ENV: &str = "SCRAPER_ALLOWED_HOSTS";
/// Environment variable holding the non-public networks runs may connect to.
pub const ALLOWED_NETWORKS_ENV: &str = "SCRAPER_ALLOWED_NETWORKS";
/// Hosts allowed when `SCRAPER_ALLOWED_HOSTS` is not set.
pub const DEFAULT_ALLOWED_HOSTS: &str = "openmoney.md,api.openmoney.md";
/// Networks allowed when `SCRAPER_ALLOWED_NETWORKS` is not set: none.
pub const DEFAULT_ALLOWED_NETWORKS: &str = "";
/// What the local stack (`make up`) and the tests allow: `127.0.0.1` and `localhost` on
/// any port...
pub const LOCAL_ALLOWED_HOSTS: &str = "127.0.0.1,localhost";
/// ... with loopback addresses reachable.
pub const LOCAL_ALLOWED_NETWORKS: &str = "127.0.0.0/8";

/// Parses `SCRAPER_ALLOWED_HOSTS`.
pub fn allowed_hosts(list: &str) -> Result<AllowedHosts, SettingError> {
    AllowedHosts::parse(ALLOWED_HOSTS_ENV, list)
}

/// Parses `SCRAPER_ALLOWED_NETWORKS`.
pub fn allowed_networks(list: &str) -> Result<AllowedNetworks, SettingError> {
    AllowedNetworks::parse(ALLOWED_NETWORKS_ENV, list)
}

/// The policy of runs from the two settings' values.
pub fn policy(hosts: &str, networks: &str) -> Result<EgressPolicy, SettingError> {
    Ok(EgressPolicy::new(
        allowed_hosts(hosts)?,
        allowed_networks(networks)?,
    ))
}

/// The policy when neither setting is set: openmoney.md and api.openmoney.md, no
/// non-public network.
pub fn default_policy() -> EgressPolicy {
    policy(DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS).unwrap_or_else(|_| deny_all())
}

/// The local stack's policy ([`LOCAL_ALLOWED_HOSTS`], [`LOCAL_ALLOWED_NETWORKS`]).
pub fn local_policy() -> EgressPolicy {
    policy(LOCAL_ALLOWED_HOSTS, LOCAL_ALLOWED_NETWORKS).unwrap_or_else(|_| deny_all())
}

/// A policy of runs that allows nothing.
pub fn deny_all() -> EgressPolicy {
    EgressPolicy::new(
        AllowedHosts::none(ALLOWED_HOSTS_ENV),
        AllowedNetworks::none(ALLOWED_NETWORKS_ENV),
    )
}

/// Field errors (`spec.baseUrl`, `spec.apiUrl`) for the spec's source URLs that `policy`
/// refuses. A URL that does not parse is left to [`ScrapeJobSpec::validate`], which names it.
pub fn check_spec(policy: &EgressPolicy, spec: &ScrapeJobSpec) -> Vec<FieldError> {
    [
        ("spec.baseUrl", spec.base_source_url()),
        ("spec.apiUrl", spec.api_source_url()),
    ]
    .into_iter()
    .filter_map(|(field, url)| {
        let refusal = policy.check(&url?).err()?;
        Some(FieldError::new(field, refusal.to_string()))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Targets;

    fn spec(base_url: &str, api_url: &str) -> ScrapeJobSpec {
        let mut spec = ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: None,
        });
        spec.base_url = base_url.into();
        spec.api_url = api_url.into();
        spec
    }

    fn fields(policy: &EgressPolicy, spec: &ScrapeJobSpec) -> Vec<String> {
        check_spec(policy, spec)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_default_allows_openmoney_only() {
        let p = default_policy();
        assert!(
            fields(
                &p,
                &spec("https://openmoney.md", "https://api.openmoney.md/")
            )
            .is_empty()
        );
        assert_eq!(
            fields(&p, &spec("http://169.254.169.254", "http://localhost:8080")),
            ["spec.baseUrl", "spec.apiUrl"]
        );
        assert!(p.check_ip("127.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn the_local_stack_allows_its_names_not_every_loopback_address() {
        let p = local_policy();
        assert!(
            fields(
                &p,
                &spec("http://127.0.0.1:8090/", "http://localhost:8090/")
            )
            .is_empty()
        );
        let errors = check_spec(&p, &spec("http://127.0.0.2:9/", "http://127.0.0.1:9/api"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "spec.baseUrl");
        assert_eq!(
            errors[0].message,
            "host 127.0.0.2:9 is not allowed (SCRAPER_ALLOWED_HOSTS)"
        );
    }

    #[test]
    fn malformed_settings_name_the_setting() {
        let e = policy("openmoney.md,bad host", "").unwrap_err();
        assert!(e.to_string().starts_with("SCRAPER_ALLOWED_HOSTS: "), "{e}");
        let e = policy("openmoney.md", "10.0.0.1/8").unwrap_err();
        assert_eq!(e.setting, ALLOWED_NETWORKS_ENV);
        // A URL that does not parse is the spec validation's to report.
        assert!(check_spec(&deny_all(), &spec("not a url", "ftp://x")).is_empty());
        let refused = check_spec(
            &policy("", "").unwrap(),
            &spec("https://openmoney.md", "https://openmoney.md"),
        );
        assert_eq!(
            refused[0].message,
            "host openmoney.md:443 is not allowed (SCRAPER_ALLOWED_HOSTS)"
        );
    }
}

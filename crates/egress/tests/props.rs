//! Property tests of the settings and the policy: never a panic, and only what is allowed
//! passes, whatever the spelling.

use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy, SourceUrl, Url};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// 256 cases; failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config() -> Config {
    Config {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..Config::default()
    }
}

fn openmoney_only() -> EgressPolicy {
    EgressPolicy::new(
        AllowedHosts::parse("HOSTS", "openmoney.md,api.openmoney.md").expect("a valid list"),
        AllowedNetworks::none("NETWORKS"),
    )
}

fn is_openmoney(url: &Url) -> bool {
    matches!(
        url.host_str().map(|h| h.strip_suffix('.').unwrap_or(h)),
        Some("openmoney.md" | "api.openmoney.md")
    )
}

proptest! {
    #![proptest_config(config())]

    /// A network that parses prints as a network that parses to itself, and holds its
    /// own address.
    #[test]
    fn networks_parse_or_are_refused(s in prop_oneof![
        any::<String>(),
        "[0-9a-f:.]{0,20}(/[0-9+]{0,4})?",
        (any::<u32>(), 0u8..40).prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv4Addr::from(a))),
        (any::<u128>(), 0u8..140).prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv6Addr::from(a))),
    ]) {
        if let Ok(list) = AllowedNetworks::parse("NETWORKS", &s) {
            for net in list.networks() {
                let printed = net.to_string();
                let again = AllowedNetworks::parse("NETWORKS", &printed);
                prop_assert_eq!(again.map(|l| l.networks().to_vec()), Ok(vec![*net]));
                prop_assert!(list.contains(net.addr()));
            }
        }
    }

    /// Any configured URL against a policy of the two openmoney.md hosts: allowed only
    /// for them, and never with user info.
    #[test]
    fn only_allowed_hosts_pass_the_check(url in prop_oneof![
        any::<String>(),
        "(https?|HTTP|ftp)://[a-zA-Z0-9.@:%\\[\\]_-]{0,30}[/?#\\\\]?[ -~]{0,10}",
        "https?://([a-z]{0,4}\\.)?openmoney\\.md\\.?(:[0-9]{0,6})?[/?#@\\\\]?[ -~]{0,10}",
    ]) {
        let policy = openmoney_only();
        if let Ok(source) = SourceUrl::parse(&url)
            && policy.check(&source).is_ok()
        {
            prop_assert!(is_openmoney(source.url()), "{:?}", url);
            // As written, too: the text between `://` and the port or path names the host.
            let rest = url.split_once("://").expect("an allowed URL has a scheme").1;
            let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
            let host = authority.split(':').next().unwrap_or_default().to_ascii_lowercase();
            let host = host.strip_suffix('.').unwrap_or(&host);
            prop_assert!(host == "openmoney.md" || host == "api.openmoney.md", "{:?}", url);
            prop_assert!(!authority.contains('@'));
        }
        if let Ok(request) = Url::parse(&url)
            && policy.check_url(&request).is_ok()
        {
            prop_assert!(is_openmoney(&request), "{:?}", url);
        }
    }
}

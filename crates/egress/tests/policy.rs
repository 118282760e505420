//! The policy as its users apply it: configured URLs, request URLs and connect-time addresses.

use std::net::IpAddr;

use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy, Refusal, SourceUrl, Url};

const HOSTS: &str = "TEST_ALLOWED_HOSTS";
const NETWORKS: &str = "TEST_ALLOWED_NETWORKS";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy(hosts: &str, networks: &str) -> EgressPolicy {
    EgressPolicy::new(
        AllowedHosts::parse(HOSTS, hosts).unwrap(),
        AllowedNetworks::parse(NETWORKS, networks).unwrap(),
    )
}

/// A configured URL: parsed as a source URL, then checked.
fn check(p: &EgressPolicy, url: &str) -> Result<(), Refusal> {
    let url = SourceUrl::parse(url).map_err(|e| Refusal::InvalidUrl(e.to_string()))?;
    p.check(&url)
}

/// A URL a request goes to.
fn check_request(p: &EgressPolicy, url: &str) -> Result<(), Refusal> {
    p.check_url(&Url::parse(url).unwrap())
}

fn address_refused(addr: &str) -> Result<(), Refusal> {
    Err(Refusal::AddressNotAllowed {
        ip: ip(addr),
        setting: NETWORKS,
    })
}

fn host_refused(host: &str) -> Result<(), Refusal> {
    Err(Refusal::HostNotAllowed {
        host: host.into(),
        setting: HOSTS,
    })
}

#[test]
fn connect_time_check_allows_public_and_allowed_networks_only() {
    let p = policy("example.test", "127.0.0.0/8, fd00::/8");
    assert_eq!(p.check_ip(ip("93.184.216.34")), Ok(()));
    assert_eq!(p.check_ip(ip("127.0.0.1")), Ok(()));
    assert_eq!(p.check_ip(ip("::ffff:127.0.0.1")), Ok(()));
    assert_eq!(p.check_ip(ip("fd00:ec2::254")), Ok(()));
    assert_eq!(
        p.check_ip(ip("169.254.169.254")),
        address_refused("169.254.169.254")
    );
    // The IPv4-mapped form is judged as the IPv4 address it is.
    assert_eq!(
        p.check_ip(ip("::ffff:10.0.0.1")),
        address_refused("10.0.0.1")
    );
    assert!(p.check_ip(ip("::1")).is_err());
    assert!(policy("", "").check_ip(ip("127.0.0.1")).is_err());
}

#[test]
fn listed_hosts_only_whatever_the_spelling_of_the_name() {
    let p = policy("openmoney.md,api.openmoney.md", "");
    assert_eq!(check(&p, "https://openmoney.md"), Ok(()));
    assert_eq!(check(&p, "https://api.openmoney.md/"), Ok(()));
    assert_eq!(check(&p, "https://API.OpenMoney.MD./x"), Ok(()));
    assert_eq!(
        check(&p, "https://evil.example"),
        host_refused("evil.example:443")
    );
    assert!(check(&p, "https://openmoney.md.evil.example").is_err());
    assert!(check(&p, "http://169.254.169.254/latest/meta-data").is_err());
    assert!(check(&p, "http://localhost:8080").is_err());
    assert!(p.check_ip(ip("127.0.0.1")).is_err());
    assert!(p.networks().networks().is_empty());
}

#[test]
fn spec_check_refuses_non_public_ip_literals_outside_allowed_networks() {
    // Listing an address as a host is not enough: it must be in an allowed network too.
    let p = policy("127.0.0.1,10.0.0.1,[::1],169.254.169.254", "127.0.0.0/8");
    assert_eq!(check(&p, "http://127.0.0.1:8090/"), Ok(()));
    assert_eq!(check(&p, "http://10.0.0.1/"), address_refused("10.0.0.1"));
    assert!(check(&p, "http://169.254.169.254/").is_err());
    assert!(check(&p, "http://[::1]:8080/").is_err());
    // A public literal needs only the host entry.
    let p = policy("93.184.216.34", "");
    assert_eq!(check(&p, "http://93.184.216.34/"), Ok(()));
}

#[test]
fn an_address_in_an_allowed_network_is_not_an_allowed_host_unless_listed() {
    // The local stack's settings: the networks only widen where allowed names may resolve.
    let p = policy("127.0.0.1,localhost", "127.0.0.0/8");
    assert_eq!(
        check(&p, "http://127.0.0.2:9/"),
        host_refused("127.0.0.2:9")
    );
    assert_eq!(
        check_request(&p, "http://127.0.0.2:9/x"),
        host_refused("127.0.0.2:9")
    );
    assert_eq!(check(&p, "http://127.0.0.1:9/"), Ok(()));
    assert_eq!(check(&p, "http://localhost:9/"), Ok(()));
    // ... while a listed name may still resolve into the network at connect time.
    assert_eq!(p.check_ip(ip("127.0.0.2")), Ok(()));
}

#[test]
fn ports_restrict_when_given() {
    let p = policy("localhost:8090,127.0.0.1,[::1]:9000", "127.0.0.0/8,::1");
    assert_eq!(check(&p, "http://localhost:8090/"), Ok(()));
    assert!(check(&p, "http://localhost:8091/").is_err());
    assert!(check(&p, "http://localhost/").is_err());
    assert_eq!(check(&p, "http://127.0.0.1:1/"), Ok(()));
    assert_eq!(check(&p, "http://127.0.0.1/"), Ok(()));
    assert_eq!(check(&p, "http://[::1]:9000/"), Ok(()));
    assert!(check(&p, "http://[::1]:9001/").is_err());
    let p = policy("openmoney.md:443", "");
    assert_eq!(check(&p, "https://openmoney.md/"), Ok(()));
    assert!(check(&p, "http://openmoney.md/").is_err());
}

#[test]
fn url_tricks_are_refused_not_interpreted() {
    let p = policy("openmoney.md", "");
    for url in [
        "https://openmoney.md@169.254.169.254/",
        "https://user:pw@openmoney.md/",
        "https://169.254.169.254\\@openmoney.md/",
        "https://openmoney.md%2e/",
        "https://open%6doney.md/",
        "https://openmoney.md:0/",
        "https://openmoney.md:99999/",
        "https://openmoney.md:/",
        "https:///openmoney.md",
        "ftp://openmoney.md/",
        "openmoney.md",
        "https://[::1/",
        "https://0x7f.1/",
        "https://2130706433/",
    ] {
        assert!(check(&p, url).is_err(), "{url} must be refused");
    }
    // A fragment or query after the host of a request does not change the host.
    assert_eq!(check_request(&p, "https://openmoney.md#x"), Ok(()));
    assert_eq!(check_request(&p, "https://openmoney.md?x=1"), Ok(()));
}

#[test]
fn request_urls_are_checked_as_parsed() {
    let p = policy("openmoney.md", "");
    assert_eq!(check_request(&p, "https://openmoney.md/x?y#z"), Ok(()));
    assert_eq!(check_request(&p, "https://OPENMONEY.md/"), Ok(()));
    assert!(check_request(&p, "https://api.openmoney.md/").is_err());
    assert!(check_request(&p, "http://169.254.169.254/").is_err());
    // Other spellings of an address are the address once parsed.
    assert_eq!(
        check_request(&p, "http://0x7f.1/"),
        host_refused("127.0.0.1:80")
    );
    assert!(check_request(&p, "http://2130706433/").is_err());
    assert!(check_request(&p, "http://[::ffff:127.0.0.1]/").is_err());
    assert!(check_request(&p, "file:///etc/passwd").is_err());
    assert!(check_request(&p, "https://user@openmoney.md/").is_err());
}

#[test]
fn refusals_name_the_setting_that_would_allow() {
    let p = policy("", "");
    let refusal = check(&p, "https://openmoney.md").unwrap_err();
    assert_eq!(Err(refusal.clone()), host_refused("openmoney.md:443"));
    assert_eq!(
        refusal.to_string(),
        "host openmoney.md:443 is not allowed (TEST_ALLOWED_HOSTS)"
    );
    let p = policy("127.0.0.1", "");
    assert!(
        check(&p, "http://127.0.0.1/")
            .unwrap_err()
            .to_string()
            .ends_with("(TEST_ALLOWED_NETWORKS)")
    );
}

#[test]
fn a_policy_of_any_public_host_over_https_only() {
    // As webhook targets are checked: no host list, https unless a setting allows http.
    let networks = AllowedNetworks::parse("HOOK_NETWORKS", "").unwrap();
    let p = EgressPolicy::any_host(networks.clone()).https_only("HOOK_ALLOW_HTTP");
    assert_eq!(check(&p, "https://hooks.example.com/in"), Ok(()));
    assert_eq!(check(&p, "https://93.184.216.34/"), Ok(()));
    assert_eq!(
        check(&p, "http://hooks.example.com/in"),
        Err(Refusal::HttpNotAllowed {
            setting: "HOOK_ALLOW_HTTP"
        })
    );
    assert_eq!(
        check(&p, "https://10.1.2.3/"),
        Err(Refusal::AddressNotAllowed {
            ip: ip("10.1.2.3"),
            setting: "HOOK_NETWORKS"
        })
    );
    let local = AllowedNetworks::parse("HOOK_NETWORKS", "127.0.0.0/8").unwrap();
    let p = EgressPolicy::any_host(local);
    assert_eq!(check(&p, "http://127.0.0.1:9/in"), Ok(()));
    assert!(p.hosts().is_none());
    assert!(check(&EgressPolicy::any_host(networks), "http://127.0.0.1:9/").is_err());
}

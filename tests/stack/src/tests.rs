use super::*;

fn wiring(tuning: Tuning) -> Wiring {
    let ports = [
        (Service::Identity, 1001),
        (Service::Scraper, 1002),
        (Service::App, 1003),
        (Service::Gateway, 1004),
        (Service::DemoSite, 1005),
    ];
    Wiring {
        host: "127.0.0.1".into(),
        ports: ports.into_iter().collect(),
        redis_url: "redis://127.0.0.1:6000".into(),
        databases: Service::WITH_DATABASE
            .iter()
            .map(|s| (*s, format!("postgres://pg/{}", s.name())))
            .collect(),
        signing_key: "/keys/signing.pem".into(),
        admin: Some(Admin {
            email: "admin@example.test".into(),
            password: "a passphrase".into(),
        }),
        demo: Demo {
            companies: 150,
            seed: 42,
        },
        tuning,
    }
}

#[test]
fn every_service_is_wired_to_what_it_talks_to() {
    let w = wiring(Tuning::local());
    let identity = w.env(Service::Identity);
    assert_eq!(identity.get("LISTEN_ADDR"), Some("127.0.0.1:1001"));
    assert_eq!(identity.get("DATABASE_URL"), Some("postgres://pg/identity"));
    assert_eq!(identity.get("JWKS_URL"), None);
    assert_eq!(
        identity.get("GLEANER_ADMIN_EMAIL"),
        Some("admin@example.test")
    );
    let jwks = Some("http://127.0.0.1:1001/.well-known/jwks.json");
    for s in [Service::Scraper, Service::App, Service::Gateway] {
        assert_eq!(w.env(s).get("JWKS_URL"), jwks, "{s:?}");
        assert_eq!(w.env(s).get("REDIS_URL"), Some("redis://127.0.0.1:6000"));
    }
    let gateway = w.env(Service::Gateway);
    assert_eq!(gateway.get("APP_URL"), Some("http://127.0.0.1:1003"));
    assert_eq!(gateway.get("DATABASE_URL"), None);
    assert_eq!(gateway.get("GLEANER_ADMIN_PASSWORD"), None);
    let app = w.env(Service::App);
    assert_eq!(app.get("SCRAPER_URL"), Some("http://127.0.0.1:1002"));
    assert_eq!(app.get("GLEANER_ADMIN_PASSWORD"), Some("a passphrase"));
    let demo = w.env(Service::DemoSite);
    assert_eq!(demo.get("DEMO_COMPANIES"), Some("150"));
    assert_eq!(demo.get("REDIS_URL"), None);
}

#[test]
fn the_scraper_and_the_app_allow_only_loopback_sites() {
    for tuning in [Tuning::local(), Tuning::images(), Tuning::fuzzing()] {
        let w = wiring(tuning);
        for s in [Service::Scraper, Service::App] {
            let env = w.env(s);
            assert_eq!(
                env.get("SCRAPER_ALLOWED_HOSTS"),
                Some("127.0.0.1,localhost")
            );
            assert_eq!(env.get("SCRAPER_ALLOWED_NETWORKS"), Some("127.0.0.0/8"));
        }
        assert_eq!(w.env(Service::Gateway).get("SCRAPER_ALLOWED_HOSTS"), None);
    }
}

#[test]
fn the_local_stacks_let_the_app_send_webhooks_to_loopback_over_http() {
    for tuning in [Tuning::local(), Tuning::end_to_end(), Tuning::fuzzing()] {
        let app = wiring(tuning).env(Service::App);
        assert_eq!(app.get("WEBHOOK_ALLOW_HTTP"), Some("true"));
        assert_eq!(app.get("WEBHOOK_ALLOWED_NETWORKS"), Some("127.0.0.0/8"));
    }
    assert_eq!(
        wiring(Tuning::fuzzing())
            .env(Service::App)
            .get("WEBHOOK_ALLOWED_HOSTS"),
        Some("127.0.0.1,localhost"),
        "the fuzzing's webhooks stay on this machine"
    );
    assert_eq!(
        wiring(Tuning::local())
            .env(Service::App)
            .get("WEBHOOK_ALLOWED_HOSTS"),
        None
    );
    let local = wiring(Tuning::local());
    for s in [Service::Identity, Service::Scraper, Service::Gateway] {
        assert_eq!(local.env(s).get("WEBHOOK_ALLOW_HTTP"), None, "{s:?}");
    }
}

#[test]
fn only_the_services_behind_the_gateway_trust_its_hop() {
    let local = wiring(Tuning::local());
    for s in [Service::Identity, Service::Scraper, Service::App] {
        assert_eq!(local.env(s).get("TRUSTED_PROXIES"), Some("1"), "{s:?}");
    }
    assert_eq!(local.env(Service::Gateway).get("TRUSTED_PROXIES"), None);
    let load = wiring(Tuning::load(10, 20));
    let gateway = load.env(Service::Gateway);
    assert_eq!(gateway.get("TRUSTED_PROXIES"), Some("1"));
    assert_eq!(gateway.get("RATE_LIMIT_PER_SECOND"), Some("10"));
    assert_eq!(gateway.get("RATE_LIMIT_BURST"), Some("20"));
    let images = wiring(Tuning::images());
    assert_eq!(images.env(Service::Identity).get("TRUSTED_PROXIES"), None);
    assert_eq!(
        images.env(Service::Identity).get("GLEANER_ENV"),
        Some("production")
    );
}

#[test]
fn tunings_lift_what_a_tool_would_spend_its_requests_on() {
    let fuzz = wiring(Tuning::fuzzing());
    let identity = fuzz.env(Service::Identity);
    assert_eq!(identity.get("BCRYPT_COST"), Some("4"));
    assert_eq!(identity.get("LOGIN_FAILURES_PER_ACCOUNT"), Some("1000000"));
    assert_eq!(
        fuzz.env(Service::App).get("APP_JOBS_BACKEND"),
        Some("database")
    );
    let local = wiring(Tuning::local());
    assert_eq!(local.env(Service::Identity).get("BCRYPT_COST"), None);
    assert_eq!(local.env(Service::App).get("APP_JOBS_BACKEND"), None);
}

#[test]
fn a_setting_set_twice_keeps_its_place_and_the_last_value() {
    let mut s = Settings::default();
    s.set("A", "1").set("B", "2").set("A", "3");
    assert_eq!(s.iter().collect::<Vec<_>>(), [("A", "3"), ("B", "2")]);
}

#[test]
fn the_demo_scrape_covers_every_list_page() {
    let spec = wiring(Tuning::local()).demo_scrape().to_value();
    assert_eq!(spec["baseUrl"], "http://127.0.0.1:1005");
    assert_eq!(spec["targets"]["listPages"]["to"], 2);
    assert!(spec.get("respectRobotsTxt").is_none());
}

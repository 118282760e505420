//! How the Gleaner stack is wired, written once.
//!
//! The stack is identity, the scraper, the app and the gateway in front of them, on one
//! PostgreSQL server (a database per service that owns one) and one Redis, with the demo
//! site as the registry the scraper reads. [`Wiring`] says, for each [`Service`], which
//! binary runs with which arguments on which port, and which settings it gets: who it
//! talks to, where its data lives, what it may fetch, whom it trusts. A [`Tuning`] names
//! what differs between the places that start a stack (`make up`, the end-to-end tests,
//! the API fuzzing, the load run, the image test) so that each of them is a choice made
//! here, not a copy of the settings.

use std::collections::BTreeMap;

use serde_json::json;

/// A process of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Accounts, logins and the token keys (JWKS).
    Identity,
    /// The registry's scraper and the company API.
    Scraper,
    /// Watchlists, notifications and scrape jobs.
    App,
    /// The edge: every client request goes through it.
    Gateway,
    /// A local stand-in for the registry's site.
    DemoSite,
}

impl Service {
    /// The platform's services in start order: identity first (the others fetch its
    /// keys), the gateway last (it proxies to the others).
    pub const PLATFORM: [Self; 4] = [Self::Identity, Self::Scraper, Self::App, Self::Gateway];
    /// The services that own a database, each its own on the one server.
    pub const WITH_DATABASE: [Self; 3] = [Self::Identity, Self::Scraper, Self::App];

    /// Its binary's name, which is also its image's and its log's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Scraper => "scraper",
            Self::App => "app",
            Self::Gateway => "gateway",
            Self::DemoSite => "demo-site",
        }
    }

    /// The cargo package that builds the binary.
    pub fn package(self) -> &'static str {
        match self {
            Self::Identity => "gleaner-identity",
            Self::Scraper => "gleaner-scraper",
            Self::App => "gleaner-app",
            Self::Gateway => "gleaner-gateway",
            Self::DemoSite => "gleaner-demo-site",
        }
    }

    /// The arguments that make the binary serve.
    pub fn serve_args(self) -> &'static [&'static str] {
        match self {
            Self::Identity | Self::Scraper | Self::App => &["serve"],
            Self::Gateway | Self::DemoSite => &[],
        }
    }

    /// Whether it owns a database (and has a `migrate` command for it).
    pub fn has_database(self) -> bool {
        Self::WITH_DATABASE.contains(&self)
    }

    /// The path that answers 2xx once it can serve: `/ready` checks its dependencies,
    /// the demo site has none and answers `/health`.
    pub fn ready_path(self) -> &'static str {
        match self {
            Self::DemoSite => "/health",
            _ => "/ready",
        }
    }

    /// The port `make up` gives it.
    pub fn local_port(self) -> u16 {
        match self {
            Self::Gateway => 8080,
            Self::Identity => 8081,
            Self::Scraper => 8082,
            Self::App => 8083,
            Self::DemoSite => 8090,
        }
    }

    /// The variable that moves its `make up` port (`GATEWAY_PORT`, ...).
    pub fn port_variable(self) -> &'static str {
        match self {
            Self::Gateway => "GATEWAY_PORT",
            Self::Identity => "IDENTITY_PORT",
            Self::Scraper => "SCRAPER_PORT",
            Self::App => "APP_PORT",
            Self::DemoSite => "DEMO_PORT",
        }
    }
}

/// Where the scraper (and the app, which checks a scrape job's hosts) may fetch from on a
/// local stack: the demo site and other loopback test sites only.
pub const LOCAL_EGRESS: [(&str, &str); 2] = [
    ("SCRAPER_ALLOWED_HOSTS", "127.0.0.1,localhost"),
    ("SCRAPER_ALLOWED_NETWORKS", "127.0.0.0/8"),
];

/// Where the app may send webhooks on a local stack: plain http, and receivers on
/// loopback (elsewhere webhook targets are https and public only).
pub const LOCAL_WEBHOOKS: [(&str, &str); 2] = [
    ("WEBHOOK_ALLOW_HTTP", "true"),
    ("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
];

/// Webhook targets named by anything but loopback refused at creation: the API fuzzing
/// creates webhooks from generated URLs and sends them test events, and no test sends
/// traffic off this machine.
pub const LOOPBACK_ONLY_WEBHOOKS: (&str, &str) = ("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,localhost");

/// The bootstrap admin account identity creates and the app knows.
#[derive(Clone, Debug)]
pub struct Admin {
    /// Its login.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// The demo site's registry.
#[derive(Clone, Copy, Debug)]
pub struct Demo {
    /// How many companies it serves.
    pub companies: u32,
    /// The seed of its generated registry.
    pub seed: u64,
}

impl Demo {
    /// List pages of the demo site's registry (100 companies a page).
    pub fn pages(self) -> u32 {
        self.companies.div_ceil(100)
    }
}

/// What differs between the places that start a stack.
#[derive(Clone, Debug, Default)]
pub struct Tuning {
    /// Identity, the scraper and the app sit behind the gateway, which appends its peer to
    /// `X-Forwarded-For`: each trusts that one hop to name the client.
    pub behind_gateway: bool,
    /// Cheap password hashing (`BCRYPT_COST=4`): a throwaway stack logs in a lot.
    pub fast_hashing: bool,
    /// Identity's per-address and per-account throttles lifted: a tool's requests all
    /// come from 127.0.0.1.
    pub throttles_lifted: bool,
    /// The app keeps scrape jobs in its database (no Kubernetes to look for).
    pub jobs_in_database: bool,
    /// The app sends webhooks to http receivers on loopback ([`LOCAL_WEBHOOKS`]).
    pub local_webhooks: bool,
    /// Webhook URLs may name loopback hosts only ([`LOOPBACK_ONLY_WEBHOOKS`]).
    pub loopback_only_webhooks: bool,
    /// No trace export (`OTEL_TRACES_EXPORTER=none`).
    pub no_traces: bool,
    /// Identity runs as in production (`GLEANER_ENV=production`).
    pub production: bool,
    /// How long an access token lives (`ACCESS_TOKEN_TTL`), when not the default.
    pub access_token_ttl: Option<String>,
    /// The gateway's rate limit per key: requests per second and burst.
    pub gateway_rate_limit: Option<(u32, u32)>,
    /// The gateway trusts one proxy in front of it (an ingress) to name the client.
    pub gateway_behind_proxy: bool,
    /// `LOG_FORMAT` of every service.
    pub log_format: String,
    /// `RUST_LOG` of every service.
    pub log_level: String,
}

impl Tuning {
    /// `make up`: the services behind the gateway, JSON logs at `info`.
    pub fn local() -> Self {
        Self {
            behind_gateway: true,
            local_webhooks: true,
            log_format: "json".into(),
            log_level: "info".into(),
            ..Self::default()
        }
    }

    /// The end-to-end tests: as `make up`, with cheap hashing and no trace export.
    pub fn end_to_end() -> Self {
        Self {
            fast_hashing: true,
            no_traces: true,
            ..Self::local()
        }
    }

    /// The API fuzzing: the generated requests reach the handlers instead of spending
    /// themselves on bcrypt or 429s (which stay documented and allowed).
    pub fn fuzzing() -> Self {
        Self {
            throttles_lifted: true,
            jobs_in_database: true,
            gateway_rate_limit: Some((100_000, 100_000)),
            loopback_only_webhooks: true,
            ..Self::end_to_end()
        }
    }

    /// The load run: the gateway's rate limits as configured, behind a simulated ingress;
    /// tokens that outlive a soak; quiet logs.
    pub fn load(rate: u32, burst: u32) -> Self {
        Self {
            throttles_lifted: true,
            jobs_in_database: true,
            access_token_ttl: Some("2h".into()),
            gateway_rate_limit: Some((rate, burst)),
            gateway_behind_proxy: true,
            log_level: "warn".into(),
            ..Self::end_to_end()
        }
    }

    /// The images run as the chart runs them: production settings, nothing lifted.
    pub fn images() -> Self {
        Self {
            production: true,
            log_format: "json".into(),
            log_level: "info".into(),
            ..Self::default()
        }
    }
}

/// One stack: where each service listens and what it is wired to.
#[derive(Clone, Debug)]
pub struct Wiring {
    /// The address every service listens on and is reached at.
    pub host: String,
    /// Each service's port.
    pub ports: BTreeMap<Service, u16>,
    /// The Redis every service shares.
    pub redis_url: String,
    /// Each database-owning service's database URL.
    pub databases: BTreeMap<Service, String>,
    /// Identity's signing key (a path as the service sees it).
    pub signing_key: String,
    /// The bootstrap admin, if the stack has one.
    pub admin: Option<Admin>,
    /// The demo site's registry.
    pub demo: Demo,
    /// What differs from one place that starts a stack to another.
    pub tuning: Tuning,
}

impl Wiring {
    /// `http://host:port` of a service.
    pub fn url(&self, service: Service) -> String {
        format!("http://{}:{}", self.host, self.port(service))
    }

    /// A service's port (0 when none was given).
    pub fn port(&self, service: Service) -> u16 {
        self.ports.get(&service).copied().unwrap_or(0)
    }

    /// Where the services fetch identity's token keys.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url(Service::Identity))
    }

    /// Every setting `service` gets, in the order a reader expects them.
    pub fn env(&self, service: Service) -> Settings {
        let t = &self.tuning;
        let mut s = Settings::default();
        s.set(
            "LISTEN_ADDR",
            format!("{}:{}", self.host, self.port(service)),
        );
        if !t.log_format.is_empty() {
            s.set("LOG_FORMAT", &t.log_format);
        }
        if !t.log_level.is_empty() {
            s.set("RUST_LOG", &t.log_level);
        }
        if t.no_traces {
            s.set("OTEL_TRACES_EXPORTER", "none");
        }
        if service == Service::DemoSite {
            s.set("DEMO_COMPANIES", self.demo.companies.to_string());
            s.set("DEMO_SEED", self.demo.seed.to_string());
            return s;
        }
        if let Some(db) = self.databases.get(&service) {
            s.set("DATABASE_URL", db);
        }
        s.set("REDIS_URL", &self.redis_url);
        if service != Service::Identity {
            s.set("JWKS_URL", self.jwks_url());
        }
        match service {
            Service::Identity => {
                s.set("JWT_SIGNING_KEY_FILE", &self.signing_key);
                if t.production {
                    s.set("GLEANER_ENV", "production");
                }
                if t.fast_hashing {
                    s.set("BCRYPT_COST", "4");
                }
                if let Some(ttl) = &t.access_token_ttl {
                    s.set("ACCESS_TOKEN_TTL", ttl);
                }
                if t.throttles_lifted {
                    for var in [
                        "REGISTRATIONS_PER_ADDRESS",
                        "LOGINS_PER_ADDRESS",
                        "LOGIN_FAILURES_PER_ADDRESS",
                        "LOGIN_FAILURES_PER_ACCOUNT",
                    ] {
                        s.set(var, "1000000");
                    }
                }
            }
            Service::Scraper => {
                s.extend(LOCAL_EGRESS);
            }
            Service::App => {
                s.set("SCRAPER_URL", self.url(Service::Scraper));
                s.set("IDENTITY_URL", self.url(Service::Identity));
                s.extend(LOCAL_EGRESS);
                if t.jobs_in_database {
                    s.set("APP_JOBS_BACKEND", "database");
                }
                if t.local_webhooks {
                    s.extend(LOCAL_WEBHOOKS);
                }
                if t.loopback_only_webhooks {
                    let (name, value) = LOOPBACK_ONLY_WEBHOOKS;
                    s.set(name, value);
                }
            }
            Service::Gateway => {
                s.set("IDENTITY_URL", self.url(Service::Identity));
                s.set("SCRAPER_URL", self.url(Service::Scraper));
                s.set("APP_URL", self.url(Service::App));
                if t.gateway_behind_proxy {
                    s.set("TRUSTED_PROXIES", "1");
                }
                if let Some((rate, burst)) = t.gateway_rate_limit {
                    s.set("RATE_LIMIT_PER_SECOND", rate.to_string());
                    s.set("RATE_LIMIT_BURST", burst.to_string());
                }
            }
            Service::DemoSite => {}
        }
        if matches!(service, Service::Identity | Service::App)
            && let Some(admin) = &self.admin
        {
            s.set("GLEANER_ADMIN_EMAIL", &admin.email);
            s.set("GLEANER_ADMIN_PASSWORD", &admin.password);
        }
        if t.behind_gateway && service != Service::Gateway {
            s.set("TRUSTED_PROXIES", "1");
        }
        s
    }

    /// The settings of a scrape run started as the operator's Job starts it
    /// (`scraper run`), for `spec`: the scraper's database, Redis and egress.
    pub fn run_env(&self, name: &str, spec: &ScrapeSpec) -> Settings {
        let mut s = Settings::default();
        if let Some(db) = self.databases.get(&Service::Scraper) {
            s.set("DATABASE_URL", db);
        }
        s.set("REDIS_URL", &self.redis_url);
        s.extend(LOCAL_EGRESS);
        s.set("SCRAPEJOB_NAME", name);
        s.set("SCRAPEJOB_SPEC", spec.to_json());
        if !self.tuning.log_level.is_empty() {
            s.set("RUST_LOG", &self.tuning.log_level);
        }
        s
    }

    /// A scrape of the whole demo site of this stack, as `make up`'s sample scrape and
    /// the load run's setup make it.
    pub fn demo_scrape(&self) -> ScrapeSpec {
        ScrapeSpec::list_pages(&self.url(Service::DemoSite), self.demo.pages())
    }
}

/// A scrape job's spec (the ScrapeJob resource's `spec`).
#[derive(Clone, Debug)]
pub struct ScrapeSpec {
    /// The site's base URL (HTML pages) and its JSON API's.
    pub site: String,
    /// What to fetch: `{"listPages": {"from", "to"}}` or `{"idnos": [...]}`.
    pub targets: serde_json::Value,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// The politeness limit, requests per second.
    pub requests_per_second: f64,
    /// Retries of a failed request.
    pub max_retries: u32,
    /// How long the run may take.
    pub timeout_seconds: u64,
    /// Whether robots.txt is obeyed (the default); `None` leaves it out.
    pub respect_robots_txt: Option<bool>,
}

impl ScrapeSpec {
    /// List pages 1 to `pages` of `site`, 8 at a time at 100 requests/s.
    pub fn list_pages(site: &str, pages: u32) -> Self {
        Self {
            site: site.to_owned(),
            targets: json!({"listPages": {"from": 1, "to": pages}}),
            concurrency: 8,
            requests_per_second: 100.0,
            max_retries: 3,
            timeout_seconds: 600,
            respect_robots_txt: None,
        }
    }

    /// The spec as JSON.
    pub fn to_value(&self) -> serde_json::Value {
        let mut spec = json!({
            "baseUrl": self.site,
            "apiUrl": self.site,
            "targets": self.targets,
            "concurrency": self.concurrency,
            "requestsPerSecond": self.requests_per_second,
            "maxRetries": self.max_retries,
            "timeoutSeconds": self.timeout_seconds,
        });
        if let (Some(obey), Some(map)) = (self.respect_robots_txt, spec.as_object_mut()) {
            map.insert("respectRobotsTxt".into(), obey.into());
        }
        spec
    }

    /// The spec as `SCRAPEJOB_SPEC` carries it.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

/// A process's environment settings, each variable once, in the order first set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings(Vec<(String, String)>);

impl Settings {
    /// Set `key`, replacing its value if it is there.
    pub fn set(&mut self, key: impl Into<String>, value: impl AsRef<str>) -> &mut Self {
        let key = key.into();
        let value = value.as_ref().to_owned();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.0.push((key, value)),
        }
        self
    }

    /// Set each of `pairs` (later ones win).
    pub fn extend<K: Into<String>, V: AsRef<str>>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        for (k, v) in pairs {
            self.set(k, v);
        }
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The settings as pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl IntoIterator for Settings {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests;

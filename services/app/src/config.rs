//! Settings, from flags or environment variables (listed in the README's Settings section).

use std::time::Duration;

use gleaner_common::settings::{
    AdminSettings, VerifierSettings, env, parse_duration, parse_http_url, parse_listen_addr,
};
use gleaner_common::telemetry::LogSettings;
use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy};
use gleaner_scrapejob::egress::{
    self as run_egress, DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS,
};
use secrecy::SecretString;

/// Where scrape jobs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum JobsBackendKind {
    /// ScrapeJob resources when running in a cluster (`KUBERNETES_SERVICE_HOST` is set),
    /// else the database.
    #[default]
    Auto,
    /// Jobs in the app's database, runs started on the scraper, schedules kept by the app.
    Database,
    /// ScrapeJob resources; the operator runs and schedules them.
    Kubernetes,
}

/// App service settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "0.0.0.0:8083", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 10)]
    pub database_max_connections: u32,
    /// Redis URL (events, token revocations).
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: SecretString,
    /// How access tokens are verified (`JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`).
    #[command(flatten)]
    pub verifier: VerifierSettings,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// The scraper service's root URL (runs are started and read there).
    #[arg(long, env = env::SCRAPER_URL, value_parser = parse_http_url)]
    pub scraper_url: String,
    /// Hosts scrape runs may fetch from (the scraper's and the operator's setting): a job
    /// whose `baseUrl` or `apiUrl` names another host is refused when created or changed.
    #[arg(long, env = env::SCRAPER_ALLOWED_HOSTS, default_value = DEFAULT_ALLOWED_HOSTS, value_parser = run_egress::allowed_hosts)]
    pub scraper_allowed_hosts: AllowedHosts,
    /// Non-public networks (CIDR) scrape runs may connect to (the scraper's and the
    /// operator's setting): a job naming a non-public address outside them is refused.
    #[arg(long, env = env::SCRAPER_ALLOWED_NETWORKS, default_value = DEFAULT_ALLOWED_NETWORKS, value_parser = run_egress::allowed_networks)]
    pub scraper_allowed_networks: AllowedNetworks,
    /// The identity service's root URL (the scheduler logs in there).
    #[arg(long, env = env::IDENTITY_URL, value_parser = parse_http_url)]
    pub identity_url: Option<String>,
    /// The account the scheduler acts as when it starts and follows runs (`GLEANER_ADMIN_*`).
    #[command(flatten)]
    pub admin: AdminSettings,
    /// Where scrape jobs are kept: auto, database or kubernetes.
    #[arg(long, env = "APP_JOBS_BACKEND", value_enum, default_value_t = JobsBackendKind::Auto)]
    pub jobs_backend: JobsBackendKind,
    /// Namespace of the ScrapeJob resources (default: the app's own namespace).
    #[arg(long, env = "SCRAPEJOBS_NAMESPACE")]
    pub scrapejobs_namespace: Option<String>,
    /// Stream the scraper's and identity's events are read from.
    #[arg(long, env = env::EVENTS_STREAM, default_value = gleaner_common::outbox::DEFAULT_STREAM)]
    pub events_stream: String,
    /// Consumer group of the app's replicas on the events stream.
    #[arg(long, env = "EVENTS_CONSUMER_GROUP", default_value = "app")]
    pub consumer_group: String,
    /// This replica's consumer name (default: the host name, else a random one).
    #[arg(long, env = "EVENTS_CONSUMER_NAME")]
    pub consumer_name: Option<String>,
    /// Pending events idle this long belong to a dead consumer and are claimed.
    #[arg(long, env = "EVENTS_CLAIM_IDLE", default_value = "60s", value_parser = parse_duration)]
    pub claim_idle: Duration,
    /// How often the scheduler looks at jobs and runs (database backend).
    #[arg(long, env = "SCHEDULER_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub scheduler_interval: Duration,
    /// How often run progress is read for Server-Sent Events.
    #[arg(long, env = "RUN_EVENTS_POLL", default_value = "1s", value_parser = parse_duration)]
    pub run_events_poll: Duration,
    /// Where webhooks may be sent and how the delivery worker runs (`WEBHOOK_*`).
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// `WEBHOOK_ALLOWED_NETWORKS`: non-public networks webhook targets may reach.
pub const WEBHOOK_ALLOWED_NETWORKS: &str = "WEBHOOK_ALLOWED_NETWORKS";
/// `WEBHOOK_ALLOWED_HOSTS`: the only hosts webhook targets may name (empty: any host).
pub const WEBHOOK_ALLOWED_HOSTS: &str = "WEBHOOK_ALLOWED_HOSTS";
/// `WEBHOOK_ALLOW_HTTP`: whether plain `http` webhook URLs are allowed.
pub const WEBHOOK_ALLOW_HTTP: &str = "WEBHOOK_ALLOW_HTTP";
/// `WEBHOOK_CONCURRENCY`: deliveries one replica sends at once.
pub const WEBHOOK_CONCURRENCY: &str = "WEBHOOK_CONCURRENCY";
/// `WEBHOOK_POLL_INTERVAL`: how often the delivery worker looks for due deliveries.
pub const WEBHOOK_POLL_INTERVAL: &str = "WEBHOOK_POLL_INTERVAL";

fn webhook_networks(list: &str) -> Result<AllowedNetworks, String> {
    AllowedNetworks::parse(WEBHOOK_ALLOWED_NETWORKS, list).map_err(|e| e.to_string())
}

/// `WEBHOOK_ALLOWED_HOSTS`: `None` (an empty list) is any host, else only those listed.
#[derive(Debug, Clone, Default)]
pub struct WebhookHosts(pub Option<AllowedHosts>);

fn webhook_hosts(list: &str) -> Result<WebhookHosts, String> {
    if list.trim().is_empty() {
        return Ok(WebhookHosts(None));
    }
    AllowedHosts::parse(WEBHOOK_ALLOWED_HOSTS, list)
        .map(|hosts| WebhookHosts(Some(hosts)))
        .map_err(|e| e.to_string())
}

fn concurrency(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{WEBHOOK_CONCURRENCY}: {s:?} is not a number from 1 to 1000"
        )),
    }
}

/// Webhook settings: where deliveries may go, and the delivery worker's pace.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookSettings {
    /// Non-public networks (CIDR, comma-separated) webhook targets may connect to; none
    /// by default, so loopback, private, link-local and metadata addresses are refused.
    #[arg(long = "webhook-allowed-networks", env = WEBHOOK_ALLOWED_NETWORKS, default_value = "", value_parser = webhook_networks)]
    pub allowed_networks: AllowedNetworks,
    /// The only hosts (names or addresses, optionally `:port`, comma-separated) webhook
    /// URLs may name; empty (the default): any host.
    #[arg(long = "webhook-allowed-hosts", env = WEBHOOK_ALLOWED_HOSTS, default_value = "", value_parser = webhook_hosts)]
    pub allowed_hosts: WebhookHosts,
    /// Allow plain `http` webhook URLs (default: `https` only).
    #[arg(long = "webhook-allow-http", env = WEBHOOK_ALLOW_HTTP, default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_http: bool,
    /// Deliveries one replica sends at once.
    #[arg(long = "webhook-concurrency", env = WEBHOOK_CONCURRENCY, default_value = "16", value_parser = concurrency)]
    pub concurrency: usize,
    /// How often the delivery worker looks for due deliveries.
    #[arg(long = "webhook-poll-interval", env = WEBHOOK_POLL_INTERVAL, default_value = "250ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

impl WebhookSettings {
    /// What `make up` and the tests use: `http` allowed, and `127.0.0.0/8` reachable.
    pub fn local() -> Self {
        Self {
            allowed_networks: webhook_networks("127.0.0.0/8")
                .unwrap_or_else(|_| AllowedNetworks::none(WEBHOOK_ALLOWED_NETWORKS)),
            allowed_hosts: WebhookHosts(None),
            allow_http: true,
            concurrency: 16,
            poll_interval: Duration::from_millis(250),
        }
    }

    /// Where webhook deliveries may go: any host, or only those of
    /// `WEBHOOK_ALLOWED_HOSTS`; non-public addresses only inside the allowed networks;
    /// `https` only unless `WEBHOOK_ALLOW_HTTP=true`.
    pub fn egress(&self) -> EgressPolicy {
        let networks = self.allowed_networks.clone();
        let policy = match &self.allowed_hosts.0 {
            None => EgressPolicy::any_host(networks),
            Some(hosts) => EgressPolicy::new(hosts.clone(), networks),
        };
        if self.allow_http {
            policy
        } else {
            policy.https_only(WEBHOOK_ALLOW_HTTP)
        }
    }
}

impl Settings {
    /// Whether jobs are ScrapeJob resources, from the setting or the environment.
    pub fn uses_kubernetes(&self) -> bool {
        match self.jobs_backend {
            JobsBackendKind::Kubernetes => true,
            JobsBackendKind::Database => false,
            JobsBackendKind::Auto => std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        }
    }

    /// Where scrape runs may connect: what a job's source URLs are checked against.
    pub fn scraper_egress(&self) -> EgressPolicy {
        EgressPolicy::new(
            self.scraper_allowed_hosts.clone(),
            self.scraper_allowed_networks.clone(),
        )
    }

    /// The consumer name of this replica.
    pub fn consumer(&self) -> String {
        self.consumer_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| format!("app-{}", uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn parse(extra: &[&str]) -> Result<Settings, clap::Error> {
        let mut args = vec![
            "app",
            "--database-url=postgres://db",
            "--redis-url=redis://redis",
            "--jwks-url=http://identity:8081/.well-known/jwks.json",
            "--scraper-url=http://scraper:8082/",
        ];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args).map(|cli| cli.settings)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = parse(&[]).expect("valid settings");
        assert_eq!(s.listen_addr, "0.0.0.0:8083");
        assert_eq!(s.scraper_url, "http://scraper:8082", "no trailing slash");
        assert_eq!(s.jobs_backend, JobsBackendKind::Auto);
        assert_eq!(s.events_stream, "gleaner.events");
        assert_eq!(s.consumer_group, "app");
        assert_eq!(s.claim_idle, Duration::from_secs(60));
        assert_eq!(s.scheduler_interval, Duration::from_secs(5));
        assert!(s.identity_url.is_none() && s.admin.password.is_none());
        assert_eq!(s.scraper_egress(), run_egress::default_policy());
        assert!(!s.webhooks.allow_http && s.webhooks.allowed_networks.networks().is_empty());
        assert_eq!(s.webhooks.concurrency, 16);
        let policy = s.webhooks.egress();
        let url = |u: &str| gleaner_egress::Url::parse(u).expect("a URL");
        assert!(
            policy
                .check_url(&url("https://hooks.example.com/x"))
                .is_ok()
        );
        assert!(
            policy
                .check_url(&url("http://hooks.example.com/x"))
                .is_err()
        );
        assert!(policy.check_url(&url("https://127.0.0.1/x")).is_err());
        assert!(policy.check_url(&url("https://169.254.169.254/")).is_err());
        let local = parse(&[
            "--webhook-allow-http=true",
            "--webhook-allowed-networks=127.0.0.0/8",
        ])
        .expect("valid settings")
        .webhooks
        .egress();
        assert!(local.check_url(&url("http://127.0.0.1:9/x")).is_ok());
        assert!(local.check_url(&url("http://10.0.0.1/x")).is_err());
        assert_eq!(local, WebhookSettings::local().egress());
        let loopback_only = parse(&["--webhook-allowed-hosts=127.0.0.1,localhost"])
            .expect("valid settings")
            .webhooks
            .egress();
        assert!(
            loopback_only
                .check_url(&url("https://hooks.example.com/x"))
                .is_err()
        );
        assert!(s.webhooks.allowed_hosts.0.is_none(), "any host by default");
        let forced = parse(&["--jobs-backend=database"]).expect("valid settings");
        assert!(!forced.uses_kubernetes());
        assert!(
            parse(&["--jobs-backend=kubernetes"])
                .expect("valid")
                .uses_kubernetes()
        );
    }

    #[test]
    fn malformed_settings_are_refused_naming_them() {
        for (arg, name) in [
            ("--scraper-url=scraper:8082", "scraper-url"),
            ("--jobs-backend=etcd", "jobs-backend"),
            ("--claim-idle=soon", "claim-idle"),
            ("--listen-addr=8083", "listen-addr"),
            ("--scraper-allowed-hosts=a b", "SCRAPER_ALLOWED_HOSTS"),
            (
                "--scraper-allowed-networks=10.0.0.1/8",
                "SCRAPER_ALLOWED_NETWORKS",
            ),
            (
                "--webhook-allowed-networks=10.0.0.1/8",
                "WEBHOOK_ALLOWED_NETWORKS",
            ),
            ("--webhook-allow-http=yes", "webhook-allow-http"),
            ("--webhook-concurrency=0", "WEBHOOK_CONCURRENCY"),
        ] {
            let err = parse(&[arg]).expect_err("refused");
            assert!(err.to_string().contains(name), "{arg}: {err}");
        }
    }
}

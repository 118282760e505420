//! Operator settings, from flags or (as in a pod) environment variables.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

use gleaner_egress::{AllowedHosts, AllowedNetworks, EgressPolicy};
use gleaner_scrapejob::egress::{
    self as run_egress, DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_NETWORKS,
};
use gleaner_scrapejob::env as run_env;

use crate::run::{RunSettings, SecretRef, resources};

/// Command line of the `operator` binary.
#[derive(Debug, Parser)]
#[command(
    name = "operator",
    version,
    about = "Runs ScrapeJob resources as Kubernetes Jobs"
)]
pub struct Cli {
    /// What to do (default: run the controller).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of the controller.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (the default).
    Run,
    /// Print the ScrapeJob CustomResourceDefinition as YAML.
    Crdgen,
}

/// Log line format (`LOG_FORMAT`), shared with every Gleaner binary.
pub use gleaner_telemetry::LogFormat;
use gleaner_telemetry::LogSettings;
use gleaner_telemetry::settings::env as telemetry_env;

/// Settings of the controller.
#[derive(Debug, Clone, Parser)]
pub struct Settings {
    /// Address of the /health, /ready and /metrics server.
    #[arg(long, env = telemetry_env::LISTEN_ADDR, default_value = "0.0.0.0:8084")]
    pub listen_addr: SocketAddr,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Scraper container image for runs.
    #[arg(
        long,
        env = "SCRAPER_IMAGE",
        default_value = "ghcr.io/gleaner/scraper:latest"
    )]
    pub scraper_image: String,
    /// Image pull policy of runs (Always, IfNotPresent, Never; empty: Kubernetes' default).
    #[arg(long, env = "SCRAPER_IMAGE_PULL_POLICY")]
    pub scraper_image_pull_policy: Option<String>,
    /// Secret (key `url`) with the scraper's DATABASE_URL, in each ScrapeJob's namespace.
    #[arg(
        long,
        env = "SCRAPER_DATABASE_SECRET",
        default_value = "gleaner-scraper-db"
    )]
    pub scraper_database_secret: String,
    /// Secret in each ScrapeJob's namespace with the REDIS_URL the shards of a sharded run
    /// share their rate limit through (key `SCRAPER_REDIS_SECRET_KEY`). Empty: no Redis,
    /// each shard keeps to requestsPerSecond / shards on its own.
    #[arg(long, env = "SCRAPER_REDIS_SECRET")]
    pub scraper_redis_secret: Option<String>,
    /// Key of the URL in `SCRAPER_REDIS_SECRET`.
    #[arg(long, env = "SCRAPER_REDIS_SECRET_KEY", default_value = "url")]
    pub scraper_redis_secret_key: String,
    /// RUST_LOG of runs.
    #[arg(long, env = "SCRAPER_RUST_LOG", default_value = "info")]
    pub scraper_rust_log: String,
    /// ServiceAccount of runs (default: the namespace's default, no token mounted).
    #[arg(long, env = "SCRAPER_SERVICE_ACCOUNT")]
    pub scraper_service_account: Option<String>,
    /// CPU request of a run.
    #[arg(long, env = "SCRAPER_CPU_REQUEST", default_value = "100m")]
    pub scraper_cpu_request: String,
    /// Memory request of a run.
    #[arg(long, env = "SCRAPER_MEMORY_REQUEST", default_value = "128Mi")]
    pub scraper_memory_request: String,
    /// CPU limit of a run.
    #[arg(long, env = "SCRAPER_CPU_LIMIT", default_value = "1")]
    pub scraper_cpu_limit: String,
    /// Memory limit of a run.
    #[arg(long, env = "SCRAPER_MEMORY_LIMIT", default_value = "512Mi")]
    pub scraper_memory_limit: String,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Elect a leader through a Lease, so several replicas are safe.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "gleaner-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
    /// This replica's identity in the Lease and in events (default: host name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Hosts runs may fetch from (names or IPs, optionally `host:port`, comma-separated);
    /// a ScrapeJob naming another host is not ready. Passed on to the runs.
    #[arg(long, env = run_env::SCRAPER_ALLOWED_HOSTS, default_value = DEFAULT_ALLOWED_HOSTS, value_parser = run_egress::allowed_hosts)]
    pub scraper_allowed_hosts: AllowedHosts,
    /// Non-public networks (CIDR, comma-separated) runs may connect to; none by default.
    /// Passed on to the runs.
    #[arg(long, env = run_env::SCRAPER_ALLOWED_NETWORKS, default_value = DEFAULT_ALLOWED_NETWORKS, value_parser = run_egress::allowed_networks)]
    pub scraper_allowed_networks: AllowedNetworks,
    /// ScrapeJobs reconciled at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 8)]
    pub reconcile_concurrency: u16,
}

impl Settings {
    /// Settings with every default (tests).
    pub fn defaults() -> Self {
        Settings::parse_from(["operator"])
    }

    /// The part of the settings that shapes run Jobs.
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            image: self.scraper_image.clone(),
            database_secret: self.scraper_database_secret.clone(),
            rust_log: self.scraper_rust_log.clone(),
            service_account: self
                .scraper_service_account
                .clone()
                .filter(|s| !s.is_empty()),
            image_pull_policy: self
                .scraper_image_pull_policy
                .clone()
                .filter(|s| !s.is_empty()),
            resources: resources(
                &self.scraper_cpu_request,
                &self.scraper_memory_request,
                &self.scraper_cpu_limit,
                &self.scraper_memory_limit,
            ),
            // As written: runs parse them the same way.
            allowed_hosts: self.scraper_allowed_hosts.as_str().to_owned(),
            allowed_networks: self.scraper_allowed_networks.as_str().to_owned(),
            redis_secret: self
                .scraper_redis_secret
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|name| SecretRef {
                    name: name.to_owned(),
                    key: self.scraper_redis_secret_key.trim().to_owned(),
                }),
        }
    }

    /// Where runs may connect.
    pub fn egress_policy(&self) -> EgressPolicy {
        EgressPolicy::new(
            self.scraper_allowed_hosts.clone(),
            self.scraper_allowed_networks.clone(),
        )
    }

    /// This replica's identity.
    pub fn identity(&self) -> String {
        self.pod_name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("gleaner-operator-{}", uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::defaults();
        assert_eq!(s.listen_addr.to_string(), "0.0.0.0:8084");
        assert_eq!(s.scraper_image, "ghcr.io/gleaner/scraper:latest");
        assert_eq!(s.scraper_database_secret, "gleaner-scraper-db");
        assert!(s.leader_election);
        assert_eq!(s.log.log_format, LogFormat::Json);
        let r = s.run_settings();
        assert_eq!(r.image, "ghcr.io/gleaner/scraper:latest");
    }

    #[test]
    fn egress_settings_default_to_openmoney_and_are_checked_at_start() {
        let s = Settings::defaults();
        assert_eq!(s.egress_policy(), run_egress::default_policy());
        let r = s.run_settings();
        assert_eq!(
            (r.allowed_hosts.as_str(), r.allowed_networks.as_str()),
            ("openmoney.md,api.openmoney.md", "")
        );
        let s = Settings::parse_from([
            "operator",
            "--scraper-allowed-hosts",
            "demo-site.gleaner.svc:8080",
            "--scraper-allowed-networks",
            "10.96.0.0/12",
        ]);
        let demo_site = gleaner_egress::SourceUrl::parse("http://demo-site.gleaner.svc:8080");
        assert_eq!(
            demo_site.map(|url| s.egress_policy().check(&url).is_ok()),
            Ok(true)
        );
        assert_eq!(
            s.run_settings().allowed_networks,
            "10.96.0.0/12",
            "runs get the settings as written"
        );
        let err =
            Settings::try_parse_from(["operator", "--scraper-allowed-networks", "10.0.0.1/8"])
                .unwrap_err()
                .to_string();
        assert!(err.contains("SCRAPER_ALLOWED_NETWORKS"), "{err}");
        let err = Settings::try_parse_from(["operator", "--scraper-allowed-hosts", "a b"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCRAPER_ALLOWED_HOSTS"), "{err}");
    }

    #[test]
    fn sharded_runs_get_redis_only_from_a_named_secret() {
        assert_eq!(Settings::defaults().run_settings().redis_secret, None);
        let empty = Settings::parse_from(["operator", "--scraper-redis-secret", ""]);
        assert_eq!(empty.run_settings().redis_secret, None);
        let named = Settings::parse_from(["operator", "--scraper-redis-secret", "runs-redis"]);
        assert_eq!(
            named.run_settings().redis_secret,
            Some(SecretRef {
                name: "runs-redis".into(),
                key: "url".into()
            })
        );
        let keyed = Settings::parse_from([
            "operator",
            "--scraper-redis-secret",
            "shared",
            "--scraper-redis-secret-key",
            "redis-url",
        ]);
        assert_eq!(
            keyed.run_settings().redis_secret.map(|s| s.key),
            Some("redis-url".to_owned())
        );
    }

    #[test]
    fn crdgen_is_a_subcommand() {
        let cli = Cli::parse_from(["operator", "crdgen"]);
        assert!(matches!(cli.command, Some(Command::Crdgen)));
        let cli = Cli::parse_from(["operator", "--leader-election", "false"]);
        assert!(cli.command.is_none());
        assert!(!cli.settings.leader_election);
    }
}

//! Settings, from flags or environment variables (listed in the README's Settings section).

use std::path::PathBuf;

use gleaner_common::settings::{VerifierSettings, env, parse_listen_addr};
use gleaner_common::telemetry::LogSettings;
use gleaner_scrapejob::Shard;
use gleaner_scrapejob::env as run_env;
use secrecy::SecretString;

use crate::egress::EgressSettings;

/// `scraper serve` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = env::LISTEN_ADDR, default_value = "0.0.0.0:8082", value_parser = parse_listen_addr)]
    pub listen_addr: String,
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 20)]
    pub database_max_connections: u32,
    /// Redis URL (outbox relay, token revocations).
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: SecretString,
    /// How access tokens are verified (`JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`).
    #[command(flatten)]
    pub verifier: VerifierSettings,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Stream that company events are published to.
    #[arg(long, env = env::EVENTS_STREAM, default_value = gleaner_common::outbox::DEFAULT_STREAM)]
    pub events_stream: String,
    /// Where runs may connect.
    #[command(flatten)]
    pub egress: EgressSettings,
}

/// `scraper run` settings: what a Kubernetes Job passes.
#[derive(Debug, Clone, clap::Args)]
pub struct RunSettings {
    /// PostgreSQL URL.
    #[arg(long, env = run_env::DATABASE_URL, hide_env_values = true)]
    pub database_url: SecretString,
    /// The ScrapeJob spec as JSON (camelCase).
    #[arg(long, env = run_env::SCRAPEJOB_SPEC)]
    pub spec: String,
    /// The ScrapeJob's name.
    #[arg(long, env = run_env::SCRAPEJOB_NAME, default_value = "manual")]
    pub job: String,
    /// Run id (a new one when absent; an existing one is resumed). Every shard of a run
    /// gets the same one.
    #[arg(long, env = run_env::SCRAPE_RUN_ID)]
    pub run_id: Option<String>,
    /// This process's shard of the run, `i/N` (0-based). Without it, the shard is
    /// `JOB_COMPLETION_INDEX` of `SCRAPE_SHARDS` (an Indexed Job's pod), else the whole run.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// The pod's index in an Indexed Job (set by Kubernetes).
    #[arg(long, env = run_env::JOB_COMPLETION_INDEX, hide = true)]
    pub job_completion_index: Option<String>,
    /// How many shards the run has (set by the operator).
    #[arg(long, env = run_env::SCRAPE_SHARDS, hide = true)]
    pub scrape_shards: Option<String>,
    /// Redis, where the shards of a run share their per-host rate limit (without it,
    /// each shard keeps to its share of the rate).
    #[arg(long, env = run_env::REDIS_URL, hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// W3C trace context of the reconcile that started the run.
    #[arg(long, env = run_env::TRACEPARENT)]
    pub traceparent: Option<String>,
    /// Where Kubernetes reads the termination message.
    #[arg(long, env = run_env::TERMINATION_LOG, default_value = run_env::DEFAULT_TERMINATION_LOG)]
    pub termination_log: PathBuf,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Where the run may connect.
    #[command(flatten)]
    pub egress: EgressSettings,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

impl RunSettings {
    /// The shard this process runs: `--shard` if given, else from the Indexed Job's
    /// environment; an index without a count (or the reverse) is an error.
    pub fn shard(&self) -> Result<Shard, String> {
        let from_env = Shard::from_env_values(
            self.job_completion_index.as_deref(),
            self.scrape_shards.as_deref(),
        );
        match self.shard {
            Some(flag) => Ok(flag),
            None => from_env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunSettings,
    }

    fn settings(args: &[&str]) -> Result<RunSettings, clap::Error> {
        let base = ["scraper", "--database-url", "postgres://x", "--spec", "{}"];
        Cli::try_parse_from(base.iter().chain(args)).map(|c| c.run)
    }

    #[test]
    fn the_shard_comes_from_the_flag_else_the_indexed_job() {
        let whole = settings(&[]).unwrap();
        // Nothing set in this test's environment: the whole run.
        if std::env::var_os(run_env::JOB_COMPLETION_INDEX).is_none()
            && std::env::var_os(run_env::SCRAPE_SHARDS).is_none()
        {
            assert_eq!(whole.shard(), Ok(Shard::WHOLE));
        }
        let flag = settings(&["--shard", "2/4"]).unwrap();
        assert_eq!(flag.shard(), Ok(Shard::new(2, 4).unwrap()));
        let pod = settings(&["--job-completion-index", "3", "--scrape-shards", "4"]).unwrap();
        assert_eq!(pod.shard(), Ok(Shard::new(3, 4).unwrap()));
        // The flag wins over the environment.
        let both = settings(&[
            "--shard",
            "1/2",
            "--job-completion-index",
            "3",
            "--scrape-shards",
            "4",
        ])
        .unwrap();
        assert_eq!(both.shard(), Ok(Shard::new(1, 2).unwrap()));
        // Inconsistent values say what is wrong.
        let bad = settings(&["--job-completion-index", "4", "--scrape-shards", "4"]).unwrap();
        assert!(bad.shard().unwrap_err().contains("less than"));
        let half = settings(&["--scrape-shards", "4"]).unwrap();
        assert!(
            half.shard()
                .unwrap_err()
                .contains(run_env::JOB_COMPLETION_INDEX)
        );
        assert!(settings(&["--shard", "4/4"]).is_err());
        assert!(settings(&["--shard", "two"]).is_err());
    }
}

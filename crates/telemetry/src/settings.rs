//! Setting names every Gleaner binary reads, and the log settings group.

/// Environment variable names shared by every binary, written once.
pub mod env {
    /// Log line format: `json` or `pretty`.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// Address the binary serves its API or ops endpoints on (the default differs per binary).
    pub const LISTEN_ADDR: &str = "LISTEN_ADDR";
}

use crate::LogFormat;

/// Log settings, flattened into each binary's settings (`#[command(flatten)]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct LogSettings {
    /// Log format.
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogSettings,
    }

    #[test]
    fn log_format_defaults_to_json_and_accepts_pretty() {
        let cli = Cli::try_parse_from(["bin"]).expect("defaults parse");
        assert_eq!(cli.log.log_format, LogFormat::Json);
        let cli = Cli::try_parse_from(["bin", "--log-format=pretty"]).expect("pretty parses");
        assert_eq!(cli.log.log_format, LogFormat::Pretty);
        let err = Cli::try_parse_from(["bin", "--log-format=xml"])
            .err()
            .expect("xml is refused");
        assert!(err.to_string().contains("log-format"), "{err}");
    }
}

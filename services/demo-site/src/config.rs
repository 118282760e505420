//! How the site is set up: its seed, size, robots.txt and address.

use std::net::SocketAddr;

/// Default `robots.txt`.
pub const DEFAULT_ROBOTS_TXT: &str = "User-agent: *\nAllow: /\n";

/// How the site is set up.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Seed of the generated data.
    pub seed: u64,
    /// Number of companies.
    pub companies: usize,
    /// Body of `/robots.txt`.
    pub robots_txt: String,
    /// Address to bind; `DemoSite::start` uses it (default `127.0.0.1:0`).
    pub listen: SocketAddr,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            companies: 100,
            robots_txt: DEFAULT_ROBOTS_TXT.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl DemoConfig {
    /// `count` companies from `seed`, other settings default.
    pub fn new(seed: u64, companies: usize) -> Self {
        Self {
            seed,
            companies,
            ..Self::default()
        }
    }
}

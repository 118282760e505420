//! robots.txt: fetched once per host and run, and obeyed for our agent's product token.

use std::sync::Arc;

use super::{Fetcher, Outcome, Validators, host_key};
use crate::source::DocumentKind;

/// The robots.txt product token.
pub const ROBOTS_AGENT: &str = "GleanerBot";

/// What robots.txt says of one URL.
pub(super) enum Robots {
    Allowed,
    /// Its rules for our agent disallow the URL.
    Disallowed,
    /// It could not be fetched: nothing may be fetched from the host.
    Unavailable,
}

pub(super) enum RobotsRules {
    AllowAll,
    DenyAll,
    Rules(Box<texting_robots::Robot>),
}

impl Fetcher {
    /// What robots.txt of the URL's host says of it (RFC 9309: a missing robots.txt
    /// allows everything, an unreachable one nothing).
    pub(super) async fn robots(&self, url: &url::Url) -> Robots {
        let key = host_key(url);
        let rules = {
            let mut cache = self.robots.lock().await;
            match cache.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(self.load_robots(url).await);
                    cache.insert(key, r.clone());
                    r
                }
            }
        };
        match rules.as_ref() {
            RobotsRules::AllowAll => Robots::Allowed,
            RobotsRules::DenyAll => Robots::Unavailable,
            RobotsRules::Rules(robot) if robot.allowed(url.as_str()) => Robots::Allowed,
            RobotsRules::Rules(_) => Robots::Disallowed,
        }
    }

    async fn load_robots(&self, url: &url::Url) -> RobotsRules {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        let outcome = self
            .fetch_with_retries(
                &robots_url,
                DocumentKind::CompanyList,
                &Validators::default(),
            )
            .await;
        match outcome {
            Outcome::Fetched(doc) => {
                match texting_robots::Robot::new(ROBOTS_AGENT, &doc.body) {
                    Ok(robot) => RobotsRules::Rules(Box::new(robot)),
                    // Unparseable robots.txt: treat as absent.
                    Err(_) => RobotsRules::AllowAll,
                }
            }
            Outcome::NotFound => RobotsRules::AllowAll,
            Outcome::Failed { kind, .. } if kind.starts_with("http_4") => RobotsRules::AllowAll,
            _ => {
                tracing::warn!(url = %robots_url, "robots.txt unreachable: not fetching from this host");
                RobotsRules::DenyAll
            }
        }
    }
}

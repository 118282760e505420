//! A run's identity: the trigger that starts it fixes its id, and the id its Job's name.

pub use gleaner_scrapejob::trigger::Trigger;

/// A run the operator decided to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// Why it starts.
    pub trigger: Trigger,
    /// The trigger's run id ([`Trigger::run_id`]) as a lowercase uuid, the scraper's
    /// `SCRAPE_RUN_ID`.
    pub run_id: String,
    /// Name of the Job, `<scrapejob>-<8 hex of the run id>`.
    pub job_name: String,
}

impl RunRequest {
    /// The run a trigger stands for; the same ScrapeJob uid and trigger give the same run.
    pub fn new(scrapejob_name: &str, uid: &str, trigger: Trigger) -> Self {
        let run_id = trigger.run_id(uid).to_string();
        let job_name = job_name(scrapejob_name, &run_id);
        RunRequest {
            trigger,
            run_id,
            job_name,
        }
    }
}

/// `<scrapejob name>-<first 8 hex digits of the run id>`, at most 63 characters.
pub fn job_name(scrapejob_name: &str, run_id: &str) -> String {
    let suffix: String = run_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    // 63 - "-" - 8 hex = 54 characters for the name; never end on a '-' or '.'.
    let mut prefix: String = scrapejob_name.chars().take(54).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    format!("{prefix}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_deterministic_per_trigger() {
        let a = RunRequest::new("nightly", "uid-1", Trigger::Initial);
        let b = RunRequest::new("nightly", "uid-1", Trigger::Initial);
        let c = RunRequest::new("nightly", "uid-2", Trigger::Initial);
        let d = RunRequest::new("nightly", "uid-1", Trigger::RunNow("x".into()));
        assert_eq!(a, b);
        assert_ne!(a.run_id, c.run_id);
        assert_ne!(a.run_id, d.run_id);
        assert_eq!(a.run_id.len(), 36);
        assert_eq!(a.run_id, a.run_id.to_lowercase());
        assert!(a.job_name.starts_with("nightly-"));
        assert_eq!(a.job_name, format!("nightly-{}", &a.run_id[..8]));
    }

    #[test]
    fn job_names_fit_in_63_characters() {
        let long = "a".repeat(63);
        let name = job_name(&long, "0123abcd-0000-0000-0000-000000000000");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-0123abcd"));
        let dashy = format!("{}-b", "a".repeat(53));
        assert_eq!(
            job_name(&dashy, "0123abcd"),
            format!("{}-0123abcd", "a".repeat(53))
        );
    }
}

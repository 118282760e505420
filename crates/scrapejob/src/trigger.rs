//! What starts a run, and the run id it stands for.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Longest run-now token honoured (the length of a label-like value).
pub const RUN_NOW_TOKEN_MAX_LEN: usize = 253;

/// What started a run. In a cluster it fixes the run id (see [`Trigger::run_id`]), so
/// acting on the same trigger twice cannot start two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The one run a job without a schedule gets on creation.
    Initial,
    /// The schedule occurrence the run stands for.
    Schedule(DateTime<Utc>),
    /// A run asked for now, with the token that asked (a `gleaner.dev/run-now` value).
    RunNow(String),
}

impl Trigger {
    /// A run-now trigger from an annotation's value: trimmed, and none when the value is
    /// empty or longer than [`RUN_NOW_TOKEN_MAX_LEN`].
    pub fn run_now(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty() && token.len() <= RUN_NOW_TOKEN_MAX_LEN)
            .then(|| Trigger::RunNow(token.to_owned()))
    }

    /// Short name, as in a run Job's `gleaner.dev/trigger` annotation.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Schedule(_) => "schedule",
            Trigger::RunNow(_) => "run-now",
        }
    }

    /// The trigger's key among a job's triggers: `initial`, `schedule/<unix seconds>` or
    /// `run-now/<token>`.
    pub fn key(&self) -> String {
        match self {
            Trigger::Initial => "initial".to_owned(),
            Trigger::Schedule(t) => format!("schedule/{}", t.timestamp()),
            Trigger::RunNow(token) => format!("run-now/{token}"),
        }
    }

    /// The id of the run this trigger of the ScrapeJob with `uid` stands for: a UUID v5 of
    /// the uid and the trigger's [key](Trigger::key). The operator names runs with it, and
    /// whoever sets a run-now token knows the run's id before the operator starts it.
    pub fn run_id(&self, uid: &str) -> Uuid {
        const NAMESPACE: Uuid = Uuid::from_u128(0x6c1e_57a1_9b1d_4c3e_8f2a_0d5e_6a7b_8c9d);
        Uuid::new_v5(&NAMESPACE, format!("{uid}/{}", self.key()).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_fixed_by_the_job_and_the_trigger() {
        let at = DateTime::from_timestamp(1_795_000_000, 0).expect("time");
        let triggers = [
            Trigger::Initial,
            Trigger::Schedule(at),
            Trigger::RunNow("t-1".into()),
        ];
        for t in &triggers {
            assert_eq!(t.run_id("uid-1"), t.run_id("uid-1"));
            assert_ne!(t.run_id("uid-1"), t.run_id("uid-2"));
        }
        assert_ne!(triggers[0].run_id("u"), triggers[1].run_id("u"));
        assert_ne!(triggers[1].run_id("u"), triggers[2].run_id("u"));
        assert_eq!(triggers[1].key(), "schedule/1795000000");
        assert_eq!(triggers[2].key(), "run-now/t-1");
        // The id a run was always given: a Job started before keeps its identity.
        assert_eq!(
            Trigger::RunNow("t-42".into()).run_id("uid-1").to_string(),
            "bea6e52d-1ca5-571f-ad83-1802f475242c"
        );
    }

    #[test]
    fn run_now_tokens_are_trimmed_and_bounded() {
        assert_eq!(
            Trigger::run_now(" t-1 "),
            Some(Trigger::RunNow("t-1".into()))
        );
        assert_eq!(Trigger::run_now("  "), None);
        assert!(Trigger::run_now(&"x".repeat(RUN_NOW_TOKEN_MAX_LEN)).is_some());
        assert_eq!(
            Trigger::run_now(&"x".repeat(RUN_NOW_TOKEN_MAX_LEN + 1)),
            None
        );
    }
}

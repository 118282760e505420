//! One scrape run as a `batch/v1` Job (an Indexed Job, one pod per shard, for a sharded
//! run), in four parts: the run's id and Job name ([`id`]), the Job built for it ([`job`]),
//! what an existing Job says about its run ([`observed`]), and the scraper's termination
//! summaries read from the run's pods ([`summary`]).

mod id;
mod job;
mod observed;
mod summary;

pub use gleaner_scrapejob::summary::RunSummary;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub use id::{RunRequest, Trigger, job_name};
pub use job::{
    JobBuildError, MANAGER, RUN_AS_USER, RunSettings, SecretRef, desired_job, resources, run_labels,
};
pub use observed::{ObservedRun, RunState};
pub use summary::{COMPLETION_INDEX_KEY, run_summary, summary_from_pods};

/// Name of the scraper container in every run's pod.
pub const CONTAINER_NAME: &str = "scraper";

/// Converts a timestamp to the API's `Time`.
pub fn time(t: Timestamp) -> Time {
    Time(t)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::crd::{ScrapeJob, ScrapeJobSpec, Targets};

    /// A stored ScrapeJob `name` (namespace and uid set) with one target.
    pub(crate) fn scrapejob(name: &str) -> ScrapeJob {
        let mut sj = ScrapeJob::new(
            name,
            ScrapeJobSpec::with_targets(Targets {
                idnos: Some(vec!["1003600012345".into()]),
                list_pages: None,
            }),
        );
        sj.metadata.namespace = Some("gleaner".into());
        sj.metadata.uid = Some("0b6c1a55-0000-4000-8000-000000000001".into());
        sj
    }
}

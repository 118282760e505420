//! The scraper's summary of a run, from the termination messages of the run's pods: the
//! newest pod's for a one-pod run, each shard's newest pod's added up for a sharded run.

use gleaner_scrapejob::RunStatus;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::{CONTAINER_NAME, ObservedRun, RunState, RunSummary};

/// The scraper's summary in its container's termination message, from the newest pod of
/// a run (the summary itself, or log lines whose last summary line is used).
pub fn summary_from_pods(pods: &[Pod]) -> Option<RunSummary> {
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    pods.iter().rev().find_map(|pod| {
        let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
        let status = statuses
            .iter()
            .find(|s| s.name == CONTAINER_NAME)
            .or(statuses.first())?;
        let terminated = status.state.as_ref()?.terminated.as_ref()?;
        RunSummary::from_termination_message(terminated.message.as_deref()?)
    })
}

/// Where Kubernetes writes the index of an Indexed Job's pod (an annotation always, a label
/// too from Kubernetes 1.28).
pub const COMPLETION_INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// The scraper's summary of a run from its pods. One pod: [`summary_from_pods`]. A sharded
/// run: the shards' summaries added up by [`RunSummary::combine`], each shard's read from
/// the newest pod of its index. A shard whose container ended without a readable final
/// summary, or that has no pod once the run has failed, counts as failed, with a reason
/// naming the shard; a shard still going counts as running. A Job that succeeded with a
/// shard's pod gone has no summary: its own verdict is the run's.
pub fn run_summary(run: &ObservedRun, pods: &[Pod]) -> Option<RunSummary> {
    if run.shards <= 1 {
        return summary_from_pods(pods);
    }
    let count = run.shards;
    let mut newest: Vec<Option<&Pod>> = vec![None; usize::try_from(count).ok()?];
    let key = |p: &Pod| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    };
    for pod in pods {
        let Some(slot) = pod_index(pod)
            .filter(|i| *i < count)
            .and_then(|i| newest.get_mut(usize::try_from(i).ok()?))
        else {
            continue;
        };
        if slot.is_none_or(|current| key(pod) > key(current)) {
            *slot = Some(pod);
        }
    }
    // Kubernetes says every index succeeded but a shard's pod is already gone (the Job
    // was cleaned up before the status was written): the Job's verdict stands, as it
    // does for a one-pod run whose pod is gone, rather than counts that miss a shard.
    if run.state == RunState::Succeeded && newest.iter().any(Option::is_none) {
        return None;
    }
    let run_id = run.run_id.clone().unwrap_or_default();
    let finished = run.state != RunState::Active;
    let shards: Vec<RunSummary> = newest
        .iter()
        .zip(0..)
        .map(|(pod, index)| shard_summary(*pod, index, count, &run_id, finished))
        .collect();
    RunSummary::combine(&shards)
}

/// A pod's index in its Indexed Job.
fn pod_index(pod: &Pod) -> Option<u32> {
    pod.annotations()
        .get(COMPLETION_INDEX_KEY)
        .or_else(|| pod.labels().get(COMPLETION_INDEX_KEY))
        .and_then(|v| v.trim().parse().ok())
}

/// One shard's summary from the newest pod of its index (see [`run_summary`]).
fn shard_summary(
    pod: Option<&Pod>,
    index: u32,
    count: u32,
    run_id: &str,
    run_finished: bool,
) -> RunSummary {
    let failed = |why: String| {
        let mut s = RunSummary::new(run_id, RunStatus::Failed);
        s.failure = Some(format!("shard {index}/{count} {why}"));
        s
    };
    let Some(pod) = pod else {
        return if run_finished {
            failed("has no pod".to_owned())
        } else {
            RunSummary::new(run_id, RunStatus::Running)
        };
    };
    let name = pod.name_any();
    let terminated = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| {
            statuses
                .iter()
                .find(|s| s.name == CONTAINER_NAME)
                .or(statuses.first())
        })
        .and_then(|s| s.state.as_ref()?.terminated.as_ref());
    let Some(terminated) = terminated else {
        return if run_finished {
            failed(format!("left no summary: pod {name} did not finish"))
        } else {
            RunSummary::new(run_id, RunStatus::Running)
        };
    };
    match terminated
        .message
        .as_deref()
        .and_then(RunSummary::from_termination_message)
        .filter(|s| s.status.is_final())
    {
        Some(mut summary) => {
            if summary.status != RunStatus::Succeeded {
                let why = summary
                    .failure
                    .take()
                    .unwrap_or_else(|| summary.status.as_str().to_owned());
                summary.failure = Some(format!("shard {index}/{count}: {why}"));
            }
            summary
        }
        None => {
            let reason = terminated
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(", {r}"));
            failed(format!(
                "left no summary: pod {name} exited with code {}{reason}",
                terminated.exit_code
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    #[test]
    fn reads_the_summary_from_the_newest_pod() {
        use gleaner_scrapejob::RunStatus;
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
        };
        let pod = |created: &str, message: &str| Pod {
            metadata: ObjectMeta {
                creation_timestamp: Some(Time(created.parse().unwrap())),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: CONTAINER_NAME.into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            message: Some(message.into()),
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        };
        let mut old = RunSummary::new("r1", RunStatus::Failed);
        old.pages_failed = 9;
        let mut new = RunSummary::new("r1", RunStatus::Cancelled);
        new.pages_fetched = 3;
        let logs = format!("starting\n{}\npanic: boom", new.to_line());
        let pods = [
            pod("2026-11-22T03:05:00Z", &logs),
            pod("2026-11-22T03:00:00Z", &old.to_line()),
        ];
        assert_eq!(summary_from_pods(&pods), Some(new));
        assert_eq!(
            summary_from_pods(&[pod("2026-11-22T03:00:00Z", "Error: database gone")]),
            None
        );
    }

    fn shard_pod(
        index: Option<u32>,
        created: &str,
        terminated: Option<(i32, Option<&str>)>,
    ) -> Pod {
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
            PodStatus,
        };
        let state = match terminated {
            Some((exit_code, message)) => ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                    message: message.map(Into::into),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
            None => ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            },
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("run-{}-{created}", index.map_or(9, |i| i))),
                creation_timestamp: Some(Time(created.parse().unwrap())),
                annotations: index
                    .map(|i| BTreeMap::from([(COMPLETION_INDEX_KEY.to_owned(), i.to_string())])),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: CONTAINER_NAME.into(),
                    state: Some(state),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn shard_line(
        status: gleaner_scrapejob::RunStatus,
        fetched: u64,
        failure: Option<&str>,
    ) -> String {
        let mut s = RunSummary::new("run-1", status);
        s.pages_fetched = fetched;
        s.pages_failed = 1;
        s.companies_created = fetched / 2;
        s.companies_updated = 1;
        s.started_at = Some(format!("2026-11-22T03:00:0{fetched}Z"));
        s.finished_at = Some(format!("2026-11-22T03:05:0{fetched}Z"));
        s.failure = failure.map(Into::into);
        s.to_line()
    }

    fn sharded_run(state: RunState, shards: u32) -> ObservedRun {
        ObservedRun {
            name: "run".into(),
            run_id: Some("run-1".into()),
            state,
            created: None,
            started: None,
            finished: None,
            deleting: false,
            failure: None,
            shards,
        }
    }

    #[test]
    fn shard_summaries_add_up() {
        use gleaner_scrapejob::RunStatus::{Cancelled, Failed, Succeeded};
        let t = "2026-11-22T03:00:00Z";
        let lines: Vec<String> = (1..=4).map(|n| shard_line(Succeeded, n, None)).collect();
        let pods: Vec<Pod> = (0..4)
            .map(|i| shard_pod(Some(i), t, Some((0, Some(lines[i as usize].as_str())))))
            .collect();
        let all = run_summary(&sharded_run(RunState::Succeeded, 4), &pods).unwrap();
        assert_eq!(all.status, Succeeded);
        assert_eq!(
            (
                all.pages_fetched,
                all.pages_failed,
                all.companies_created,
                all.companies_updated
            ),
            (10, 4, 4, 4)
        );
        assert_eq!(all.started_at.as_deref(), Some("2026-11-22T03:00:01Z"));
        assert_eq!(all.finished_at.as_deref(), Some("2026-11-22T03:05:04Z"));
        assert_eq!(all.failure, None);

        // One shard failed, the others were stopped: the run failed, naming the shards.
        let failed = shard_line(Failed, 2, Some("timed out"));
        let cancelled = shard_line(Cancelled, 3, Some("cancelled"));
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(lines[0].as_str())))),
            shard_pod(Some(1), t, Some((1, Some(failed.as_str())))),
            shard_pod(Some(2), t, Some((1, Some(cancelled.as_str())))),
            shard_pod(Some(3), t, Some((137, None))),
        ];
        let all = run_summary(&sharded_run(RunState::Failed, 4), &pods).unwrap();
        assert_eq!(all.status, Failed);
        assert_eq!(all.pages_fetched, 1 + 2 + 3);
        assert_eq!(
            all.failure.as_deref(),
            Some(
                "shard 1/4: timed out; shard 2/4: cancelled; \
                 shard 3/4 left no summary: pod run-3-2026-11-22T03:00:00Z exited with code 137, Error"
            )
        );
    }

    #[test]
    fn a_shard_without_a_summary_fails_the_run_only_once_it_ends() {
        use gleaner_scrapejob::RunStatus::{Failed, Running, Succeeded};
        let t = "2026-11-22T03:00:00Z";
        let done = shard_line(Succeeded, 5, None);
        // Shard 0 done, shard 1 running, shard 2 not started: the run is running, with the
        // counts of the finished shard.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(Some(1), t, None),
        ];
        let going = run_summary(&sharded_run(RunState::Active, 3), &pods).unwrap();
        assert_eq!(going.status, Running);
        assert_eq!(going.pages_fetched, 5);
        assert_eq!(going.finished_at, None);

        // The Job failed; shard 1's pod wrote nothing readable and shard 2 has no pod.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(
                Some(1),
                t,
                Some((0, Some("Error: the termination log is gone"))),
            ),
        ];
        let all = run_summary(&sharded_run(RunState::Failed, 3), &pods).unwrap();
        assert_eq!(all.status, Failed);
        let failure = all.failure.unwrap();
        assert!(failure.contains("shard 1/3 left no summary"), "{failure}");
        assert!(failure.contains("shard 2/3 has no pod"), "{failure}");
        assert!(!failure.contains("shard 0/3"), "{failure}");

        // The Job completed with every pod there, but shard 1 wrote nothing readable.
        let pods = [
            shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
            shard_pod(Some(1), t, Some((0, Some("garbage")))),
        ];
        let all = run_summary(&sharded_run(RunState::Succeeded, 2), &pods).unwrap();
        assert_eq!(all.status, Failed);
        assert!(all.failure.unwrap().contains("shard 1/2 left no summary"));

        // The Job completed and shard 1's pod is gone already: Kubernetes' verdict stands
        // (no summary, as for a one-pod run whose pod is gone), not a failure.
        let pods = [shard_pod(Some(0), t, Some((0, Some(done.as_str()))))];
        assert_eq!(
            run_summary(&sharded_run(RunState::Succeeded, 2), &pods),
            None
        );

        // A pod still running after the run ended never finished.
        let all = run_summary(
            &sharded_run(RunState::Failed, 2),
            &[
                shard_pod(Some(0), t, Some((0, Some(done.as_str())))),
                shard_pod(Some(1), t, None),
            ],
        )
        .unwrap();
        assert!(all.failure.unwrap().contains("did not finish"));
    }

    #[test]
    fn each_shard_is_read_from_its_newest_pod() {
        use gleaner_scrapejob::RunStatus::{Cancelled, Succeeded};
        // Shard 1 was evicted (its pod wrote "cancelled") and replaced; the replacement
        // succeeded. Pods without an index or beyond the shard count are not shards.
        let evicted = shard_line(Cancelled, 2, Some("cancelled"));
        let ok = shard_line(Succeeded, 3, None);
        let pods = [
            shard_pod(
                Some(1),
                "2026-11-22T03:10:00Z",
                Some((0, Some(ok.as_str()))),
            ),
            shard_pod(
                Some(1),
                "2026-11-22T03:00:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
            shard_pod(
                Some(0),
                "2026-11-22T03:00:00Z",
                Some((0, Some(ok.as_str()))),
            ),
            shard_pod(
                None,
                "2026-11-22T03:20:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
            shard_pod(
                Some(7),
                "2026-11-22T03:20:00Z",
                Some((1, Some(evicted.as_str()))),
            ),
        ];
        let all = run_summary(&sharded_run(RunState::Succeeded, 2), &pods).unwrap();
        assert_eq!(all.status, Succeeded);
        assert_eq!(all.pages_fetched, 6);
        // The label works as well as the annotation.
        let mut labelled = shard_pod(None, "2026-11-22T03:00:00Z", Some((0, Some(ok.as_str()))));
        labelled.metadata.labels = Some(BTreeMap::from([(
            COMPLETION_INDEX_KEY.to_owned(),
            "0".to_owned(),
        )]));
        let all = run_summary(&sharded_run(RunState::Failed, 1 + 1), &[labelled]).unwrap();
        assert_eq!(all.pages_fetched, 3);
        assert!(all.failure.unwrap().contains("shard 1/2 has no pod"));
    }
}

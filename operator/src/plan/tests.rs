use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::conditions::find;
use super::*;
use crate::crd::{
    ConcurrencyPolicy, LastRun, PageRange, Phase, RUN_NOW_ANNOTATION, RunResult, ScrapeJobSpec,
    Targets,
};
use crate::run::Trigger;

const UID: &str = "7d0b6c1a-0000-4000-8000-000000000042";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn scrapejob(configure: impl FnOnce(&mut ScrapeJobSpec)) -> ScrapeJob {
    let mut spec = ScrapeJobSpec::with_targets(Targets {
        idnos: None,
        list_pages: Some(PageRange { from: 1, to: 5 }),
    });
    configure(&mut spec);
    let mut sj = ScrapeJob::new("nightly", spec);
    sj.metadata.namespace = Some("gleaner".into());
    sj.metadata.uid = Some(UID.into());
    sj.metadata.generation = Some(2);
    sj.metadata.creation_timestamp = Some(Time(ts("2026-11-22T00:00:00Z")));
    sj
}

fn with_status(mut sj: ScrapeJob, status: ScrapeJobStatus) -> ScrapeJob {
    sj.status = Some(status);
    sj
}

fn run(name: &str, state: RunState, created: &str) -> ObservedRun {
    ObservedRun {
        name: name.into(),
        run_id: Some(format!("{name}-id")),
        state,
        created: Some(ts(created)),
        started: Some(ts(created)),
        finished: (state != RunState::Active)
            .then(|| ts(created) + k8s_openapi::jiff::SignedDuration::from_mins(5)),
        deleting: false,
        failure: (state == RunState::Failed).then(|| "BackoffLimitExceeded".to_owned()),
        shards: 1,
    }
}

fn decide(sj: &ScrapeJob, runs: Vec<ObservedRun>, now: &str) -> Plan {
    plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: sj,
        runs,
        summary: None,
        now: ts(now),
    })
}

fn cond<'a>(p: &'a Plan, kind: &str) -> &'a Condition {
    find(&p.status.conditions, kind).unwrap_or_else(|| panic!("no {kind} condition"))
}

fn reasons(p: &Plan) -> Vec<&'static str> {
    p.events.iter().map(|e| e.reason).collect()
}

#[test]
fn without_schedule_one_run_starts_on_creation() {
    let sj = scrapejob(|_| {});
    let p = decide(&sj, vec![], "2026-11-22T00:00:05Z");
    let create = p.create.as_ref().expect("a run");
    assert_eq!(create.trigger, Trigger::Initial);
    assert_eq!(
        create.job_name,
        RunRequest::new("nightly", UID, Trigger::Initial).job_name
    );
    assert_eq!(p.status.phase, Some(Phase::Running));
    assert_eq!(p.status.observed_generation, Some(2));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.name, create.job_name);
    assert_eq!(last.result, Some(RunResult::Running));
    assert_eq!(last.started_at, Some(Time(ts("2026-11-22T00:00:05Z"))));
    assert_eq!(p.status.next_run_at, None);
    assert_eq!(reasons(&p), ["RunStarted"]);
    assert_eq!(cond(&p, "Ready").status, "True");
    assert_eq!(cond(&p, "Running").status, "True");
    assert_eq!(cond(&p, "Running").observed_generation, Some(2));
    assert!(find(&p.status.conditions, "Succeeded").is_none());
    assert!(p.replace.is_empty() && p.prune.is_empty());
}

#[test]
fn a_started_run_is_not_started_again() {
    let sj = scrapejob(|_| {});
    let first = decide(&sj, vec![], "2026-11-22T00:00:05Z");
    let name = first.create.unwrap().job_name;
    let sj = with_status(sj, first.status);
    let p = decide(
        &sj,
        vec![run(&name, RunState::Active, "2026-11-22T00:00:05Z")],
        "2026-11-22T00:01:00Z",
    );
    assert_eq!(p.create, None);
    assert!(p.events.is_empty());
    assert_eq!(p.status.phase, Some(Phase::Running));
    // Nothing changed, so the conditions keep their transition times.
    assert_eq!(
        cond(&p, "Running").last_transition_time,
        Time(ts("2026-11-22T00:00:05Z"))
    );
}

#[test]
fn a_lost_status_write_does_not_start_a_second_run() {
    // The Job exists but the status never recorded it: the deterministic name finds it.
    let sj = scrapejob(|_| {});
    let name = RunRequest::new("nightly", UID, Trigger::Initial).job_name;
    let p = decide(
        &sj,
        vec![run(&name, RunState::Active, "2026-11-22T00:00:05Z")],
        "2026-11-22T00:01:00Z",
    );
    assert_eq!(p.create, None);
    assert_eq!(p.status.phase, Some(Phase::Running));
    assert_eq!(p.status.last_run.as_ref().unwrap().name, name);
}

#[test]
fn a_finished_run_updates_last_run_from_its_summary() {
    let sj = with_status(
        scrapejob(|_| {}),
        ScrapeJobStatus {
            last_run: Some(LastRun {
                name: "nightly-aaaa0001".into(),
                result: Some(RunResult::Running),
                started_at: Some(Time(ts("2026-11-22T00:00:05Z"))),
                ..LastRun::default()
            }),
            ..ScrapeJobStatus::default()
        },
    );
    let runs = vec![run(
        "nightly-aaaa0001",
        RunState::Succeeded,
        "2026-11-22T00:00:05Z",
    )];
    assert_eq!(
        summary_wanted(&sj, &runs).map(|r| r.name.as_str()),
        Some("nightly-aaaa0001")
    );
    let summary = RunSummary::from_termination_message(
        r#"{"run_id":"r1","status":"succeeded","finished_at":"2026-11-22T00:04:00Z","pages_fetched":120,"pages_failed":2,"companies_created":40,"companies_updated":3}"#,
    )
    .unwrap();
    let p = plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &sj,
        runs,
        summary: Some(("nightly-aaaa0001".into(), summary)),
        now: ts("2026-11-22T00:06:00Z"),
    });
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.result, Some(RunResult::Succeeded));
    assert_eq!(last.pages_fetched, 120);
    assert_eq!(last.pages_failed, 2);
    assert_eq!(last.companies_written, 43);
    assert_eq!(last.started_at, Some(Time(ts("2026-11-22T00:00:05Z"))));
    assert_eq!(last.finished_at, Some(Time(ts("2026-11-22T00:04:00Z"))));
    assert_eq!(p.status.phase, Some(Phase::Succeeded));
    assert_eq!(reasons(&p), ["RunSucceeded"]);
    assert_eq!(cond(&p, "Succeeded").status, "True");
    assert_eq!(cond(&p, "Failed").status, "False");
    assert_eq!(cond(&p, "Running").status, "False");
    assert_eq!(p.create, None, "the one run on creation has happened");

    // Once recorded, the summary is not wanted again and no second event goes out.
    let sj = with_status(sj, p.status.clone());
    let runs = vec![run(
        "nightly-aaaa0001",
        RunState::Succeeded,
        "2026-11-22T00:00:05Z",
    )];
    assert!(summary_wanted(&sj, &runs).is_none());
    let again = decide(&sj, runs, "2026-11-22T00:10:00Z");
    assert!(again.events.is_empty());
    assert_eq!(again.status.last_run, p.status.last_run);
}

#[test]
fn a_failed_run_is_reported() {
    let sj = scrapejob(|_| {});
    let p = decide(
        &sj,
        vec![run(
            "nightly-aaaa0001",
            RunState::Failed,
            "2026-11-22T00:00:05Z",
        )],
        "2026-11-22T00:06:00Z",
    );
    assert_eq!(p.status.phase, Some(Phase::Failed));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.result, Some(RunResult::Failed));
    assert_eq!(last.message.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(p.events[0].kind, EventKind::Warning);
    assert_eq!(reasons(&p), ["RunFailed"]);
    assert_eq!(cond(&p, "Failed").status, "True");
    assert_eq!(cond(&p, "Succeeded").status, "False");
}

#[test]
fn a_complete_job_whose_scraper_said_failed_is_failed() {
    let sj = scrapejob(|_| {});
    let p = plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &sj,
        runs: vec![run(
            "nightly-aaaa0001",
            RunState::Succeeded,
            "2026-11-22T00:00:05Z",
        )],
        summary: Some((
            "nightly-aaaa0001".into(),
            RunSummary::from_termination_message(
                r#"{"run_id":"r1","status":"failed","pages_failed":90}"#,
            )
            .unwrap(),
        )),
        now: ts("2026-11-22T00:06:00Z"),
    });
    assert_eq!(p.status.phase, Some(Phase::Failed));
    assert_eq!(p.status.last_run.as_ref().unwrap().pages_failed, 90);
}

#[test]
fn a_job_deleted_while_running_marks_the_run_failed() {
    let sj = with_status(
        scrapejob(|_| {}),
        ScrapeJobStatus {
            last_run: Some(LastRun {
                name: "nightly-aaaa0001".into(),
                result: Some(RunResult::Running),
                ..LastRun::default()
            }),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(&sj, vec![], "2026-11-22T00:06:00Z");
    assert_eq!(p.create, None, "not a new ScrapeJob: no run on creation");
    assert_eq!(p.status.phase, Some(Phase::Failed));
}

#[test]
fn schedule_starts_the_due_run_and_reports_the_next() {
    let sj = scrapejob(|s| s.schedule = Some("0 * * * *".into()));
    let p = decide(&sj, vec![], "2026-11-22T02:30:00Z");
    let create = p.create.as_ref().unwrap();
    assert_eq!(
        create.trigger,
        Trigger::Schedule(to_utc(ts("2026-11-22T02:00:00Z")))
    );
    assert_eq!(
        p.status.last_scheduled_at,
        Some(Time(ts("2026-11-22T02:00:00Z")))
    );
    assert_eq!(p.status.next_run_at, Some(Time(ts("2026-11-22T03:00:00Z"))));
    assert_eq!(p.requeue_after, RESYNC);
    assert_eq!(
        cond(&p, "Ready").message,
        "next run at 2026-11-22T03:00:00Z"
    );
    // Close to the next time, the requeue wakes up just after it.
    let sj = with_status(sj, p.status.clone());
    let p = decide(&sj, vec![], "2026-11-22T02:58:00Z");
    assert_eq!(p.requeue_after, Duration::from_secs(121));
}

#[test]
fn schedule_waits_until_due() {
    let sj = with_status(
        scrapejob(|s| s.schedule = Some("0 3 * * *".into())),
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-21T03:00:00Z"))),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(&sj, vec![], "2026-11-22T01:00:00Z");
    assert_eq!(p.create, None);
    assert_eq!(p.status.phase, Some(Phase::Pending));
    assert_eq!(p.status.next_run_at, Some(Time(ts("2026-11-22T03:00:00Z"))));
    assert_eq!(p.requeue_after, RESYNC, "capped so a lost event is noticed");
}

#[test]
fn downtime_gives_one_catch_up_run_not_a_burst() {
    let sj = with_status(
        scrapejob(|s| s.schedule = Some("0 * * * *".into())),
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-22T01:00:00Z"))),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(&sj, vec![], "2026-11-22T05:10:00Z");
    assert_eq!(
        p.create.as_ref().unwrap().trigger,
        Trigger::Schedule(to_utc(ts("2026-11-22T05:00:00Z")))
    );
    let sj = with_status(sj, p.status.clone());
    let name = p.create.unwrap().job_name;
    let again = decide(
        &sj,
        vec![run(&name, RunState::Active, "2026-11-22T05:10:00Z")],
        "2026-11-22T05:10:01Z",
    );
    assert_eq!(again.create, None);
}

/// The schedule cases every backend answers alike (the app's scheduler gives the same
/// answers): the reconcile starts the due occurrence's run and records it handled.
#[test]
fn the_reconcile_starts_each_shared_case_its_due_run() {
    for case in gleaner_scrapejob::schedule_cases::DUE_CASES {
        let sj = with_status(
            scrapejob(|s| s.schedule = Some(case.schedule.into())),
            ScrapeJobStatus {
                last_scheduled_at: Some(Time(ts(case.last_handled))),
                ..ScrapeJobStatus::default()
            },
        );
        let p = decide(&sj, vec![], case.now);
        let due = case.due.map(ts);
        assert_eq!(
            p.create.map(|c| c.trigger),
            due.map(|t| Trigger::Schedule(to_utc(t))),
            "{}",
            case.name
        );
        let handled = due.unwrap_or(ts(case.last_handled));
        assert_eq!(
            p.status.last_scheduled_at,
            Some(Time(handled)),
            "{}",
            case.name
        );
    }
}

#[test]
fn suspend_creates_nothing() {
    let sj = scrapejob(|s| {
        s.schedule = Some("0 * * * *".into());
        s.suspend = true;
    });
    let p = decide(&sj, vec![], "2026-11-22T05:10:00Z");
    assert_eq!(p.create, None);
    assert_eq!(p.status.phase, Some(Phase::Suspended));
    assert_eq!(p.status.next_run_at, None);
    // Times passed over while suspended do not run on resume.
    assert_eq!(
        p.status.last_scheduled_at,
        Some(Time(ts("2026-11-22T05:00:00Z")))
    );
    assert_eq!(cond(&p, "Ready").message, "suspended: no scheduled runs");

    let no_schedule = scrapejob(|s| s.suspend = true);
    let p = decide(&no_schedule, vec![], "2026-11-22T00:00:05Z");
    assert_eq!(p.create, None);
    assert_eq!(p.status.phase, Some(Phase::Suspended));
}

#[test]
fn suspend_leaves_a_running_run_alone() {
    let sj = scrapejob(|s| s.suspend = true);
    let p = decide(
        &sj,
        vec![run(
            "nightly-aaaa0001",
            RunState::Active,
            "2026-11-22T00:00:05Z",
        )],
        "2026-11-22T00:01:00Z",
    );
    assert!(p.replace.is_empty() && p.prune.is_empty() && p.create.is_none());
    assert_eq!(p.status.phase, Some(Phase::Running));
}

#[test]
fn forbid_skips_a_scheduled_run_while_one_runs() {
    let sj = with_status(
        scrapejob(|s| s.schedule = Some("0 * * * *".into())),
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-22T01:00:00Z"))),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(
        &sj,
        vec![run(
            "nightly-aaaa0001",
            RunState::Active,
            "2026-11-22T01:00:00Z",
        )],
        "2026-11-22T02:00:10Z",
    );
    assert_eq!(p.create, None);
    assert!(p.replace.is_empty());
    assert_eq!(reasons(&p), ["RunSkipped"]);
    assert_eq!(
        p.status.last_scheduled_at,
        Some(Time(ts("2026-11-22T02:00:00Z")))
    );
    assert_eq!(p.status.phase, Some(Phase::Running));
}

#[test]
fn replace_stops_the_running_run_and_starts_the_new_one() {
    let sj = with_status(
        scrapejob(|s| {
            s.schedule = Some("0 * * * *".into());
            s.concurrency_policy = ConcurrencyPolicy::Replace;
        }),
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-22T01:00:00Z"))),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(
        &sj,
        vec![run(
            "nightly-aaaa0001",
            RunState::Active,
            "2026-11-22T01:00:00Z",
        )],
        "2026-11-22T02:00:10Z",
    );
    assert_eq!(p.replace, ["nightly-aaaa0001"]);
    assert!(p.create.is_some());
    assert_eq!(reasons(&p), ["RunReplaced", "RunStarted"]);
    assert_eq!(p.status.phase, Some(Phase::Running));
    assert_eq!(
        cond(&p, "Running").message,
        format!("Job {} is running", p.create.as_ref().unwrap().job_name)
    );
}

fn annotated(sj: ScrapeJob, token: &str) -> ScrapeJob {
    let mut sj = sj;
    sj.metadata.annotations = Some(BTreeMap::from([(RUN_NOW_ANNOTATION.into(), token.into())]));
    sj
}

#[test]
fn run_now_starts_once_per_token() {
    let sj = with_status(
        annotated(scrapejob(|s| s.schedule = Some("0 3 * * *".into())), "t-1"),
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-21T03:00:00Z"))),
            ..ScrapeJobStatus::default()
        },
    );
    let p = decide(&sj, vec![], "2026-11-22T01:00:00Z");
    let create = p.create.as_ref().unwrap();
    assert_eq!(create.trigger, Trigger::RunNow("t-1".into()));
    assert_eq!(p.status.last_run_now_token.as_deref(), Some("t-1"));

    let sj = with_status(sj, p.status.clone());
    let runs = vec![run(
        &create.job_name,
        RunState::Succeeded,
        "2026-11-22T01:00:00Z",
    )];
    let again = decide(&sj, runs.clone(), "2026-11-22T01:30:00Z");
    assert_eq!(again.create, None, "the same token never runs twice");

    let sj = annotated(sj, "t-2");
    let third = decide(&sj, runs, "2026-11-22T01:31:00Z");
    assert_eq!(third.create.unwrap().trigger, Trigger::RunNow("t-2".into()));
}

#[test]
fn run_now_works_while_suspended_and_waits_for_a_forbidden_overlap() {
    let sj = annotated(scrapejob(|s| s.suspend = true), "manual");
    let p = decide(&sj, vec![], "2026-11-22T01:00:00Z");
    assert!(p.create.is_some());
    assert_eq!(p.status.phase, Some(Phase::Running));

    let p = decide(
        &sj,
        vec![run(
            "nightly-aaaa0001",
            RunState::Active,
            "2026-11-22T00:00:05Z",
        )],
        "2026-11-22T01:00:00Z",
    );
    assert_eq!(p.create, None);
    assert_eq!(p.status.last_run_now_token, None, "still pending");
}

#[test]
fn invalid_spec_is_reported_once_and_starts_nothing() {
    let sj = scrapejob(|s| {
        s.schedule = Some("61 * * * *".into());
        s.targets.list_pages = Some(PageRange { from: 9, to: 2 });
    });
    let p = decide(&sj, vec![], "2026-11-22T01:00:00Z");
    assert_eq!(p.create, None);
    assert_eq!(p.status.phase, Some(Phase::Failed));
    let ready = cond(&p, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(ready.message.contains("spec.schedule"), "{}", ready.message);
    assert!(ready.message.contains("spec.targets.listPages"));
    assert_eq!(p.events[0].kind, EventKind::Warning);
    assert_eq!(reasons(&p), ["InvalidSpec"]);

    let sj = with_status(sj, p.status);
    let again = decide(&sj, vec![], "2026-11-22T01:01:00Z");
    assert!(again.events.is_empty(), "no repeat while nothing changed");
    assert_eq!(
        cond(&again, "Ready").last_transition_time,
        Time(ts("2026-11-22T01:00:00Z"))
    );
}

#[test]
fn a_spec_naming_a_host_outside_the_egress_policy_is_not_ready_and_starts_nothing() {
    for (base, api, field) in [
        (
            "http://169.254.169.254/latest/meta-data",
            "https://api.openmoney.md",
            "spec.baseUrl",
        ),
        (
            "https://openmoney.md",
            "http://kubernetes.default.svc",
            "spec.apiUrl",
        ),
    ] {
        let sj = scrapejob(|s| {
            s.base_url = base.into();
            s.api_url = api.into();
        });
        let p = decide(&sj, vec![], "2026-11-22T00:00:05Z");
        assert_eq!(p.create, None, "{base} {api}");
        let ready = cond(&p, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(ready.message.contains(field), "{}", ready.message);
        assert!(
            ready.message.contains("SCRAPER_ALLOWED_HOSTS"),
            "{}",
            ready.message
        );
        assert_eq!(reasons(&p), ["InvalidSpec"]);
    }
    // The same spec is fine where the operator allows the host.
    let sj = scrapejob(|s| {
        s.base_url = "http://demo-site.gleaner.svc:8080".into();
        s.api_url = "http://demo-site.gleaner.svc:8080".into();
    });
    let allowed = gleaner_scrapejob::egress::policy("demo-site.gleaner.svc:8080", "").unwrap();
    let p = plan(&Observed {
        egress: &allowed,
        scrapejob: &sj,
        runs: vec![],
        summary: None,
        now: ts("2026-11-22T00:00:05Z"),
    });
    assert!(p.create.is_some());
    assert_eq!(cond(&p, "Ready").status, "True");
}

#[test]
fn fixing_a_spec_flips_ready_and_its_transition_time() {
    let bad = scrapejob(|s| s.targets.list_pages = Some(PageRange { from: 9, to: 2 }));
    let p = decide(&bad, vec![], "2026-11-22T01:00:00Z");
    let mut good = with_status(scrapejob(|_| {}), p.status);
    good.metadata.generation = Some(3);
    let p = decide(&good, vec![], "2026-11-22T01:05:00Z");
    let ready = cond(&p, "Ready");
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, Some(3));
    assert_eq!(ready.last_transition_time, Time(ts("2026-11-22T01:05:00Z")));
    assert!(p.create.is_some());
}

#[test]
fn history_limits_prune_the_oldest_finished_runs() {
    let runs = vec![
        run("s1", RunState::Succeeded, "2026-11-22T01:00:00Z"),
        run("s2", RunState::Succeeded, "2026-11-22T02:00:00Z"),
        run("s3", RunState::Succeeded, "2026-11-22T03:00:00Z"),
        run("s4", RunState::Succeeded, "2026-11-22T04:00:00Z"),
        run("s5", RunState::Succeeded, "2026-11-22T05:00:00Z"),
        run("f1", RunState::Failed, "2026-11-22T01:30:00Z"),
        run("f2", RunState::Failed, "2026-11-22T02:30:00Z"),
        run("f3", RunState::Failed, "2026-11-22T03:30:00Z"),
        run("a1", RunState::Active, "2026-11-22T00:30:00Z"),
    ];
    assert_eq!(prune(&runs, 3, 1), ["s1", "s2", "f1", "f2"]);
    assert_eq!(prune(&runs, 0, 0).len(), 8);
    assert!(prune(&runs, 100, 100).is_empty());
    let mut deleting = runs.clone();
    deleting[0].deleting = true;
    assert_eq!(prune(&deleting, 3, 1), ["s2", "f1", "f2"], "already going");

    let sj = scrapejob(|_| {});
    let p = decide(&sj, runs, "2026-11-22T06:00:00Z");
    assert_eq!(p.prune, ["s1", "s2", "f1", "f2"]);
}

/// What `scraper run` writes for each status reaches the status as the same outcome: the Job
/// state follows the scraper's exit code, the summary refines it (cancelled included).
#[test]
fn every_run_status_the_scraper_writes_reaches_the_status() {
    use gleaner_scrapejob::RunStatus;
    for status in RunStatus::ALL {
        let mut written = RunSummary::new("0b6c1a55-run", status);
        written.started_at = Some("2026-11-22T00:00:06Z".into());
        written.finished_at = Some("2026-11-22T00:03:00Z".into());
        written.pages_fetched = 12;
        written.pages_failed = 1;
        written.companies_created = 4;
        written.companies_updated = 2;
        if status != RunStatus::Succeeded {
            written.failure = Some(format!("the run ended {status}"));
        }
        // Kubernetes hands back the termination log, or the log's tail ending in the summary.
        let tail = format!("{{\"level\":\"INFO\"}}\n{}\n", written.to_line());
        for message in [written.to_line(), tail] {
            let read = RunSummary::from_termination_message(&message).unwrap();
            assert_eq!(read, written);
            let state = if status.exit_code() == 0 {
                RunState::Succeeded
            } else {
                RunState::Failed
            };
            let sj = scrapejob(|_| {});
            let p = plan(&Observed {
                egress: &gleaner_scrapejob::egress::default_policy(),
                scrapejob: &sj,
                runs: vec![run("nightly-aaaa0001", state, "2026-11-22T00:00:05Z")],
                summary: Some(("nightly-aaaa0001".into(), read)),
                now: ts("2026-11-22T00:06:00Z"),
            });
            let last = p.status.last_run.as_ref().unwrap();
            let (result, phase, reason) = match status {
                RunStatus::Succeeded => (RunResult::Succeeded, Phase::Succeeded, "RunSucceeded"),
                RunStatus::Cancelled => (RunResult::Cancelled, Phase::Failed, "RunCancelled"),
                // A Job that ended with its run still queued or running did not finish it.
                RunStatus::Failed | RunStatus::Queued | RunStatus::Running => {
                    (RunResult::Failed, Phase::Failed, "RunFailed")
                }
            };
            assert_eq!(last.result, Some(result), "{status}");
            assert_eq!(p.status.phase, Some(phase), "{status}");
            assert_eq!(reasons(&p), [reason], "{status}");
            assert_eq!(
                (
                    last.pages_fetched,
                    last.pages_failed,
                    last.companies_written
                ),
                (12, 1, 6),
                "{status}"
            );
            assert_eq!(
                last.started_at.as_ref().map(|t| t.0),
                Some(ts("2026-11-22T00:00:06Z")),
                "{status}"
            );
            assert_eq!(
                last.finished_at.as_ref().map(|t| t.0),
                Some(ts("2026-11-22T00:03:00Z"))
            );
            if status == RunStatus::Cancelled {
                assert_eq!(last.message.as_deref(), Some("the run ended cancelled"));
                assert_eq!(cond(&p, "Failed").reason, "RunCancelled");
            }
        }
    }
}

fn sharded(mut run: ObservedRun, shards: u32) -> ObservedRun {
    run.shards = shards;
    run
}

fn shards_summary(status: gleaner_scrapejob::RunStatus, failure: Option<&str>) -> RunSummary {
    let mut s = RunSummary::new("nightly-aaaa0001-id", status);
    s.pages_fetched = 40;
    s.pages_failed = 2;
    s.companies_created = 12;
    s.companies_updated = 3;
    s.failure = failure.map(Into::into);
    s
}

fn running_status(name: &str) -> ScrapeJobStatus {
    ScrapeJobStatus {
        last_run: Some(LastRun {
            name: name.into(),
            result: Some(RunResult::Running),
            started_at: Some(Time(ts("2026-11-22T00:00:05Z"))),
            ..LastRun::default()
        }),
        ..ScrapeJobStatus::default()
    }
}

#[test]
fn a_sharded_run_is_read_while_it_goes_and_a_single_one_when_it_ends() {
    let sj = with_status(
        scrapejob(|s| s.shards = 4),
        running_status("nightly-aaaa0001"),
    );
    let active = run("nightly-aaaa0001", RunState::Active, "2026-11-22T00:00:05Z");
    let wanted = |runs: &[ObservedRun]| summary_wanted(&sj, runs).map(|r| r.name.clone());
    assert_eq!(wanted(std::slice::from_ref(&active)), None);
    assert_eq!(
        wanted(&[sharded(active.clone(), 4)]),
        Some("nightly-aaaa0001".into())
    );
    let mut leaving = sharded(active, 4);
    leaving.deleting = true;
    assert_eq!(wanted(&[leaving]), None);
    let done = sharded(
        run(
            "nightly-aaaa0001",
            RunState::Succeeded,
            "2026-11-22T00:00:05Z",
        ),
        4,
    );
    assert_eq!(
        wanted(std::slice::from_ref(&done)),
        Some("nightly-aaaa0001".into())
    );
    // Once the status holds the result, the pods are not read again.
    let p = plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &sj,
        runs: vec![done.clone()],
        summary: Some((
            "nightly-aaaa0001".into(),
            shards_summary(gleaner_scrapejob::RunStatus::Succeeded, None),
        )),
        now: ts("2026-11-22T00:06:00Z"),
    });
    let recorded = with_status(sj.clone(), p.status);
    assert_eq!(summary_wanted(&recorded, &[done]), None);
}

#[test]
fn a_sharded_run_shows_the_finished_shards_while_the_rest_go() {
    let sj = with_status(
        scrapejob(|s| s.shards = 4),
        running_status("nightly-aaaa0001"),
    );
    let p = plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &sj,
        runs: vec![sharded(
            run("nightly-aaaa0001", RunState::Active, "2026-11-22T00:00:05Z"),
            4,
        )],
        summary: Some((
            "nightly-aaaa0001".into(),
            shards_summary(gleaner_scrapejob::RunStatus::Running, None),
        )),
        now: ts("2026-11-22T00:02:00Z"),
    });
    assert_eq!(p.status.phase, Some(Phase::Running));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.result, Some(RunResult::Running));
    assert_eq!((last.pages_fetched, last.companies_written), (40, 15));
    assert_eq!(last.finished_at, None);
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert_eq!(cond(&p, "Running").status, "True");
}

#[test]
fn one_failing_shard_fails_the_run_and_is_named() {
    use gleaner_scrapejob::RunStatus;
    let sj = with_status(
        scrapejob(|s| s.shards = 4),
        running_status("nightly-aaaa0001"),
    );
    let decide_with = |state: RunState, summary: RunSummary| {
        plan(&Observed {
            egress: &gleaner_scrapejob::egress::default_policy(),
            scrapejob: &sj,
            runs: vec![sharded(
                run("nightly-aaaa0001", state, "2026-11-22T00:00:05Z"),
                4,
            )],
            summary: Some(("nightly-aaaa0001".into(), summary)),
            now: ts("2026-11-22T00:06:00Z"),
        })
    };
    // The Job failed at the backoff limit; the shards tell why.
    let p = decide_with(
        RunState::Failed,
        shards_summary(
            RunStatus::Failed,
            Some("shard 1/4: timed out; shard 2/4: cancelled"),
        ),
    );
    assert_eq!(p.status.phase, Some(Phase::Failed));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.result, Some(RunResult::Failed));
    assert_eq!(
        last.message.as_deref(),
        Some("BackoffLimitExceeded; shard 1/4: timed out; shard 2/4: cancelled")
    );
    assert_eq!(last.pages_fetched, 40);
    assert_eq!(reasons(&p), ["RunFailed"]);
    assert!(p.events[0].note.contains("shard 1/4: timed out"));

    // The Job completed, but a shard left no summary: the run failed.
    let p = decide_with(
        RunState::Succeeded,
        shards_summary(
            RunStatus::Failed,
            Some("shard 3/4 left no summary: pod x exited with code 0"),
        ),
    );
    assert_eq!(p.status.phase, Some(Phase::Failed));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(
        last.message.as_deref(),
        Some("shard 3/4 left no summary: pod x exited with code 0")
    );
    assert_eq!(cond(&p, "Failed").status, "True");

    // Every shard succeeded: the counters are the sum.
    let p = decide_with(
        RunState::Succeeded,
        shards_summary(RunStatus::Succeeded, None),
    );
    assert_eq!(p.status.phase, Some(Phase::Succeeded));
    let last = p.status.last_run.as_ref().unwrap();
    assert_eq!(last.message, None);
    assert_eq!(
        (
            last.pages_fetched,
            last.pages_failed,
            last.companies_written
        ),
        (40, 2, 15)
    );
}

#[test]
fn concurrency_policy_and_history_treat_a_sharded_run_as_one_run() {
    let sj = scrapejob(|s| {
        s.shards = 4;
        s.schedule = Some("0 * * * *".into());
        s.successful_runs_history_limit = 1;
    });
    let sj = with_status(
        sj,
        ScrapeJobStatus {
            last_scheduled_at: Some(Time(ts("2026-11-22T00:00:00Z"))),
            ..running_status("nightly-bbbb0002")
        },
    );
    let runs = vec![
        sharded(
            run(
                "nightly-aaaa0001",
                RunState::Succeeded,
                "2026-11-21T22:00:00Z",
            ),
            4,
        ),
        sharded(
            run(
                "nightly-aaaa0000",
                RunState::Succeeded,
                "2026-11-21T21:00:00Z",
            ),
            4,
        ),
        sharded(
            run("nightly-bbbb0002", RunState::Active, "2026-11-22T00:00:05Z"),
            4,
        ),
    ];
    let p = decide(&sj, runs.clone(), "2026-11-22T01:00:10Z");
    assert_eq!(
        p.create, None,
        "Forbid: the running sharded run blocks the next"
    );
    assert_eq!(reasons(&p), ["RunSkipped"]);
    assert_eq!(p.prune, ["nightly-aaaa0000"]);

    let mut replace = sj;
    replace.spec.concurrency_policy = ConcurrencyPolicy::Replace;
    let p = decide(&replace, runs, "2026-11-22T01:00:10Z");
    assert_eq!(p.replace, ["nightly-bbbb0002"]);
    assert!(p.create.is_some());
}

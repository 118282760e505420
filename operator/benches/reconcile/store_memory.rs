//! Memory and CPU with N ScrapeJobs (10,000 by default): fills a reflector store the way
//! the controller's watcher does (managedFields dropped), updates every object, then
//! reconciles every object twice against an instant in-process API server, printing RSS
//! (from /proc/self/status) and CPU time (from /proc/self/stat) after each step.

use std::sync::Arc;
use std::time::Instant;

use gleaner_operator::controller::{Context, reconcile};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::run::RunSettings;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};
use kube::ResourceExt;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;

use crate::mock;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // fields[0] is the state (3rd field overall), so utime/stime are at 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// Fill, update and reconcile `n` ScrapeJobs, printing RSS and CPU after each step.
pub fn run(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = |step: &str, base: u64| {
        let rss = rss_kib();
        println!(
            "{step:<44} RSS {:>7.1} MiB  (+{:>6.1} MiB)  CPU {:>6.2} s",
            rss as f64 / 1024.0,
            rss.saturating_sub(base) as f64 / 1024.0,
            cpu_seconds()
        );
    };

    let base = rss_kib();
    report("start", base);
    let (reader, writer) = reflector::store();
    let mut writer = writer;
    let managed = ManagedFieldsEntry {
        api_version: Some("gleaner.dev/v1alpha1".into()),
        fields_type: Some("FieldsV1".into()),
        manager: Some("kubectl-client-side-apply".into()),
        operation: Some("Update".into()),
        time: Some(Time(mock::now())),
        ..ManagedFieldsEntry::default()
    };
    let make = |i: usize| {
        let sj = mock::scrapejob(&format!("scrapejob-{i:05}"), i);
        let jobs = vec![mock::running_job(&sj)];
        let mut sj = mock::settled(sj, &jobs);
        sj.metadata.managed_fields = Some(vec![managed.clone()]);
        // What the controller's watcher does before the store sees an object.
        sj.managed_fields_mut().clear();
        sj
    };
    writer.apply_watcher_event(&Event::Init);
    for i in 0..n {
        writer.apply_watcher_event(&Event::InitApply(make(i)));
    }
    writer.apply_watcher_event(&Event::InitDone);
    assert_eq!(reader.state().len(), n);
    report(&format!("{n} ScrapeJobs in the store"), base);

    for i in 0..n {
        let mut sj = make(i);
        sj.metadata.resource_version = Some(format!("{}", 50_000 + i));
        writer.apply_watcher_event(&Event::Apply(sj));
    }
    assert_eq!(reader.state().len(), n);
    report(&format!("{n} updates applied (same objects)"), base);

    // Reconcile every object through the full path: LIST, create Job, apply status, event.
    let objects = reader.state();
    let probe = objects[0].clone();
    let ctx = rt.block_on(async {
        Arc::new(
            Context::new(
                mock::client(vec![], &probe),
                RunSettings::default(),
                Metrics::new(),
                "memory",
            )
            .with_clock(mock::now),
        )
    });
    for pass in 1..=2 {
        let cpu = cpu_seconds();
        let wall = Instant::now();
        rt.block_on(async {
            for sj in &objects {
                reconcile(sj.clone(), ctx.clone()).await.expect("reconcile");
            }
        });
        let cpu = cpu_seconds() - cpu;
        report(&format!("{n} reconciles, pass {pass}"), base);
        println!(
            "    pass {pass}: {:.1} µs CPU per reconcile, {:.1} µs wall per reconcile",
            cpu * 1e6 / n as f64,
            wall.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    drop(objects);
}

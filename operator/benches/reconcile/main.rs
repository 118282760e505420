//! Cost of one reconcile against an instant in-process API server, and of the pure decision:
//! `cargo bench -p gleaner-operator --bench reconcile`.
//!
//! With `store-memory [N]`, memory and CPU with N ScrapeJobs in a reflector store instead:
//! `cargo bench -p gleaner-operator --bench reconcile -- store-memory [N]`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use gleaner_operator::controller::{Context, reconcile};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::plan::{Observed, plan};
use gleaner_operator::run::{ObservedRun, RunSettings};

mod mock;
mod store_memory;

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // Steady state: a run is going and the status already says so (one LIST, no writes).
    let sj = mock::scrapejob("nightly", 1);
    let jobs = vec![mock::running_job(&sj)];
    let settled = Arc::new(mock::settled(sj, &jobs));
    let ctx = rt.block_on(async {
        Arc::new(
            Context::new(
                mock::client(jobs.clone(), &settled),
                RunSettings::default(),
                Metrics::new(),
                "bench",
            )
            .with_clock(mock::now),
        )
    });
    c.bench_function("reconcile/steady_state", |b| {
        b.iter(|| {
            rt.block_on(reconcile(settled.clone(), ctx.clone()))
                .expect("reconcile")
        })
    });

    // A due run: LIST, create the Job, apply the status, publish the event.
    let fresh = Arc::new(mock::scrapejob("fresh", 2));
    let ctx_fresh = rt.block_on(async {
        Arc::new(
            Context::new(
                mock::client(vec![], &fresh),
                RunSettings::default(),
                Metrics::new(),
                "bench",
            )
            .with_clock(mock::now),
        )
    });
    c.bench_function("reconcile/start_run", |b| {
        b.iter(|| {
            rt.block_on(reconcile(fresh.clone(), ctx_fresh.clone()))
                .expect("reconcile")
        })
    });

    // The pure decision alone.
    let runs: Vec<ObservedRun> = jobs.iter().map(ObservedRun::from_job).collect();
    c.bench_function("plan/steady_state", |b| {
        b.iter(|| {
            black_box(plan(&Observed {
                egress: &gleaner_scrapejob::egress::default_policy(),
                scrapejob: &settled,
                runs: runs.clone(),
                summary: None,
                now: mock::now(),
            }))
        })
    });
}

criterion_group!(reconcile_benches, benches);

fn main() {
    // cargo passes the arguments after `--`, then `--bench`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "store-memory") {
        let n = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(10_000);
        store_memory::run(n);
        return;
    }
    reconcile_benches();
    Criterion::default().configure_from_args().final_summary();
}

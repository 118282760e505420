//! `operator`: runs the ScrapeJob controller (default), or `operator crdgen` prints the CRD.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use gleaner_operator::controller::run_controller;
use gleaner_operator::crd;
use gleaner_operator::leader::{LeaderElector, LeaseConfig};
use gleaner_operator::metrics::{ServerState, serve};
use gleaner_operator::settings::{Cli, Command};
use gleaner_telemetry::shutdown_signal;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{error, info};

/// The operator's name in logs and traces (`OTEL_SERVICE_NAME` overrides it in traces).
const SERVICE: &str = "operator";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Crdgen) = cli.command {
        return match crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = cli.settings;
    let _telemetry = match gleaner_telemetry::init(SERVICE, settings.log.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("cannot set up telemetry: {e:#}");
            return ExitCode::FAILURE;
        }
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        }
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let state = ServerState::default();
    let server = tokio::spawn(serve(
        settings.listen_addr,
        state.clone(),
        stopped(stop_rx.clone()),
    ));

    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot configure the Kubernetes client");
            return ExitCode::FAILURE;
        }
    };
    match client.apiserver_version().await {
        Ok(v) => info!(version = %v.git_version, "connected to the Kubernetes API"),
        Err(e) => {
            error!(error = %e, "cannot reach the Kubernetes API");
            return ExitCode::FAILURE;
        }
    }
    state.ready.store(true, Ordering::Relaxed);
    let identity = settings.identity();

    let lease_lost = Arc::new(AtomicBool::new(false));
    let mut holder = None;
    if settings.leader_election {
        let namespace = settings
            .pod_namespace
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let elector = Arc::new(LeaderElector::new(
            Api::namespaced(client.clone(), &namespace),
            LeaseConfig::new(&settings.lease_name, &identity),
        ));
        info!(lease = %settings.lease_name, %namespace, %identity, "waiting to lead");
        if !elector.acquire(&mut stop_rx.clone()).await {
            return ExitCode::SUCCESS;
        }
        let rx = stop_rx.clone();
        let stop_tx = stop_tx.clone();
        let lost = lease_lost.clone();
        holder = Some(tokio::spawn(async move {
            if !elector.hold(rx).await {
                error!("lost the leader lease: stopping");
                lost.store(true, Ordering::Relaxed);
                let _ = stop_tx.send(true);
            }
        }));
    }

    info!("controller starting");
    run_controller(
        client,
        &settings,
        state.metrics.clone(),
        &identity,
        state.store.clone(),
        stopped(stop_rx.clone()),
    )
    .await;
    info!("controller stopped");
    let _ = stop_tx.send(true);
    if let Some(holder) = holder {
        let _ = holder.await;
    }
    let _ = server.await;
    if lease_lost.load(Ordering::Relaxed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

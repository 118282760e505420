//! The `operator` binary end to end against the fake API server: `crdgen` prints the
//! committed CRD; `operator` connects, takes the Lease, serves /health, /ready and /metrics,
//! reconciles, logs JSON lines, and on SIGTERM stops gracefully and releases the Lease.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::Method;

use crate::support::fake_api;

const BIN: &str = env!("CARGO_BIN_EXE_operator");

#[test]
fn operator_crdgen_prints_the_committed_crd() {
    let out = Command::new(BIN).arg("crdgen").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/crd/scrapejob.yaml"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((code, body))
}

#[tokio::test]
async fn operator_leads_serves_metrics_and_stops_on_sigterm() {
    let (api, fake) = fake_api::start("gleaner").await;
    let dir = std::env::temp_dir().join(format!("gleaner-operator-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut f = std::fs::File::create(&kubeconfig).unwrap();
    write!(
        f,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\n\
         users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: gleaner\n\
         current-context: fake\n"
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(BIN)
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("LISTEN_ADDR", listen.to_string())
        .env("POD_NAME", "replica-test")
        .env("POD_NAMESPACE", "gleaner")
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Bounded wait for leadership, readiness and a reconcile.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http_get(listen, "/ready").await.map(|r| r.0) == Some(200);
        if ready && fake.saw(&Method::PATCH, "/status") {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("operator did not come up: {:#?}", fake.seen());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lease = fake.lease.lock().unwrap().clone().expect("lease created");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-test");
    assert_eq!(http_get(listen, "/health").await.unwrap().0, 200);
    let (code, metrics) = http_get(listen, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("operator_reconciles_total"), "{metrics}");
    assert!(metrics.contains("operator_reconcile_duration_seconds_bucket"));
    assert!(
        metrics.contains(r#"operator_scrapejobs{phase="Pending"} 1"#),
        "{metrics}"
    );

    // A small footprint: the whole process, leading and serving, stays well under the
    // Deployment's 128 MiB limit.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    eprintln!("operator RSS while leading: {rss_kib} KiB");
    assert!(rss_kib < 64 * 1024, "RSS {rss_kib} KiB");

    // SIGTERM: graceful stop, Lease released, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("operator did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let lease = fake.lease.lock().unwrap().clone().unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );

    // The log is the services' JSON line shape, trace ids at the top level.
    let log = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        assert_eq!(line["service"], "operator", "{line}");
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line[key].is_string(), "{key}: {line}");
        }
    }
    assert!(
        lines.iter().any(|l| l["span"] == "reconcile"
            && l["scrapejob"].is_string()
            && l["trace_id"].as_str().is_some_and(|t| t.len() == 32)),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["signal"] == "SIGTERM"),
        "the shutdown signal is logged: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! SIGTERM (how Kubernetes stops a pod) resolves the shutdown signal. Alone in its
//! test binary: it signals its own process.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use gleaner_telemetry::shutdown_signal;

#[tokio::test]
async fn sigterm_resolves_the_shutdown_signal() {
    let mut signal = pin!(shutdown_signal());
    // The first poll installs the handlers; only then is SIGTERM safe to send.
    let first = std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "nothing was sent yet");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("the kill command runs");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(30), signal)
        .await
        .expect("SIGTERM resolves the shutdown signal");
}

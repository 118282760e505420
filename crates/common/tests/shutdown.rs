//! When the listener closes, an event stream (which never finishes by itself) ends
//! cleanly, so its client reconnects elsewhere at once and the drain is not held for
//! its whole timeout, while an ordinary response in flight is still delivered whole.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures::StreamExt as _;
use gleaner_common::server::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

/// Sends `GET path` on a fresh connection; returns the stream, reading nothing yet.
async fn send_get(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads until `needle` has arrived.
async fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn an_event_stream_ends_cleanly_at_shutdown_and_other_responses_finish() {
    let release_slow = Arc::new(Notify::new());
    let release = release_slow.clone();
    let slow_entered = Arc::new(Notify::new());
    let entered = slow_entered.clone();
    let router = Router::new()
        .route(
            "/events",
            get(|| async {
                let first = futures::stream::once(async {
                    Ok::<_, Infallible>(Event::default().id("1").data("first"))
                });
                Sse::new(first.chain(futures::stream::pending()))
            }),
        )
        .route(
            "/slow",
            get(move || {
                let (release, entered) = (release.clone(), entered.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    "slow answer"
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, async move {
        let _ = stopped.await;
    }));

    let mut events = send_get(addr, "/events").await;
    let mut streamed = Vec::new();
    read_until(&mut events, &mut streamed, b"data: first\n\n").await;
    let mut probe = Vec::new();
    let mut alive = send_get(addr, "/events").await;
    read_until(&mut alive, &mut probe, b"data: first\n\n").await;
    let mut slow = send_get(addr, "/slow").await;
    // The slow request is in its handler before the listener closes.
    slow_entered.notified().await;

    stop.send(()).unwrap();

    // Both event streams end with the terminating chunk: a clean end, not a cut.
    // (A deadline, not a timing assertion: a stream that is not ended stays open for as
    // long as this process lives, the drain's timeout only stops waiting for it.)
    for (stream, seen) in [(&mut events, &mut streamed), (&mut alive, &mut probe)] {
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(seen))
            .await
            .expect("the event stream was not ended at shutdown")
            .unwrap();
        let text = String::from_utf8_lossy(seen);
        assert!(text.ends_with("\r\n0\r\n\r\n"), "{text:?}");
    }

    // The ordinary request in flight is still answered whole.
    release_slow.notify_one();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("slow answer"), "{answer:?}");

    server.await.unwrap().unwrap();
}

//! A TCP fault proxy: a loopback port a service is pointed at instead of its
//! PostgreSQL or Redis, which a test can cut, stall or slow down mid-traffic and
//! restore, to prove the service answers while a dependency is away and recovers
//! without a restart once it is back.
//!
//! - [`FaultProxy::cut`]: every open connection is closed and new ones are closed
//!   as soon as they are accepted (the dependency is down).
//! - [`FaultProxy::blackhole`]: connections stay open but no byte passes, and new
//!   ones are accepted and left waiting (a network partition: only timeouts help).
//! - [`FaultProxy::slow`]: every chunk is held for a while before it is passed on.
//! - [`FaultProxy::restore`]: bytes pass again; new connections reach the target.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Bytes read from one side before they are passed on.
const CHUNK_BYTES: usize = 16 * 1024;

/// What the proxy does to traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass untouched.
    None,
    /// Connections are closed, open ones and new ones.
    Cut,
    /// Connections stay open and nothing passes.
    Blackhole,
    /// Each chunk waits this long before it is passed on.
    Slow(Duration),
}

/// A loopback TCP proxy in front of one target, with faults on request.
/// Dropping it closes its port and every connection through it.
pub struct FaultProxy {
    addr: SocketAddr,
    target: SocketAddr,
    fault: watch::Sender<Fault>,
    open: watch::Receiver<usize>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a random loopback port forwarding to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fault proxy")?;
        let addr = listener.local_addr()?;
        let (fault, fault_rx) = watch::channel(Fault::None);
        let (open_tx, open) = watch::channel(0usize);
        let accept = tokio::spawn(accept_loop(listener, target, fault_rx, open_tx));
        Ok(Self {
            addr,
            target,
            fault,
            open,
            accept,
        })
    }

    /// A proxy in front of the host and port of `url` (`postgres://...`,
    /// `redis://...`), and the same URL pointing at the proxy instead.
    pub async fn in_front_of(url: &str) -> anyhow::Result<(Self, String)> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
        let host = parsed.host_str().context("the URL has no host")?.to_owned();
        let port = parsed
            .port_or_known_default()
            .or(match parsed.scheme() {
                "postgres" | "postgresql" => Some(5432),
                "redis" => Some(6379),
                _ => None,
            })
            .context("the URL has no port")?;
        let target = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .with_context(|| format!("{host}:{port} does not resolve"))?;
        let proxy = Self::start(target).await?;
        let through = proxy.url_through(url)?;
        Ok((proxy, through))
    }

    /// `url` pointing at the proxy: its host and port replaced, the rest kept.
    pub fn url_through(&self, url: &str) -> anyhow::Result<String> {
        url_via_port(url, self.addr.port())
    }

    /// The proxy's address (what the service connects to).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        *self.open.borrow()
    }

    /// Close every connection and every new one, until [`restore`](Self::restore).
    /// Returns once no connection is left open.
    pub async fn cut(&self) {
        self.fault.send_replace(Fault::Cut);
        let mut open = self.open.clone();
        // The sender lives in the accept loop, which outlives `self`'s borrow.
        let _ = open.wait_for(|n| *n == 0).await;
    }

    /// Keep connections open but pass no byte, until [`restore`](Self::restore).
    pub fn blackhole(&self) {
        self.fault.send_replace(Fault::Blackhole);
    }

    /// Hold each chunk for `delay` before passing it on, until [`restore`](Self::restore).
    pub fn slow(&self, delay: Duration) {
        self.fault.send_replace(Fault::Slow(delay));
    }

    /// Let bytes and new connections through again.
    pub fn restore(&self) {
        self.fault.send_replace(Fault::None);
    }
}

/// `url` with its host replaced by 127.0.0.1 and its port by `port` (a URL
/// made before the proxy's port is known, pointed at it afterwards).
pub fn url_via_port(url: &str, port: u16) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    parsed
        .set_host(Some("127.0.0.1"))
        .map_err(|e| anyhow::anyhow!("cannot point {url:?} at the proxy: {e}"))?;
    parsed
        .set_port(Some(port))
        .map_err(|()| anyhow::anyhow!("cannot point {url:?} at the proxy's port"))?;
    Ok(parsed.into())
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    fault: watch::Receiver<Fault>,
    open: watch::Sender<usize>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                if *fault.borrow() == Fault::Cut {
                    reset(client);
                    continue;
                }
                open.send_modify(|n| *n += 1);
                let guard = OpenGuard(open.clone());
                connections.spawn(serve_connection(client, target, fault.clone(), guard));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenGuard(watch::Sender<usize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Close with a reset rather than a polite FIN: the peer sees the connection fail.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve_connection(
    client: TcpStream,
    target: SocketAddr,
    mut fault: watch::Receiver<Fault>,
    _open: OpenGuard,
) {
    let mut cut = fault.clone();
    let relay = async {
        // A connection accepted during a blackhole waits for it to end.
        let current = *fault
            .wait_for(|f| *f != Fault::Blackhole)
            .await
            .map_err(|_| ())?;
        if current == Fault::Cut {
            return Err(());
        }
        let upstream = TcpStream::connect(target).await.map_err(|_| ())?;
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        tokio::try_join!(
            pipe(client_read, upstream_write, fault.clone()),
            pipe(upstream_read, client_write, fault.clone()),
        )
        .map(|_| ())
    };
    tokio::select! {
        _ = relay => {}
        _ = cut.wait_for(|f| *f == Fault::Cut) => {}
    }
}

/// Copy `from` to `to` chunk by chunk under the fault in force; at the end of
/// the input, pass the half-close on (dropping the write half shuts it down).
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
) -> Result<(), ()> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = from.read(&mut buf).await.map_err(|_| ())?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        loop {
            let current = *fault.borrow_and_update();
            match current {
                Fault::None => break,
                Fault::Cut => return Err(()),
                Fault::Blackhole => fault.changed().await.map_err(|_| ())?,
                Fault::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
            }
        }
        to.write_all(&buf[..n]).await.map_err(|_| ())?;
    }
}

/// Assert that `response` is a 503 problem+json whose detail names `dependency`
/// (what a service answers while PostgreSQL or Redis is away); returns the problem.
pub async fn assert_unavailable_naming(
    response: reqwest::Response,
    dependency: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.expect("a problem+json body");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(dependency),
        "the 503 names {dependency}: {problem}"
    );
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server echoing every byte back.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(message).await?;
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    /// Whether the peer closed `stream` (a read ends or fails).
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        matches!(stream.read(&mut byte).await, Ok(0) | Err(_))
    }

    #[tokio::test]
    async fn bytes_pass_through_both_ways() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(&mut stream, b"hello").await.unwrap(), b"hello");
        assert_eq!(round_trip(&mut stream, &big).await.unwrap(), big);
        assert_eq!(proxy.open_connections(), 1);
    }

    #[tokio::test]
    async fn cut_closes_open_connections_and_new_ones_until_restored() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut before = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut before, b"one").await.unwrap(), b"one");

        proxy.cut().await;
        assert_eq!(proxy.open_connections(), 0);
        assert!(closed(&mut before).await, "the open connection is closed");
        let mut during = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(
            round_trip(&mut during, b"two").await.is_err(),
            "a new connection is closed at once"
        );

        proxy.restore();
        let mut after = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut after, b"three").await.unwrap(), b"three");
    }

    #[tokio::test]
    async fn a_blackhole_holds_bytes_until_restored() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.blackhole();
        stream.write_all(b"held").await.unwrap();
        let mut back = [0u8; 4];
        // Nothing can arrive while the blackhole holds: the read stays pending.
        let pending =
            tokio::time::timeout(Duration::from_millis(200), stream.read_exact(&mut back));
        assert!(pending.await.is_err(), "no byte passes a blackhole");
        proxy.restore();
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"held");
    }

    #[tokio::test]
    async fn slow_delays_each_chunk_and_still_delivers() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.slow(Duration::from_millis(100));
        assert_eq!(proxy.fault(), Fault::Slow(Duration::from_millis(100)));
        let started = tokio::time::Instant::now();
        assert_eq!(round_trip(&mut stream, b"slow").await.unwrap(), b"slow");
        // Two chunks (there and back), each held at least the delay.
        assert!(started.elapsed() >= Duration::from_millis(200));
        proxy.restore();
        assert_eq!(round_trip(&mut stream, b"fast").await.unwrap(), b"fast");
    }

    #[tokio::test]
    async fn in_front_of_rewrites_the_url_to_the_proxy() {
        let target = echo_server().await;
        let url = format!(
            "postgres://user:pw@127.0.0.1:{}/db?sslmode=disable",
            target.port()
        );
        let (proxy, proxied) = FaultProxy::in_front_of(&url).await.unwrap();
        assert_eq!(proxy.target(), target);
        assert_eq!(
            proxied,
            format!(
                "postgres://user:pw@127.0.0.1:{}/db?sslmode=disable",
                proxy.port()
            )
        );
        let (_, redis) = FaultProxy::in_front_of(&format!("redis://127.0.0.1:{}", target.port()))
            .await
            .unwrap();
        assert!(redis.starts_with("redis://127.0.0.1:"));
    }
}

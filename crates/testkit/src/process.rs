//! A service binary run as Kubernetes runs it, for shutdown tests: started
//! on a free loopback port, sent SIGTERM, waited for; and requests written
//! whole to their own connections, so a test knows they reached the server
//! before it signals.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::{eventually, free_port};

/// How long a started binary has to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many ports `start` tries when another process takes the one it picked.
const START_ATTEMPTS: usize = 5;

/// A running service binary.
pub struct ServiceProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServiceProcess {
    /// Run `binary args...` with `env` and `LISTEN_ADDR` on a free loopback port,
    /// and wait until it answers `/health`. Its logs go to the test's output
    /// when `TEST_LOG` is set.
    pub async fn start(
        binary: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        gleaner_common::install_crypto_provider();
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let logs = || {
                if std::env::var_os("TEST_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                }
            };
            let mut child = Command::new(binary)
                .args(args)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("LISTEN_ADDR", addr.to_string())
                .stdout(logs())
                .stderr(logs())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot run {binary}"))?;
            match wait_healthy(&mut child, addr).await {
                Ok(()) => return Ok(Self { child, addr }),
                Err(e) => {
                    let _ = child.kill().await;
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("{binary} did not start")))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Send SIGTERM (what Kubernetes does to stop a pod).
    pub async fn sigterm(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the process has already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed: {status}");
        }
        Ok(())
    }

    /// Wait for the process to exit, at most `bound`.
    pub async fn wait_exit(&mut self, bound: Duration) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(bound, self.child.wait())
            .await
            .with_context(|| format!("still running {bound:?} after SIGTERM"))?
            .context("waiting for the process")
    }

    /// Whether a new connection to its port is refused now.
    pub async fn refuses_connections(&self) -> bool {
        TcpStream::connect(self.addr).await.is_err()
    }
}

async fn wait_healthy(child: &mut Child, addr: SocketAddr) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/health");
    eventually(START_TIMEOUT, || {
        let exited = child.try_wait().ok().flatten();
        let request = http.get(&url).send();
        async move {
            if exited.is_some() {
                // Ends the wait: the probe below reports it.
                return Some(false);
            }
            match request.await {
                Ok(r) if r.status().is_success() => Some(true),
                _ => None,
            }
        }
    })
    .await?
    .then_some(())
    .context("the process exited before answering /health")
}

/// One HTTP/1.1 request written whole to a connection of its own (with
/// `Connection: close`), its response not read yet. Once `send` returns, the
/// request sits in the server's socket: it was sent before anything the test
/// does next.
pub struct InFlight {
    stream: TcpStream,
}

impl InFlight {
    /// Connect to `addr` and write `method path` with `headers` and `body`.
    pub async fn send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        Ok(Self { stream })
    }

    /// Read the whole response; its status code and body.
    pub async fn response(mut self) -> anyhow::Result<(u16, String)> {
        let mut raw = Vec::new();
        self.stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("not an HTTP response: {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_flight_request_reads_its_status_and_body() {
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::post(
                |body: String| async move { (axum::http::StatusCode::CREATED, body) },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let request = InFlight::send(
            addr,
            "POST",
            "/echo",
            &[("content-type", "text/plain")],
            b"hi",
        )
        .await
        .unwrap();
        let (status, body) = request.response().await.unwrap();
        assert_eq!(status, 201);
        assert_eq!(body, "hi");
    }
}

//! A private `redis-server` per test, on a random port, that a test can stop
//! and start again to prove recovery.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::free_port;

/// How long a started server has to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports `start` tries when another server takes the one it picked.
const START_ATTEMPTS: usize = 5;

/// A private redis-server for one test.
pub struct TestRedis {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl TestRedis {
    /// Start a redis-server on a random port, with no persistence.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "gleaner-test-redis-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut redis = Self {
            port: 0,
            dir,
            child: None,
        };
        // The port is free when picked but another process may take it before
        // our server binds it: then ours exits and we pick another.
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            redis.port = free_port()?;
            match redis.restart().await {
                Ok(()) => return Ok(redis),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id of our server, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill the server (simulates Redis going down) and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port. Ready only once the server
    /// answering on the port reports our child's process id: a server left
    /// over from elsewhere on that port is never taken for ours.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &self.dir.to_string_lossy(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("cannot start {binary}: install redis-server (make test does)")
            })?;
        let ours = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "redis-server exited at start ({status}): port {} is probably taken",
                    self.port
                );
            }
            match server_process_id(self.port).await {
                Some(pid) if pid == ours => return Ok(()),
                Some(other) => {
                    self.stop();
                    bail!(
                        "port {} is answered by another redis-server (pid {other}, ours was {ours})",
                        self.port
                    );
                }
                None => {}
            }
            if Instant::now() > deadline {
                self.stop();
                bail!(
                    "redis-server did not answer on port {} within {START_TIMEOUT:?}",
                    self.port
                );
            }
            // Poll interval while the server starts.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `process_id` from `INFO server` of whatever answers on `port`, if it
/// speaks Redis.
async fn server_process_id(port: u16) -> Option<u32> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            .await
            .ok()?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&buf[..n]);
            if let Some(body) = complete_bulk_string(&reply) {
                return process_id_of(body);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

/// The payload of a RESP bulk string (`$<len>\r\n<payload>\r\n`) once all of it has arrived.
fn complete_bulk_string(reply: &[u8]) -> Option<&[u8]> {
    let rest = reply.strip_prefix(b"$")?;
    let header_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let len: usize = std::str::from_utf8(&rest[..header_end])
        .ok()?
        .parse()
        .ok()?;
    let body = rest.get(header_end + 2..header_end + 2 + len)?;
    Some(body)
}

fn process_id_of(info: &[u8]) -> Option<u32> {
    std::str::from_utf8(info)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_id_is_read_from_a_complete_info_reply() {
        let info = b"# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\ntcp_port:6379\r\n";
        let mut reply = format!("${}\r\n", info.len()).into_bytes();
        reply.extend_from_slice(info);
        reply.extend_from_slice(b"\r\n");
        assert_eq!(
            complete_bulk_string(&reply).and_then(process_id_of),
            Some(4242)
        );
        // Half a reply is not read as a whole one.
        assert_eq!(complete_bulk_string(&reply[..reply.len() / 2]), None);
        // An error reply (a password-protected server, say) has no process id.
        assert_eq!(
            complete_bulk_string(b"-NOAUTH Authentication required.\r\n"),
            None
        );
    }

    #[tokio::test]
    async fn a_started_server_is_our_child_and_another_on_its_port_is_refused() {
        let mut redis = TestRedis::start().await.unwrap();
        let pid = redis.pid().unwrap();
        assert_eq!(server_process_id(redis.port).await, Some(pid));

        // Someone else's server takes the port while ours is down.
        redis.stop();
        let mut squatter = Command::new("redis-server")
            .args(["--port", &redis.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let squatter_pid = squatter.id();
        crate::eventually(START_TIMEOUT, || async {
            (server_process_id(redis.port).await == Some(squatter_pid)).then_some(())
        })
        .await
        .unwrap();
        let refused = redis.restart().await;
        let _ = squatter.kill();
        let _ = squatter.wait();
        let err = refused.expect_err("another server's port must not pass for ours");
        assert!(
            format!("{err:#}").contains(&redis.port.to_string()),
            "{err:#}"
        );
        assert_eq!(redis.pid(), None, "our failed child is not kept");
    }
}

//! HTTP/1.1 spoken byte by byte over one TCP connection, for tests that need what a
//! client library hides: a request head and its body sent apart, and whether the
//! server keeps the connection open afterwards.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One client connection.
pub struct RawConnection {
    socket: TcpStream,
    buffered: Vec<u8>,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The head, status line included, as sent.
    pub head: String,
    /// The body (framed by `Content-Length`).
    pub body: Vec<u8>,
}

impl RawConnection {
    /// Connect to `addr`, with Nagle off so each [`RawConnection::send`] leaves at once.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        Ok(Self {
            socket,
            buffered: Vec::new(),
        })
    }

    /// Write `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.socket.write_all(bytes).await?;
        Ok(())
    }

    /// Close the sending half (the server reads end of input); reading still works.
    pub async fn finish_sending(&mut self) -> anyhow::Result<()> {
        self.socket.shutdown().await?;
        Ok(())
    }

    /// Read one response with a `Content-Length` body; an error when the server
    /// closes the connection first.
    pub async fn read_response(&mut self) -> anyhow::Result<RawResponse> {
        let head_end = loop {
            if let Some(at) = find(&self.buffered, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buffered[..head_end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("no status line in {head:?}"))?;
        let length: usize = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.trim().parse())
            .transpose()?
            .unwrap_or(0);
        while self.buffered.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buffered[head_end..head_end + length].to_vec();
        self.buffered.drain(..head_end + length);
        Ok(RawResponse { status, head, body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.socket.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buffered.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

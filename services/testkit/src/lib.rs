//! Test harness: a fresh PostgreSQL database per test on the server named by
//! `TEST_DATABASE_URL` (`make test` starts one on a random port), and a
//! private `redis-server` per test on a random port that a test can stop and
//! start again to prove recovery.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::{Connection, PgConnection};

/// Env var naming an admin URL of the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A database created for one test.
pub struct TestDatabase {
    /// URL of the fresh database.
    pub url: String,
    /// Its name.
    pub name: String,
}

/// Create an empty database with a unique name.
pub async fn fresh_database() -> anyhow::Result<TestDatabase> {
    let admin_url = std::env::var(TEST_DATABASE_URL).with_context(|| {
        format!("{TEST_DATABASE_URL} is not set: run the tests with `make test`, which starts PostgreSQL and Redis")
    })?;
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .with_context(|| format!("cannot connect to {TEST_DATABASE_URL}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let url = replace_database(&admin_url, &name)?;
    Ok(TestDatabase { url, name })
}

/// `postgres://u@h:p/db?x` with the database part replaced.
fn replace_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("database URL has no scheme")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

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
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "gleaner-test-redis-{port}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut redis = Self {
            port,
            dir,
            child: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (simulates Redis going down).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port.
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
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server did not start on port {}", self.port);
            }
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

/// A private PostgreSQL server for one test, which the test can stop and
/// start again (a database restart). Slower to start than `fresh_database`.
pub struct TestPostgres {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (make test installs it)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop().context("no PostgreSQL server binaries")
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::metadata("/proc/self")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

impl TestPostgres {
    /// initdb and start on a random port (trust authentication, loopback).
    pub async fn start() -> anyhow::Result<Self> {
        let bin = pg_bin_dir()?;
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("gleaner-test-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let pg = Self { port, dir, bin };
        if is_root() {
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(&pg.dir)
                .status()?;
        }
        let status = pg
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "-D"])
            .arg(pg.dir.join("data"))
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "initdb failed");
        pg.restart()?;
        Ok(pg)
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop the server at once, as a crash or a restart would.
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Start (again) on the same port.
    pub fn restart(&self) -> anyhow::Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port
            ))
            .arg("start")
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "pg_ctl start failed");
        Ok(())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll `f` until it returns `Some`, or fail after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs for tests, when `TEST_LOG` is set.
pub fn init_logs() {
    gleaner_common::telemetry::init_for_tests();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database("postgres://u:p@h:5/postgres?sslmode=disable", "t1").unwrap(),
            "postgres://u:p@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h:5", "t1").unwrap(),
            "postgres://u@h:5/t1"
        );
    }
}

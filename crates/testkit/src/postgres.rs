//! PostgreSQL for tests: a fresh database per test on the shared test server,
//! or a private server a test can stop and start again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::{Connection, PgConnection};

use crate::free_port;

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
    let mut conn = connect_waiting_out_startup(&admin_url)
        .await
        .with_context(|| format!("cannot connect to {TEST_DATABASE_URL}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let url = replace_database(&admin_url, &name)?;
    Ok(TestDatabase { url, name })
}

/// How long a connection waits for a server that is starting or recovering.
const STARTUP_WAIT: Duration = Duration::from_secs(90);

/// Connect to `url`. A server that answers "cannot connect now" (SQLSTATE 57P03: it is
/// starting, or replaying its log after a crash of one of its processes) is waited for,
/// up to [`STARTUP_WAIT`]: such an answer means "soon", not "never", and a whole
/// workspace of tests shares the server. Any other error is returned at once.
pub async fn connect_waiting_out_startup(url: &str) -> anyhow::Result<PgConnection> {
    let deadline = Instant::now() + STARTUP_WAIT;
    loop {
        match PgConnection::connect(url).await {
            Ok(conn) => return Ok(conn),
            Err(e) if is_cannot_connect_now(&e) && Instant::now() < deadline => {
                tracing::warn!(error = %e, "PostgreSQL is not accepting connections yet; waiting");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// SQLSTATE 57P03 `cannot_connect_now`.
fn is_cannot_connect_now(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "57P03")
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

/// How many ports `start` tries when another server takes the one it picked.
const START_ATTEMPTS: usize = 5;

impl TestPostgres {
    /// initdb and start on a random port (trust authentication, loopback).
    pub async fn start() -> anyhow::Result<Self> {
        let bin = pg_bin_dir()?;
        let dir =
            std::env::temp_dir().join(format!("gleaner-test-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let mut pg = Self { port: 0, dir, bin };
        if is_root() {
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(&pg.dir)
                .status()?;
        }
        let status = pg
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "-D"])
            .arg(pg.data_dir())
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "initdb failed");
        // The port is free when picked but another process may take it before
        // the server binds it: then the server exits and we pick another.
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            pg.port = free_port()?;
            match pg.restart().await {
                Ok(()) => return Ok(pg),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
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

    /// The last `lines` lines of the server's log (empty when it cannot be read): what
    /// to print when something that used the server failed.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stop the server at once, as a crash or a restart would.
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Start (again) on the same port, and check that the server answering
    /// there is this one (its data directory), not another on the same port.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
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
        anyhow::ensure!(
            status.success(),
            "pg_ctl start on port {} failed (see {})",
            self.port,
            self.dir.join("server.log").display()
        );
        let answering = self.answering_data_dir().await?;
        if !same_path(&answering, &self.data_dir()) {
            self.stop();
            bail!(
                "port {} is answered by another PostgreSQL (data directory {})",
                self.port,
                answering.display()
            );
        }
        Ok(())
    }

    async fn answering_data_dir(&self) -> anyhow::Result<PathBuf> {
        let mut conn = PgConnection::connect(&self.url())
            .await
            .with_context(|| format!("cannot connect to PostgreSQL on port {}", self.port))?;
        let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(PathBuf::from(dir))
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

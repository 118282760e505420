//! `make up`'s own PostgreSQL and Redis: kept servers with their data under `.gleaner/`,
//! still running after the task ends (`make down` stops them), unlike testkit's
//! throwaway ones.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::{Connection as _, PgConnection};

/// Whether a PostgreSQL server answers at `url`.
pub async fn postgres_answers(url: &str) -> bool {
    let connect = async {
        let conn = PgConnection::connect(url).await.ok()?;
        conn.close().await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), connect).await,
        Ok(Some(()))
    )
}

/// Create `name` on the server of `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the database {name}"))?;
    }
    conn.close().await?;
    Ok(())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The newest installed PostgreSQL's binaries.
fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed")?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL server binaries")
}

/// A PostgreSQL tool, run as the `postgres` user when we are root (it refuses root).
fn pg_tool(tool: &str) -> anyhow::Result<Command> {
    let path = pg_bin_dir()?.join(tool);
    Ok(if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    })
}

fn succeed(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// initdb `data` if it is empty, and start a server on 127.0.0.1:`port` with trust
/// authentication; it keeps running when we exit.
pub fn start_postgres(data: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    if is_root() {
        succeed(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:postgres").arg(data);
                c
            },
            "chown",
        )?;
    }
    std::fs::set_permissions(data, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    if !data.join("PG_VERSION").exists() {
        let mut initdb = pg_tool("initdb")?;
        initdb.arg("-D").arg(data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]);
        succeed(initdb, "initdb")?;
    }
    let mut start = pg_tool("pg_ctl")?;
    start
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(data.join("server.log"))
        .args(["-w", "-t", "60", "-o"])
        .arg(format!(
            "-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        ))
        .arg("start");
    succeed(start, "pg_ctl start").with_context(|| {
        format!(
            "PostgreSQL did not start; see {}",
            data.join("server.log").display()
        )
    })
}

/// Whether a Redis server answers PING at `url`.
pub fn redis_answers(url: &str) -> bool {
    Command::new("redis-cli")
        .args(["-u", url, "ping"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

/// The process id the Redis server on 127.0.0.1:`port` reports.
fn redis_pid(port: u16) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "server"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("process_id:").map(str::to_owned))
}

/// A daemonized redis-server on 127.0.0.1:`port` with its data, pid file (`redis.pid`) and
/// log in `dir`, ready once the server answering on the port is the one we started.
pub async fn start_redis(dir: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let pid_file = dir.join("redis.pid");
    let status = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(["--daemonize", "yes", "--pidfile"])
        .arg(&pid_file)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .args(["--save", "60 1", "--appendonly", "no"])
        .stdout(Stdio::null())
        .status()
        .context("running redis-server")?;
    if !status.success() {
        bail!("redis-server failed ({status})");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let ours = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if !ours.trim().is_empty() && redis_pid(port).as_deref() == Some(ours.trim()) {
            return Ok(());
        }
        // Poll interval while the server starts.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "redis-server did not start on port {port}; see {}",
        dir.join("redis.log").display()
    )
}

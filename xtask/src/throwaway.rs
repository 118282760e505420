//! A throwaway stack's servers: a private PostgreSQL and Redis from gleaner-testkit (random
//! ports, removed when dropped), a database per service, and the wiring of the stack on
//! them with a free port for every service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gleaner_stack::{Admin, Demo, Service, Tuning, Wiring};
use gleaner_testkit::{TestPostgres, TestRedis, free_port};
use sqlx::{Connection as _, PgConnection};

use crate::process::run_once;

/// A private PostgreSQL with `settings` (`ALTER SYSTEM`, then a restart) on top of
/// testkit's; `max_connections` 300, as a whole workspace of tests needs.
pub async fn postgres(settings: &[(&str, &str)]) -> anyhow::Result<TestPostgres> {
    let pg = TestPostgres::start().await?;
    let mut conn = PgConnection::connect(&pg.url()).await?;
    for (name, value) in [("max_connections", "300")].iter().chain(settings) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER SYSTEM SET {name} = '{value}'"
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("setting {name}"))?;
    }
    conn.close().await?;
    pg.stop();
    pg.restart().await?;
    Ok(pg)
}

/// Run SQL statements on a database of `pg`.
pub async fn sql(pg: &TestPostgres, database: &str, statement: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&database_url(pg, database)).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .with_context(|| format!("{statement} on {database}"))?;
    conn.close().await?;
    Ok(())
}

/// The URL of `database` on `pg`.
pub fn database_url(pg: &TestPostgres, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{}/{database}", pg.port)
}

/// A throwaway stack: its servers, a work directory, and how its services are wired.
pub struct Platform {
    /// How the services are wired on these servers.
    pub wiring: Wiring,
    /// The PostgreSQL (a database per service on it) and Redis servers, stopped and
    /// removed with the platform.
    _servers: (TestPostgres, TestRedis),
    /// A directory removed when the platform is dropped (the signing key is there).
    pub work: WorkDir,
}

impl Platform {
    /// PostgreSQL with a database per service, Redis, a free port for every service and
    /// the demo site, identity's signing key in the work directory.
    pub async fn start(tuning: Tuning, admin: Option<Admin>, demo: Demo) -> anyhow::Result<Self> {
        let work = WorkDir::new("xtask")?;
        let postgres = postgres(&[]).await?;
        let redis = TestRedis::start().await?;
        let mut databases = BTreeMap::new();
        for service in Service::WITH_DATABASE {
            sql(
                &postgres,
                "postgres",
                &format!("CREATE DATABASE {}", service.name()),
            )
            .await?;
            databases.insert(service, database_url(&postgres, service.name()));
        }
        let mut ports = BTreeMap::new();
        for service in Service::PLATFORM.into_iter().chain([Service::DemoSite]) {
            ports.insert(service, free_port()?);
        }
        let wiring = Wiring {
            host: "127.0.0.1".into(),
            ports,
            redis_url: redis.url(),
            databases,
            signing_key: work.path().join("signing.pem").display().to_string(),
            admin,
            demo,
            tuning,
        };
        Ok(Self {
            wiring,
            _servers: (postgres, redis),
            work,
        })
    }

    /// Migrate every service's database and generate identity's signing key, with the
    /// binaries in `bin`.
    pub fn migrate_and_keygen(&self, bin: &Path) -> anyhow::Result<()> {
        for (service, url) in &self.wiring.databases {
            run_once(bin, service.name(), &["migrate"], &[("DATABASE_URL", url)])?;
        }
        run_once(
            bin,
            "identity",
            &["keygen", "--out", &self.wiring.signing_key],
            &[],
        )?;
        Ok(())
    }
}

/// A temporary directory (world-readable: PostgreSQL's user reads under it), removed when
/// dropped unless `XTASK_KEEP=1`.
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// `/tmp/gleaner-<what>-<random>`.
    pub fn new(what: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("gleaner-{what}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var("XTASK_KEEP").is_ok_and(|v| v == "1") {
            crate::step!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

//! The whole platform for end-to-end tests, reached through the gateway only.
//!
//! By default [`Stack::start`] builds and starts the real binaries (identity,
//! scraper, app, gateway) on free loopback ports, with a fresh PostgreSQL
//! database each on the server named by `TEST_DATABASE_URL` (`make test`
//! provides one) and a private Redis. With `E2E_BASE_URL` set it uses that
//! running stack instead (`make up`: `E2E_BASE_URL=http://127.0.0.1:8080`),
//! with the admin password from `E2E_ADMIN_PASSWORD`, `GLEANER_ADMIN_PASSWORD`
//! or `.gleaner/admin-password`. Either way the site scraped is a demo site
//! started in the test process, so the test can change a company between runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use gleaner_demo_site::{DemoConfig, DemoSite, DemoSiteHandle};
use gleaner_stack::{Admin, Demo, Service, Tuning, Wiring};
use gleaner_testkit::{TestDatabase, TestRedis, eventually, free_port, fresh_database};

/// The admin's email on a stack this harness starts.
pub const ADMIN_EMAIL: &str = "admin@gleaner.local";
const ADMIN_PASSWORD: &str = "e2e-Admin-passphrase-42";
/// How long a started service has to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A service process, killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes and databases of a stack the harness started.
struct Local {
    services: Vec<Process>,
    redis: TestRedis,
    _databases: Vec<TestDatabase>,
    dir: PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.services.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running platform.
pub struct Stack {
    /// The gateway's base URL; every request of a test goes there.
    pub gateway: String,
    /// The admin's login (email) and password.
    pub admin: (String, String),
    /// The site the scrape jobs of the test fetch from.
    pub demo: DemoSiteHandle,
    local: Option<Local>,
}

impl Stack {
    /// The stack named by `E2E_BASE_URL`, or a new one.
    pub async fn start(demo: DemoConfig) -> anyhow::Result<Self> {
        Self::start_with_env(demo, Vec::new()).await
    }

    /// Like [`Stack::start`], with `env` added to (or replacing) every started
    /// service's environment, e.g. an OTLP endpoint. A running stack named by
    /// `E2E_BASE_URL` is used as it is.
    pub async fn start_with_env(
        demo: DemoConfig,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        gleaner_common::install_crypto_provider();
        gleaner_testkit::init_logs();
        let demo = DemoSite::start(demo)
            .await
            .context("starting the demo site")?;
        match std::env::var("E2E_BASE_URL") {
            Ok(base) if !base.trim().is_empty() => {
                let admin = (
                    std::env::var("E2E_ADMIN_EMAIL").unwrap_or_else(|_| ADMIN_EMAIL.into()),
                    remote_admin_password()?,
                );
                Ok(Self {
                    gateway: base.trim().trim_end_matches('/').to_owned(),
                    admin,
                    demo,
                    local: None,
                })
            }
            _ => Self::start_local(demo, env).await,
        }
    }

    /// Whether the harness started the processes (and can look at their logs, stop them).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The log file of a service the harness started.
    pub fn log_of(&self, name: &str) -> Option<String> {
        let local = self.local.as_ref()?;
        let service = local.services.iter().find(|s| s.name == name)?;
        std::fs::read_to_string(&service.log).ok()
    }

    /// The base URL of each service the harness started (its `/metrics` is there),
    /// by name; empty for a remote stack.
    pub fn service_urls(&self) -> Vec<(&'static str, String)> {
        self.local
            .iter()
            .flat_map(|l| l.services.iter().map(|s| (s.name, s.url.clone())))
            .collect()
    }

    /// Stop a service the harness started (to prove what the gateway says then).
    pub fn stop_service(&mut self, name: &str) -> bool {
        let Some(local) = self.local.as_mut() else {
            return false;
        };
        let before = local.services.len();
        local.services.retain(|s| s.name != name);
        local.services.len() < before
    }

    /// The Redis the harness started.
    pub fn redis(&mut self) -> Option<&mut TestRedis> {
        self.local.as_mut().map(|l| &mut l.redis)
    }

    async fn start_local(
        demo: DemoSiteHandle,
        extra_env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let root = workspace_root();
        build_binaries(&root)?;
        let bin = target_dir(&root).join("debug");
        let dir =
            std::env::temp_dir().join(format!("gleaner-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let redis = TestRedis::start().await?;
        let identity_db = fresh_database().await?;
        let scraper_db = fresh_database().await?;
        let app_db = fresh_database().await?;
        let key = dir.join("signing.pem");
        run(&bin, "identity", &["keygen", "--out", path_str(&key)?], &[])?;
        for (service, db) in
            Service::WITH_DATABASE
                .into_iter()
                .zip([&identity_db, &scraper_db, &app_db])
        {
            run(
                &bin,
                service.name(),
                &["migrate"],
                &[("DATABASE_URL", &db.url)],
            )?;
        }
        let mut ports = std::collections::BTreeMap::new();
        for service in Service::PLATFORM {
            ports.insert(service, free_port()?);
        }
        let wiring = Wiring {
            host: "127.0.0.1".into(),
            ports,
            redis_url: redis.url(),
            databases: Service::WITH_DATABASE
                .into_iter()
                .zip([&identity_db, &scraper_db, &app_db])
                .map(|(service, db)| (service, db.url.clone()))
                .collect(),
            signing_key: path_str(&key)?.to_owned(),
            admin: Some(Admin {
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
            }),
            demo: Demo {
                companies: 0,
                seed: 0,
            },
            tuning: Tuning::end_to_end(),
        };
        let mut local = Local {
            services: Vec::new(),
            redis,
            _databases: vec![identity_db, scraper_db, app_db],
            dir: dir.clone(),
        };
        for service in Service::PLATFORM {
            let name = service.name();
            let mut env = wiring.env(service);
            env.extend(extra_env.iter().cloned());
            let log = dir.join(format!("{name}.log"));
            let out = File::create(&log)?;
            let child = Command::new(bin.join(name))
                .args(service.serve_args())
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(env)
                .stdout(out.try_clone()?)
                .stderr(out)
                .spawn()
                .with_context(|| format!("starting {name}"))?;
            local.services.push(Process {
                name,
                child,
                log,
                url: wiring.url(service),
            });
        }
        let http = reqwest::Client::new();
        for service in Service::PLATFORM {
            let name = service.name();
            let ready = format!("{}{}", wiring.url(service), service.ready_path());
            let answered = eventually(READY_TIMEOUT, || {
                let http = http.clone();
                let ready = ready.clone();
                async move {
                    let r = http.get(&ready).send().await.ok()?;
                    r.status().is_success().then_some(())
                }
            })
            .await;
            if answered.is_err() {
                let log = local
                    .services
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| std::fs::read_to_string(&s.log).ok())
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                bail!(
                    "{name} did not become ready within {READY_TIMEOUT:?}; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        Ok(Self {
            gateway: wiring.url(Service::Gateway),
            admin: (ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD.to_owned()),
            demo,
            local: Some(local),
        })
    }
}

fn remote_admin_password() -> anyhow::Result<String> {
    for var in ["E2E_ADMIN_PASSWORD", "GLEANER_ADMIN_PASSWORD"] {
        if let Ok(p) = std::env::var(var)
            && !p.is_empty()
        {
            return Ok(p);
        }
    }
    let file = workspace_root().join(".gleaner/admin-password");
    std::fs::read_to_string(&file)
        .map(|p| p.trim().to_owned())
        .with_context(|| {
            format!(
                "E2E_BASE_URL is set but no admin password: set E2E_ADMIN_PASSWORD or keep {}",
                file.display()
            )
        })
}

/// The workspace root (this crate's parent).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A git-ignored folder under the build directory for what a test keeps
/// (screenshots): `<target>/e2e/<name>`, created.
pub fn artifacts_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = target_dir(&workspace_root()).join("e2e").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Build the four service binaries (a no-op when they are fresh).
fn build_binaries(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--bins"])
        .args(Service::PLATFORM.iter().flat_map(|s| ["-p", s.package()]))
        .stdout(Stdio::null())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the service binaries failed ({status})");
    }
    Ok(())
}

/// Run a one-off command of a service binary (migrate, keygen).
fn run(bin: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let output = Command::new(bin.join(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .with_context(|| format!("running {name} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{name} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

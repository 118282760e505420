//! `cargo xtask up` (`make up`): start PostgreSQL and Redis if they are not answering,
//! build, migrate, start every service and the demo site in the background, wait until
//! each is ready, run the sample scrape, and print how to use it. Running it again is
//! harmless: what runs is left alone, except a service whose binary was rebuilt since it
//! started, which is restarted. `make down` (scripts/down.sh) stops it all.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gleaner_stack::{Admin, Demo, Service, Tuning, Wiring};
use serde_json::{Value, json};

use crate::local::{ensure_database, postgres_answers, redis_answers, start_postgres, start_redis};
use crate::process::{cargo_build, ensure_packages, run_once, wait_ready};
use crate::{number, root, setting, step, target_dir};

/// How long a service has to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Start it all; see the module documentation.
pub async fn run() -> anyhow::Result<()> {
    let root = root();
    let state = root.join(".gleaner");
    for dir in ["run", "log", "keys"] {
        std::fs::create_dir_all(state.join(dir))?;
    }
    std::fs::set_permissions(
        state.join("keys"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let mut ports = BTreeMap::new();
    for service in Service::PLATFORM.into_iter().chain([Service::DemoSite]) {
        ports.insert(
            service,
            number(service.port_variable(), service.local_port())?,
        );
    }
    let demo = Demo {
        companies: number("DEMO_COMPANIES", 500)?,
        seed: 42,
    };
    ensure_packages(&["curl", "ca-certificates"])?;

    let pg_admin = postgres(&state).await?;
    let redis_url = redis(&state).await?;
    let admin = Admin {
        email: setting("GLEANER_ADMIN_EMAIL", "admin@gleaner.local"),
        password: admin_password(&state)?,
    };

    step!("building the services");
    let services: Vec<Service> = Service::PLATFORM
        .into_iter()
        .chain([Service::DemoSite])
        .collect();
    cargo_build(false, &services, &[])?;
    let bin = target_dir().join("debug");
    let key = state.join("keys/signing.pem");
    let key_path = key
        .to_str()
        .context("the state directory's path is not UTF-8")?;
    if !key.exists() {
        run_once(&bin, "identity", &["keygen", "--out", key_path], &[])?;
    }

    let mut databases = BTreeMap::new();
    for service in Service::WITH_DATABASE {
        let name = format!("gleaner_{}", service.name());
        ensure_database(&pg_admin, &name).await?;
        let url = database_url(&pg_admin, &name)?;
        run_once(
            &bin,
            service.name(),
            &["migrate"],
            &[("DATABASE_URL", &url)],
        )?;
        databases.insert(service, url);
    }
    let wiring = Wiring {
        host: "127.0.0.1".into(),
        ports,
        redis_url,
        databases,
        signing_key: key_path.to_owned(),
        admin: Some(admin),
        demo,
        tuning: Tuning::local(),
    };
    for &service in &services {
        start_service(&state, &bin, &wiring, service)?;
    }
    let logs = state.join("log");
    for service in [
        Service::Identity,
        Service::Scraper,
        Service::App,
        Service::DemoSite,
        Service::Gateway,
    ] {
        wait_ready(&wiring, &[service], &logs, READY_TIMEOUT).await?;
        step!("{} ready", service.name());
    }
    sample_scrape(&state, &wiring).await;
    print_usage(&wiring);
    Ok(())
}

/// The admin URL of the PostgreSQL to use: `DATABASE_URL` if it answers, else ours on
/// `GLEANER_PG_PORT` (55432), started unless it answers already.
async fn postgres(state: &Path) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
        && postgres_answers(&url).await
    {
        step!("using PostgreSQL at DATABASE_URL");
        return Ok(url);
    }
    ensure_packages(&["postgresql"])?;
    let port: u16 = number("GLEANER_PG_PORT", 55432)?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    if postgres_answers(&url).await {
        step!("PostgreSQL already running on port {port}");
    } else {
        step!("starting PostgreSQL on 127.0.0.1:{port} (data in .gleaner/pgdata)");
        start_postgres(&state.join("pgdata"), port)?;
        std::fs::write(state.join("run/postgres.ours"), "")?;
    }
    Ok(url)
}

/// The Redis to use: `REDIS_URL` if it answers, else ours on `GLEANER_REDIS_PORT` (56379).
async fn redis(state: &Path) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("REDIS_URL")
        && !url.is_empty()
        && redis_answers(&url)
    {
        step!("using Redis at REDIS_URL");
        return Ok(url);
    }
    ensure_packages(&["redis-server"])?;
    let port: u16 = number("GLEANER_REDIS_PORT", 56379)?;
    let url = format!("redis://127.0.0.1:{port}");
    if redis_answers(&url) {
        step!("Redis already running on port {port}");
    } else {
        step!("starting Redis on 127.0.0.1:{port} (data in .gleaner/redis)");
        start_redis(&state.join("redis"), port).await?;
        std::fs::write(state.join("run/redis.ours"), "")?;
    }
    Ok(url)
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(admin_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

/// `GLEANER_ADMIN_PASSWORD`, or the one kept in `.gleaner/admin-password`, or a new one
/// kept there.
fn admin_password(state: &Path) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("GLEANER_ADMIN_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    let file = state.join("admin-password");
    if let Ok(p) = std::fs::read_to_string(&file) {
        return Ok(p.trim().to_owned());
    }
    let password = crate::secret();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)?
        .write_all(password.as_bytes())?;
    Ok(password)
}

/// What a started service runs: its binary's modification time and size.
fn binary_stamp(bin: &Path) -> anyhow::Result<String> {
    let m = std::fs::metadata(bin).with_context(|| format!("{} is not built", bin.display()))?;
    Ok(format!("{}.{:09} {}", m.mtime(), m.mtime_nsec(), m.len()))
}

/// The pid of a service `make up` started, if it still runs that binary.
fn service_pid(state: &Path, name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state.join(format!("run/{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let exe = exe.to_string_lossy();
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
    (Path::new(exe).file_name()? == name).then_some(pid)
}

/// Start `service` in the background unless it already runs the current binary.
fn start_service(
    state: &Path,
    bin: &Path,
    wiring: &Wiring,
    service: Service,
) -> anyhow::Result<()> {
    let name = service.name();
    let binary = bin.join(name);
    let stamp = binary_stamp(&binary)?;
    let stamp_file = state.join(format!("run/{name}.stamp"));
    if let Some(pid) = service_pid(state, name) {
        if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s.trim() == stamp) {
            step!("{name} already running (pid {pid})");
            return Ok(());
        }
        step!("{name} was rebuilt since it started: restarting it");
        let status = Command::new(root().join("scripts/down.sh"))
            .arg(name)
            .status()?;
        if !status.success() {
            bail!("stopping {name} failed");
        }
    }
    step!("starting {name} on port {}", wiring.port(service));
    let mut env = wiring.env(service);
    for var in ["LOG_FORMAT", "RUST_LOG"] {
        if let Ok(v) = std::env::var(var) {
            env.set(var, v);
        }
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join(format!("log/{name}.log")))?;
    // Its own process group: an interrupt of `make up` does not reach it.
    let child = Command::new(&binary)
        .args(service.serve_args())
        .envs(env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    std::fs::write(
        state.join(format!("run/{name}.pid")),
        format!("{}\n", child.id()),
    )?;
    std::fs::write(&stamp_file, format!("{stamp}\n"))?;
    Ok(())
}

/// The sample scrape: a scrape job created through the API (as the admin, via the
/// gateway), run once now and followed until it ends. A failure is reported, not fatal.
async fn sample_scrape(state: &Path, wiring: &Wiring) {
    step!(
        "sample scrape of the demo site ({} companies) as the scrape job 'sample'",
        wiring.demo.companies
    );
    let last = state.join("run/last-scrape.json");
    let _ = std::fs::remove_file(&last);
    let log = state.join("log/sample-scrape.log");
    match follow_sample(wiring).await {
        Ok(run) => {
            let _ = std::fs::write(&last, run.to_string());
            if run["status"] == "succeeded" {
                step!(
                    "sample scrape: {} - {} pages, {} companies created, {} updated",
                    run["status"].as_str().unwrap_or("?"),
                    run["pages_fetched"],
                    run["companies_created"],
                    run["companies_updated"]
                );
                return;
            }
            note(&log, &format!("the run ended {}", run["status"]));
        }
        Err(e) => note(&log, &format!("{e:#}")),
    }
    step!(
        "sample scrape did not succeed: see .gleaner/log/sample-scrape.log and .gleaner/run/last-scrape.json"
    );
}

fn note(log: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{line}");
    }
}

async fn follow_sample(wiring: &Wiring) -> anyhow::Result<Value> {
    let api = Api::new(wiring.url(Service::Gateway));
    let admin = wiring.admin.as_ref().context("no admin")?;
    let token = api.login(&admin.email, &admin.password).await?;
    let job = json!({"name": "sample", "spec": wiring.demo_scrape().to_value()});
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/scrape-jobs",
            Some(job),
            Some(&token),
            &[201, 409],
        )
        .await?;
    let mut run = if status == 201 {
        // A job without a schedule runs once when it is created: follow that run.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, runs) = api
                .call(
                    "GET",
                    "/api/v1/scrape-runs?job=sample",
                    None,
                    Some(&token),
                    &[200],
                )
                .await?;
            if let Some(run) = runs["items"].get(0) {
                break run.clone();
            }
            if Instant::now() > deadline {
                bail!("the job 'sample' did not start its first run");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    } else {
        api.call(
            "POST",
            "/api/v1/scrape-jobs/sample/runs",
            None,
            Some(&token),
            &[200, 201, 202],
        )
        .await?
        .1
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    while matches!(run["status"].as_str(), Some("queued" | "running")) {
        if Instant::now() > deadline {
            bail!("run {} did not end within 15 minutes", run["id"]);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let id = run["id"]
            .as_str()
            .context("a run without an id")?
            .to_owned();
        run = api
            .call(
                "GET",
                &format!("/api/v1/scrape-runs/{id}"),
                None,
                Some(&token),
                &[200],
            )
            .await?
            .1;
    }
    Ok(run)
}

/// A JSON API client that fails on an unexpected status.
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client of the API at `base`.
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// An access token of `username`. The bootstrap admin is created as identity starts:
    /// a login is retried for a while.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"username": username, "password": password});
        for _ in 0..100 {
            if let Ok((_, pair)) = self
                .call(
                    "POST",
                    "/api/v1/auth/login",
                    Some(body.clone()),
                    None,
                    &[200],
                )
                .await
                && let Some(token) = pair["access_token"].as_str()
            {
                return Ok(token.to_owned());
            }
            // Poll interval while the account is created.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("{username} could not log in")
    }

    /// `method path` with an optional JSON body and bearer token; the status and the JSON
    /// body (`null` when empty), or an error when the status is not in `ok`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        ok: &[u16],
    ) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let raw = resp.bytes().await?;
        if !ok.contains(&status) {
            bail!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&raw)
            );
        }
        let value = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).with_context(|| format!("{method} {path}: not JSON"))?
        };
        Ok((status, value))
    }
}

fn print_usage(w: &Wiring) {
    let gateway = w.url(Service::Gateway);
    let (identity, scraper, app, demo) = (
        w.url(Service::Identity),
        w.url(Service::Scraper),
        w.url(Service::App),
        w.url(Service::DemoSite),
    );
    let (email, password) = w
        .admin
        .as_ref()
        .map(|a| (a.email.as_str(), a.password.as_str()))
        .unwrap_or_default();
    let py_token = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'";
    println!(
        "
Gleaner is up at {gateway}   (API docs: {gateway}/docs/)
  every request goes through the gateway; the services behind it:
  identity  {identity}   scraper  {scraper}   app  {app}
  demo site {demo}   (a local stand-in for openmoney.md)
  logs      .gleaner/log/   pids: .gleaner/run/   stop with: make down

Admin account: {email}
Admin password: {password}

Try it (through the gateway):
  curl -s '{gateway}/api/v1/companies?q=chisinau&per_page=3'
  curl -s -X POST {gateway}/api/v1/auth/register -H 'content-type: application/json' \\
       -d '{{\"email\":\"ion@example.md\",\"username\":\"ion\",\"password\":\"a long passphrase\"}}'
  TOKEN=$(curl -s -X POST {gateway}/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{{\"username\":\"ion\",\"password\":\"a long passphrase\"}}' | {py_token})
  curl -s {gateway}/api/v1/users/me -H \"authorization: Bearer $TOKEN\"
  IDNO=$(curl -s '{gateway}/api/v1/companies?per_page=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"items\"][0][\"idno\"])')
  curl -s -X PUT {gateway}/api/v1/watchlist/$IDNO -H \"authorization: Bearer $TOKEN\"
  curl -s {gateway}/api/v1/notifications -H \"authorization: Bearer $TOKEN\"
  ADMIN=$(curl -s -X POST {gateway}/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{{\"username\":\"{email}\",\"password\":\"{password}\"}}' | {py_token})
  curl -s -X POST {gateway}/api/v1/scrape-jobs/sample/runs -H \"authorization: Bearer $ADMIN\"
  curl -s '{gateway}/api/v1/scrape-runs?job=sample' -H \"authorization: Bearer $ADMIN\""
    );
}

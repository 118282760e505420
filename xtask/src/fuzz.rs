//! `cargo xtask api-fuzz` (`make api-fuzz`, part of `make test`): schemathesis against every
//! service's documented API (docs/api-fuzzing.md).
//!
//! Starts identity, the scraper, the app and the gateway on a throwaway PostgreSQL and
//! Redis, registers a user, then runs schemathesis with every check against each service
//! directly (its own `/openapi.json`), the gateway's own document, and each service through
//! the gateway (the gateway's `/openapi/{service}.json` with the gateway as base URL), each
//! anonymous, with the user's token and with an admin's token. Any server error or any
//! response that breaks the documented schema fails the run.
//!
//! Settings: `SCHEMATHESIS_EXAMPLES` (examples per operation and phase, 10),
//! `SCHEMATHESIS_SEED` (a new one every run, printed so a failure can be replayed),
//! `SCHEMATHESIS_ONLY` (a regex of run names to keep), `SCHEMATHESIS_JOBS` (runs at once, 2),
//! `SCHEMATHESIS_BIN_DIR` (binaries to use instead of building). Reports:
//! `$CARGO_TARGET_DIR/schemathesis/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use gleaner_stack::{Admin, Demo, Service, Tuning};
use rand::Rng as _;
use serde_json::json;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::process::{Running, cargo_build, ensure_packages, tail, wait_ready};
use crate::throwaway::Platform;
use crate::up::Api;
use crate::{number, root, setting, step, target_dir};

/// The Server-Sent Events route, left out of every run.
const STREAM_PATH: &str = "/api/v1/changes/stream";

/// One schemathesis run.
struct Run {
    name: String,
    schema: String,
    base: String,
    token: Option<String>,
    extra: Vec<&'static str>,
}

/// Fuzz every API; see the module documentation.
pub async fn run() -> anyhow::Result<()> {
    let st = install()?;
    let examples: u32 = number("SCHEMATHESIS_EXAMPLES", 10)?;
    let seed: u64 = match std::env::var("SCHEMATHESIS_SEED") {
        Ok(s) if !s.trim().is_empty() => s.trim().parse().context("SCHEMATHESIS_SEED")?,
        _ => rand::rng().random_range(1..=u64::from(u32::MAX)),
    };
    step!("schemathesis: seed {seed} (SCHEMATHESIS_SEED={seed} make api-fuzz replays it)");
    let only = regex::Regex::new(&setting("SCHEMATHESIS_ONLY", "."))
        .context("SCHEMATHESIS_ONLY is not a regex")?;
    let jobs: usize = number("SCHEMATHESIS_JOBS", 2)?;

    ensure_packages(&["postgresql", "redis-server"])?;
    let bin = match std::env::var("SCHEMATHESIS_BIN_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            step!("building the services");
            cargo_build(false, &Service::PLATFORM, &[])?;
            target_dir().join("debug")
        }
    };
    let out = target_dir().join("schemathesis");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(out.join("log"))?;
    std::fs::create_dir_all(out.join("openapi"))?;

    let admin = Admin {
        email: "admin@schemathesis.test".into(),
        password: crate::secret(),
    };
    let platform = Platform::start(
        Tuning::fuzzing(),
        Some(admin.clone()),
        Demo {
            companies: 0,
            seed: 0,
        },
    )
    .await?;
    platform.migrate_and_keygen(&bin)?;
    let w = &platform.wiring;
    let mut services = Vec::new();
    for service in Service::PLATFORM {
        services.push(Running::start(&bin, w, service, &[], &out.join("log"))?);
    }
    wait_ready(
        w,
        &Service::PLATFORM,
        &out.join("log"),
        Duration::from_secs(90),
    )
    .await?;
    let gateway = w.url(Service::Gateway);
    step!(
        "services ready: identity {}, scraper {}, app {}, gateway {gateway}",
        w.url(Service::Identity),
        w.url(Service::Scraper),
        w.url(Service::App)
    );
    save_documents(&platform, &out).await?;

    // A user and the admin, each logged in through the gateway; another token per role
    // for the logout runs (a logout revokes the token it is called with).
    let api = Api::new(gateway.clone());
    let user_password = crate::secret();
    api.call(
        "POST",
        "/api/v1/auth/register",
        Some(json!({"email": "fuzz@schemathesis.test", "username": "fuzz", "password": user_password})),
        None,
        &[201],
    )
    .await
    .context("registering the user")?;
    let user = api.login("fuzz", &user_password).await?;
    let admin_token = api.login(&admin.email, &admin.password).await?;
    let user_logout = api.login("fuzz", &user_password).await?;
    let admin_logout = api.login(&admin.email, &admin.password).await?;

    let direct = |s: Service| (w.url(s), format!("{}/openapi.json", w.url(s)));
    let runs_for = |auth: &str, token: Option<&String>| {
        let mut runs = Vec::new();
        for s in [Service::Identity, Service::Scraper, Service::App] {
            let (base, schema) = direct(s);
            let extra = if s == Service::Identity {
                vec!["--exclude-path", "/api/v1/auth/logout"]
            } else {
                vec![]
            };
            runs.push(Run {
                name: format!("{}-{auth}", s.name()),
                schema,
                base,
                token: token.cloned(),
                extra,
            });
        }
        for s in [Service::Identity, Service::Scraper, Service::App] {
            runs.push(Run {
                name: format!("gateway-{}-{auth}", s.name()),
                schema: format!("{gateway}/openapi/{}.json", s.name()),
                base: gateway.clone(),
                token: token.cloned(),
                extra: vec!["--exclude-path", "/api/v1/auth/logout"],
            });
        }
        if auth == "anonymous" {
            runs.push(Run {
                name: "gateway-anonymous".into(),
                schema: format!("{gateway}/openapi.json"),
                base: gateway.clone(),
                token: None,
                extra: vec![],
            });
        }
        runs
    };
    // Anonymous and the user first, the admin after them: an admin's run may disable or
    // demote the user it finds in the user list, which would turn the user's runs into 401s.
    // Logout last, with its own tokens: it revokes the token it is called with.
    let (identity_base, identity_schema) = direct(Service::Identity);
    let logout = |auth: &str, token: &String| Run {
        name: format!("logout-{auth}"),
        schema: identity_schema.clone(),
        base: identity_base.clone(),
        token: Some(token.clone()),
        extra: vec!["--include-path", "/api/v1/auth/logout"],
    };
    let phases = [
        runs_for("anonymous", None)
            .into_iter()
            .chain(runs_for("user", Some(&user)))
            .collect::<Vec<_>>(),
        runs_for("admin", Some(&admin_token)),
        vec![logout("user", &user_logout), logout("admin", &admin_logout)],
    ];
    let settings = Arc::new(Settings {
        st,
        out: out.clone(),
        examples,
        seed,
    });
    let mut results = Vec::new();
    for phase in phases {
        let runs: Vec<Run> = phase
            .into_iter()
            .filter(|r| only.is_match(&r.name))
            .collect();
        results.extend(run_all(&settings, runs, jobs).await?);
    }
    drop(services);
    report(&out, results, seed)
}

struct Settings {
    st: PathBuf,
    out: PathBuf,
    examples: u32,
    seed: u64,
}

/// `scripts/schemathesis.sh` installs schemathesis (a pinned version, in a virtualenv);
/// the path of its command.
fn install() -> anyhow::Result<PathBuf> {
    let status = std::process::Command::new(root().join("scripts/schemathesis.sh"))
        .status()
        .context("running scripts/schemathesis.sh")?;
    if !status.success() {
        bail!("installing schemathesis failed");
    }
    let tools = std::env::var_os("GLEANER_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/gleaner/tools")))
        .context("neither GLEANER_TOOLS nor HOME is set")?;
    Ok(tools.join("schemathesis/bin/schemathesis"))
}

/// The documents as served, for reading along with the reports.
async fn save_documents(platform: &Platform, out: &Path) -> anyhow::Result<()> {
    let w = &platform.wiring;
    let gateway = w.url(Service::Gateway);
    let mut docs = vec![(format!("{gateway}/openapi.json"), "gateway.json".to_owned())];
    for s in [Service::Identity, Service::Scraper, Service::App] {
        let name = s.name();
        docs.push((format!("{}/openapi.json", w.url(s)), format!("{name}.json")));
        docs.push((
            format!("{gateway}/openapi/{name}.json"),
            format!("gateway-{name}.json"),
        ));
    }
    for (url, file) in docs {
        let body = reqwest::get(&url)
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        std::fs::write(out.join("openapi").join(file), body)?;
    }
    Ok(())
}

/// Run `runs`, at most `jobs` at once; each name with its exit success.
async fn run_all(
    settings: &Arc<Settings>,
    runs: Vec<Run>,
    jobs: usize,
) -> anyhow::Result<Vec<(String, bool)>> {
    let permits = Arc::new(Semaphore::new(jobs.max(1)));
    let mut set = JoinSet::new();
    for run in runs {
        let permits = permits.clone();
        let settings = settings.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            step!("schemathesis: {}", run.name);
            let ok = fuzz_one(&settings, &run).await?;
            anyhow::Ok((run.name, ok))
        });
    }
    let mut results = Vec::new();
    while let Some(done) = set.join_next().await {
        results.push(done??);
    }
    Ok(results)
}

async fn fuzz_one(s: &Settings, run: &Run) -> anyhow::Result<bool> {
    let output = std::fs::File::create(s.out.join(format!("{}.txt", run.name)))?;
    let mut cmd = Command::new(&s.st);
    cmd.arg("--config-file")
        .arg(root().join("scripts/schemathesis.toml"))
        .args(["run", &run.schema, "--url", &run.base]);
    if let Some(token) = &run.token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    cmd.args(["--max-examples", &s.examples.to_string()])
        .args(["--seed", &s.seed.to_string()])
        .args(["--generation-database", "none", "--workers", "1"])
        .args(["--request-timeout", "10", "--no-color", "--report", "junit"])
        .arg("--report-junit-path")
        .arg(s.out.join(format!("{}.xml", run.name)))
        .args(&run.extra)
        // An event stream never ends: every accepted request would run into the request
        // timeout. Its parameters are the change feed's (the same checks, fuzzed on
        // `GET /api/v1/changes`); its refusals are covered by the scraper's tests.
        .args(["--exclude-path", STREAM_PATH])
        // From the report directory: schemathesis keeps a cache in the working directory.
        .current_dir(&s.out)
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    let status = cmd.status().await.context("running schemathesis")?;
    Ok(status.success())
}

/// Each run's test cases, the output of the failed ones, the services' logged errors.
fn report(out: &Path, mut results: Vec<(String, bool)>, seed: u64) -> anyhow::Result<()> {
    if results.is_empty() {
        bail!("SCHEMATHESIS_ONLY matched no run");
    }
    results.sort();
    let mut failed = Vec::new();
    let mut cases = 0u64;
    for (name, ok) in &results {
        let text = std::fs::read_to_string(out.join(format!("{name}.txt"))).unwrap_or_default();
        let summary = text
            .lines()
            .skip_while(|l| !l.starts_with("Test cases:"))
            .nth(1)
            .map(str::trim)
            .unwrap_or("");
        eprintln!("  {name:<28} {summary}");
        cases += summary
            .split_whitespace()
            .next()
            .and_then(|n| n.replace(',', "").parse::<u64>().ok())
            .unwrap_or(0);
        if !ok {
            failed.push(name.clone());
        }
    }
    // The failures after every summary, so the end of the output (all a CI log may
    // keep) says what failed: each failed run's output, then its first failure again.
    let mut headlines = Vec::new();
    for name in &failed {
        eprintln!("{}", tail(&out.join(format!("{name}.txt")), 60));
        let text = std::fs::read_to_string(out.join(format!("{name}.txt"))).unwrap_or_default();
        headlines.push(format!("{name}: {}", first_failure(&text)));
    }
    // What the gateway logged about an upstream it could not use.
    let gateway_log = std::fs::read_to_string(out.join("log/gateway.log")).unwrap_or_default();
    let upstream_warnings: Vec<&str> = gateway_log
        .lines()
        .filter(|l| l.contains("\"level\":\"WARN\"") && l.contains("upstream"))
        .take(3)
        .collect();
    // Anything a service logged at error level is a fault the responses may not show.
    for service in Service::PLATFORM {
        let log = std::fs::read_to_string(out.join(format!("log/{}.log", service.name())))
            .unwrap_or_default();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("\"level\":\"ERROR\""))
            .take(5)
            .collect();
        if !errors.is_empty() {
            eprintln!("{}", errors.join("\n"));
            failed.push(format!("{} logged errors", service.name()));
        }
    }
    if !failed.is_empty() {
        for line in upstream_warnings {
            eprintln!("{line}");
        }
        for headline in headlines {
            eprintln!("{headline}");
        }
        bail!(
            "schemathesis: {} failed: {} (details in {}; replay with SCHEMATHESIS_SEED={seed})",
            failed.len(),
            failed.join(" "),
            out.display()
        );
    }
    step!(
        "schemathesis: {} runs, {cases} test cases, no failure with seed {seed} (reports in {})",
        results.len(),
        out.display()
    );
    Ok(())
}

/// The first failure in a schemathesis run's output on one line: the operation,
/// the checks that failed and the response status.
fn first_failure(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("FAILURES"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("Reproduce with"))
        .take(8)
        .collect();
    if lines.is_empty() {
        "no failure section in its output".to_owned()
    } else {
        lines.join(" | ")
    }
}

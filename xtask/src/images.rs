//! `cargo xtask image-test` (`make image-test`, part of `make test`): builds every image
//! (`scripts/images.sh`), then runs each the way the chart runs it: uid 65532, read-only
//! root filesystem with only /tmp writable, every capability dropped, no privilege
//! escalation. Each must serve /health (the gateway's /ready proves identity, the scraper
//! and the app answer through it), no image may hold a shell, identity/scraper/app migrate
//! their databases from their images, identity's image generates the signing key as the
//! chart's hook does, and the scraper image, started as a run's Job starts it
//! (`scraper run`), completes a scrape of the demo site image. A throwaway PostgreSQL and
//! Redis serve the services; every container runs on the host network, bound to 127.0.0.1.
//! The operator talks to testkit's fake Kubernetes API.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gleaner_stack::{Demo, ScrapeSpec, Service, Tuning};
use gleaner_testkit::{FakeKubeApi, free_port};

use crate::process::ensure_packages;
use crate::throwaway::Platform;
use crate::{root, setting, step};

/// How the chart runs every Gleaner container (restricted Pod Security, read-only root, an
/// emptyDir on /tmp), on the host network.
const SECURE: &[&str] = &[
    "--runtime",
    "runc",
    "--network",
    "host",
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp",
    "--user",
    "65532:65532",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];
const IMAGES: [&str; 6] = [
    "gateway",
    "identity",
    "scraper",
    "app",
    "operator",
    "demo-site",
];

/// The containers of one test, removed when dropped (and printed with their logs on a failure).
struct Containers {
    prefix: String,
    tag: String,
}

impl Containers {
    fn image(&self, name: &str) -> String {
        format!("localhost/gleaner/{name}:{}", self.tag)
    }

    fn names(&self) -> Vec<String> {
        podman(&["ps", "-a", "--filter", &format!("name=^{}-", self.prefix)])
            .args(["--format", "{{.Names}}"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A failure, with the state and last log lines of every container.
    fn fail(&self, what: impl std::fmt::Display) -> anyhow::Error {
        for c in self.names() {
            let state = podman(&[
                "inspect",
                "--format",
                "{{.State.Status}} exit {{.State.ExitCode}}",
            ])
            .arg(&c)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
            eprintln!("\n--- logs of {c} ({state})");
            let _ = podman(&["logs", "--tail", "30", &c]).status();
        }
        anyhow::anyhow!("image test: {what}")
    }

    /// `podman run --rm` as the chart runs a container.
    fn run_once(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(podman(&["run", "--rm"]).args(SECURE).args(args).output()?)
    }

    /// A detached container `NAME` with `env` and further podman arguments.
    fn start(&self, name: &str, env: &[(String, String)], args: &[&str]) -> anyhow::Result<()> {
        let mut cmd = podman(&[
            "run",
            "--detach",
            "--name",
            &format!("{}-{name}", self.prefix),
        ]);
        cmd.args(SECURE);
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        let status = cmd.args(args).stdout(Stdio::null()).status()?;
        if !status.success() {
            return Err(self.fail(format!("{name} did not start")));
        }
        Ok(())
    }

    /// Until `url` answers 2xx; fails at once when the container has exited.
    async fn wait_ok(&self, name: &str, url: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(url).timeout(Duration::from_secs(5)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            let state = podman(&["inspect", "--format", "{{.State.Status}}"])
                .arg(format!("{}-{name}", self.prefix))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            if state != "running" {
                return Err(self.fail(format!("{name} is {state} instead of serving {url}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(self.fail(format!("{name} did not answer {url} within 60 s")))
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for c in self.names() {
            let _ = podman(&["rm", "--force", "--time", "5", &c])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// podman with the project's `scripts/containers.conf` unless `CONTAINERS_CONF` names another.
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        c.env("CONTAINERS_CONF", root().join("scripts/containers.conf"));
    }
    c.args(args);
    c
}

/// Build and test every image; see the module documentation.
pub async fn run() -> anyhow::Result<()> {
    let status = Command::new(root().join("scripts/images.sh"))
        .status()
        .context("running scripts/images.sh")?;
    if !status.success() {
        bail!("building the images failed");
    }
    let containers = Containers {
        prefix: format!("gleaner-image-test-{}", std::process::id()),
        tag: setting("IMAGE_TAG", "dev"),
    };
    images_themselves(&containers)?;
    step!("every image runs its binary as 65532:65532 and holds no shell");

    ensure_packages(&["postgresql", "redis-server"])?;
    let demo = Demo {
        companies: 150,
        seed: 42,
    };
    let mut platform = Platform::start(Tuning::images(), None, demo).await?;
    for service in Service::WITH_DATABASE {
        let url = format!("DATABASE_URL={}", platform.wiring.databases[&service]);
        let out =
            containers.run_once(&["-e", &url, &containers.image(service.name()), "migrate"])?;
        if !out.status.success() {
            return Err(containers.fail(format!("{} migrate failed in its image", service.name())));
        }
    }
    step!("identity, scraper and app migrated their databases from their images");

    // The signing key, generated by identity's image as the chart's hook generates it.
    let keys = platform.work.path().join("keys");
    std::fs::create_dir_all(&keys)?;
    chown_nonroot(&keys)?;
    let mount = format!("{}:/keys", keys.display());
    let out = containers.run_once(&[
        "-v",
        &mount,
        &containers.image("identity"),
        "keygen",
        "--production",
        "--out",
        "/keys/signing.pem",
    ])?;
    if !out.status.success() {
        return Err(containers.fail("identity keygen failed in its image"));
    }
    platform.wiring.signing_key = "/keys/signing.pem".into();
    let w = &platform.wiring;
    let env = |s: Service| -> Vec<(String, String)> { w.env(s).into_iter().collect() };
    let ro_keys = format!("{}:/keys:ro", keys.display());
    containers.start(
        "demo-site",
        &env(Service::DemoSite),
        &[&containers.image("demo-site")],
    )?;
    containers.start(
        "identity",
        &env(Service::Identity),
        &["-v", &ro_keys, &containers.image("identity")],
    )?;
    containers
        .wait_ok("identity", &format!("{}/health", w.url(Service::Identity)))
        .await?;
    for s in [Service::Scraper, Service::App, Service::Gateway] {
        containers.start(s.name(), &env(s), &[&containers.image(s.name())])?;
    }

    // The operator needs a Kubernetes API to stay up: testkit's fake one.
    let (kube_addr, _kube) = FakeKubeApi::start("gleaner").await?;
    let kubeconfig = platform.work.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"http://{kube_addr}\"}}}}]\n\
             users: [{{name: fake, user: {{token: image-test}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: gleaner}}}}]\n\
             current-context: fake\n"
        ),
    )?;
    std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o644))?;
    let operator_port = free_port()?;
    let operator_env = [
        ("LISTEN_ADDR", format!("127.0.0.1:{operator_port}")),
        ("LEADER_ELECTION", "false".into()),
        ("POD_NAMESPACE", "gleaner".into()),
        ("KUBECONFIG", "/kube/config".into()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let kube_mount = format!("{}:/kube/config:ro", kubeconfig.display());
    containers.start(
        "operator",
        &operator_env,
        &["-v", &kube_mount, &containers.image("operator")],
    )?;

    for s in Service::PLATFORM.into_iter().chain([Service::DemoSite]) {
        containers
            .wait_ok(s.name(), &format!("{}/health", w.url(s)))
            .await?;
    }
    containers
        .wait_ok(
            "operator",
            &format!("http://127.0.0.1:{operator_port}/health"),
        )
        .await?;
    step!("every image serves /health");
    containers
        .wait_ok("gateway", &format!("{}/ready", w.url(Service::Gateway)))
        .await?;
    step!("the gateway is ready: identity, the scraper and the app answer through it");

    scrape_run(&containers, &platform, platform.work.path()).await
}

/// Owned by the images' user, so a container can write there.
fn chown_nonroot(path: &Path) -> anyhow::Result<()> {
    let status = Command::new("chown")
        .arg("65532:65532")
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("chown {} failed", path.display());
    }
    Ok(())
}

/// The binary runs in its image as 65532:65532, and no shell does.
fn images_themselves(c: &Containers) -> anyhow::Result<()> {
    for name in IMAGES {
        let image = c.image(name);
        let user =
            podman(&["image", "inspect", "--format", "{{.Config.User}}", &image]).output()?;
        let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
        if user != "65532:65532" {
            return Err(c.fail(format!("{name} runs as '{user}', not 65532:65532")));
        }
        // The binary runs (a control for the checks below)...
        if !c.run_once(&[&image, "--help"])?.status.success() {
            return Err(c.fail(format!("{name} --help failed in its image")));
        }
        // ...and no shell does: podman exits 127 when the executable does not exist.
        for sh in [
            "/bin/sh",
            "/bin/bash",
            "/bin/dash",
            "/usr/bin/sh",
            "/bin/busybox",
        ] {
            let code = c
                .run_once(&["--entrypoint", sh, &image, "-c", "true"])?
                .status
                .code();
            if code != Some(127) {
                return Err(c.fail(format!(
                    "{name}: running {sh} exited {code:?} (expected 127: not in the image)"
                )));
            }
        }
    }
    Ok(())
}

/// A run, as the operator's Job runs it: `scraper run` in the scraper image, against the
/// demo site image; its summary in the termination log.
async fn scrape_run(c: &Containers, platform: &Platform, work: &Path) -> anyhow::Result<()> {
    let w = &platform.wiring;
    let mut spec = ScrapeSpec::list_pages(&w.url(Service::DemoSite), 2);
    spec.concurrency = 4;
    spec.timeout_seconds = 300;
    let log = work.join("termination-log");
    std::fs::write(&log, "")?;
    chown_nonroot(&log)?;
    let mut args: Vec<String> = vec!["--name".into(), format!("{}-run", c.prefix)];
    args.extend(["--entrypoint".into(), "scraper".into()]);
    let mut env = w.run_env("image-test", &spec);
    env.set("LOG_FORMAT", "json");
    for (k, v) in env {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    args.extend([
        "-v".into(),
        format!("{}:/dev/termination-log", log.display()),
    ]);
    args.extend([c.image("scraper"), "run".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_once(&refs)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        eprintln!("{}", lines[lines.len().saturating_sub(30)..].join("\n"));
        return Err(c.fail(format!("scraper run exited {}", out.status)));
    }
    let text = std::fs::read_to_string(&log)?;
    let s: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| c.fail(format!("the run's summary is not JSON: {text}")))?;
    let positive = |k: &str| s[k].as_u64().is_some_and(|n| n > 0);
    if s["status"] != "succeeded"
        || !positive("pages_fetched")
        || !positive("companies_created")
        || s["pages_failed"] != 0
    {
        return Err(c.fail(format!("the run's summary is not a success: {text}")));
    }
    eprintln!(
        "    run {}: {} pages, {} companies created",
        s["run_id"], s["pages_fetched"], s["companies_created"]
    );
    step!("the scraper image completed a run against the demo site image");
    Ok(())
}

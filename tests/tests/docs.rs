//! `/docs` through the gateway in a real browser (headless Chromium): the
//! spec selector lists every service's document, and each document, once
//! chosen, shows that service's operations. A screenshot of each is kept
//! under `<target>/e2e/docs/`.
//!
//! Chromium is required (`.ci/run` installs Debian's `chromium`); without it
//! this test fails rather than skips.

use std::path::Path;
use std::process::Command;

use gleaner_demo_site::DemoConfig;
use gleaner_e2e::{Stack, artifacts_dir};

/// Each document in the UI's selector and an operation only it has.
const DOCUMENTS: [(&str, &str); 4] = [
    ("gateway", "/openapi/{service}"),
    ("identity", "/api/v1/auth/login"),
    ("scraper", "/api/v1/companies"),
    ("app", "/api/v1/scrape-jobs"),
];

/// The DOM Chromium rendered for `url`, a screenshot of it saved as `png`.
fn render(url: &str, png: &Path) -> String {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("no Chromium on PATH: install Debian's `chromium` (.ci/run does) to test /docs")
        });
    let profile = tempdir("profile");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=15000",
    ];
    let run = |extra: &[String]| {
        let output = Command::new(browser)
            .args(common)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .output()
            .unwrap_or_else(|e| panic!("running {browser}: {e}"));
        assert!(
            output.status.success(),
            "{browser} on {url} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let dom = String::from_utf8_lossy(&run(&["--dump-dom".to_owned()]).stdout).into_owned();
    run(&[
        format!("--screenshot={}", png.display()),
        "--window-size=1280,4000".to_owned(),
    ]);
    assert!(
        std::fs::metadata(png).is_ok_and(|m| m.len() > 0),
        "{browser} wrote no screenshot of {url} to {}",
        png.display()
    );
    let _ = std::fs::remove_dir_all(&profile);
    // Swagger UI puts a zero-width space before each `/` of a path.
    dom.replace('\u{200b}', "")
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gleaner-e2e-chromium-{what}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_lists_every_service_and_its_operations() {
    let stack = Stack::start(DemoConfig::new(7, 5))
        .await
        .expect("starting the platform");
    let out = artifacts_dir("docs").expect("screenshot folder");
    let base = format!("{}/docs/", stack.gateway);

    let index = {
        let (url, png) = (base.clone(), out.join("docs.png"));
        tokio::task::spawn_blocking(move || render(&url, &png))
            .await
            .expect("rendering /docs")
    };
    assert!(
        index.contains("swagger-ui"),
        "/docs did not render Swagger UI: {index}"
    );
    for (name, _) in DOCUMENTS {
        assert!(
            index.contains(&format!(">{name}</option>")),
            "the spec selector of /docs does not list {name}: {index}"
        );
    }

    for (name, operation) in DOCUMENTS {
        let url = format!("{base}?urls.primaryName={name}");
        let png = out.join(format!("docs-{name}.png"));
        let dom = tokio::task::spawn_blocking({
            let url = url.clone();
            move || render(&url, &png)
        })
        .await
        .expect("rendering a document");
        assert!(
            dom.contains(operation),
            "{url} does not show {operation} of {name}: {dom}"
        );
        for (other, other_operation) in DOCUMENTS {
            if other != name {
                assert!(
                    !dom.contains(other_operation),
                    "{url} shows {other}'s {other_operation} as well: the selector did not switch"
                );
            }
        }
    }
}

//! Audit log lines: security events are logged with the `audit` target, and
//! no password or token is ever written to the log.

use gleaner_identity::throttle::ThrottleLimits;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Captures what is logged, as JSON lines.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn audit_lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "audit")
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

fn find<'a>(lines: &'a [Value], action: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["fields"]["action"] == action)
        .unwrap_or_else(|| panic!("no audit line for {action}: {lines:#?}"))
}

/// Set in the child process that runs the capturing test.
const CHILD: &str = "GLEANER_AUDIT_TEST_CHILD";

/// Runs the capturing test below in a process of its own (this test binary
/// again, filtered to that one test): its subscriber is the process-wide one,
/// so no other test's threads can race it for tracing's per-callsite
/// interest cache.
#[test]
fn security_events_are_written_as_audit_lines_without_secrets() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "audit::captured_security_events",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the audit test failed in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run in a process of its own by security_events_are_written_as_audit_lines_without_secrets"]
async fn captured_security_events() {
    use tracing_subscriber::layer::SubscriberExt as _;
    if std::env::var_os(CHILD).is_none() {
        // Sharing a process with other tests: the subscriber could not be installed.
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_target(true)
            .with_writer(move || writer.clone()),
    );
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let app = app()
        .limits(ThrottleLimits {
            per_account: 2,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    let admin = app.admin().await;
    let victim = app.user("watched").await;
    for _ in 0..2 {
        login_from(&app, "10.2.2.2", "watched", "not my password 1").await;
    }
    assert_eq!(
        login_from(&app, "10.2.2.2", "watched", "not my password 2")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let path = format!("/api/v1/users/{}", victim.user_id);
    for body in [json!({"role": "operator"}), json!({"disabled": true})] {
        let r = app
            .send_auth(reqwest::Method::PATCH, &path, &admin.access, Some(&body))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        app.send_auth(reqwest::Method::DELETE, &path, &admin.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let lines = captured.audit_lines();
    let failed = find(&lines, "login_failed");
    assert_eq!(failed["fields"]["account"], "watched");
    assert_eq!(failed["fields"]["client"], "10.2.2.2");
    let locked = find(&lines, "login_throttled");
    assert_eq!(locked["fields"]["client"], "10.2.2.2");
    for action in ["role_changed", "user_disabled", "user_deleted"] {
        let line = find(&lines, action);
        assert_eq!(
            line["fields"]["user_id"],
            victim.user_id.as_str(),
            "{action}"
        );
        assert_eq!(
            line["fields"]["actor_id"],
            admin.user_id.as_str(),
            "{action}"
        );
        assert!(line["fields"]["client"].is_string(), "{action}");
    }
    assert_eq!(find(&lines, "role_changed")["fields"]["role"], "operator");
    // Never a password or a token, anywhere in the log.
    let text = captured.text();
    for secret in [
        PASSWORD,
        ADMIN_PASSWORD,
        "not my password",
        &admin.access,
        &victim.access,
        victim.refresh.split_once('.').unwrap().1,
    ] {
        assert!(!text.contains(secret), "a secret was logged");
    }
}

async fn login_from(
    app: &TestApp,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("request")
}

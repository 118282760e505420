//! Audit log lines, in a test binary of their own: the capturing
//! subscriber is the process-wide one, so no other test's threads can race
//! it for tracing's per-callsite interest cache.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

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

#[tokio::test]
async fn security_events_are_written_as_audit_lines_without_secrets() {
    use tracing_subscriber::layer::SubscriberExt as _;
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
        let r = app.patch_auth(&path, &admin.access, &body).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        app.delete_auth(&path, &admin.access).await.status(),
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

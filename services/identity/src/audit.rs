//! Audit log lines: security-relevant events as structured tracing events
//! with the fixed target `audit`, so a log pipeline can route them apart.
//! Each says what happened (`action`), to whom (`user_id` or the attempted
//! `account`), by whom (`actor_id`) and from where (`client`). Never a
//! password, a token or a refresh secret.

use gleaner_common::auth::Role;
use gleaner_common::client_addr::ClientAddr;
use uuid::Uuid;

/// The `target` of every audit event.
pub const TARGET: &str = "audit";

/// A login failed: unknown account, wrong password or disabled user (the
/// reason is only in the log, never in the response).
pub fn login_failed(account: &str, client: &ClientAddr, reason: &'static str) {
    tracing::warn!(target: TARGET, action = "login_failed", account, client = %client, reason, "login failed");
}

/// A login was refused by the throttle (a lockout of the account or address).
pub fn login_throttled(account: &str, client: &ClientAddr, scope: &'static str, retry_after: u64) {
    tracing::warn!(target: TARGET, action = "login_throttled", account, client = %client, scope, retry_after, "login throttled");
}

/// A registration was refused by the per-address rate limit.
pub fn registration_throttled(client: &ClientAddr, retry_after: u64) {
    tracing::warn!(target: TARGET, action = "registration_throttled", client = %client, retry_after, "registration throttled");
}

/// An already-used refresh token came back: its session was revoked.
pub fn refresh_reused(user: Uuid, client: &ClientAddr) {
    tracing::warn!(target: TARGET, action = "refresh_token_reused", user_id = %user, client = %client, "refresh token reuse: session revoked");
}

/// A user changed their password; their other sessions ended.
pub fn password_changed(user: Uuid, client: &ClientAddr, sessions_ended: usize) {
    tracing::info!(target: TARGET, action = "password_changed", user_id = %user, actor_id = %user, client = %client, sessions_ended, "password changed");
}

/// An admin changed a user's role.
pub fn role_changed(user: Uuid, actor: Uuid, from: Role, to: Role, client: &ClientAddr) {
    tracing::info!(target: TARGET, action = "role_changed", user_id = %user, actor_id = %actor, client = %client, previous_role = from.as_str(), role = to.as_str(), "role changed");
}

/// An admin disabled (or enabled again) a user.
pub fn disabled_changed(user: Uuid, actor: Uuid, disabled: bool, client: &ClientAddr) {
    let action = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    tracing::info!(target: TARGET, action, user_id = %user, actor_id = %actor, client = %client, "user {}", if disabled { "disabled" } else { "enabled" });
}

/// An admin deleted a user.
pub fn user_deleted(user: Uuid, actor: Uuid, client: &ClientAddr) {
    tracing::info!(target: TARGET, action = "user_deleted", user_id = %user, actor_id = %actor, client = %client, "user deleted");
}

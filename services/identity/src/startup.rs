//! Building and running the application (tests start it on port 0).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gleaner_common::auth::{Revocations, TokenVerifier};
use gleaner_common::client_addr::TrustedProxies;
use gleaner_common::observe::HttpMetrics;
use gleaner_common::outbox::OutboxRelay;
use gleaner_common::server::{self, ReadinessCheck};
use prometheus::Registry;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::accounts::{self, AdminSeed};
use crate::config::{Environment, Settings};
use crate::domain::{Email, NewPassword};
use crate::keys::KeyRing;
use crate::metrics::IdentityMetrics;
use crate::password::PasswordHasher;
use crate::routes::{self, ApiDoc};
use crate::sessions::{PREFIX, Sessions};
use crate::state::AppState;
use crate::throttle::{LoginThrottle, ThrottleLimits};
use crate::tokens::TokenIssuer;
use crate::user_cache::UserCache;
use crate::users::OUTBOX_TABLE;

/// Embedded migrations of the identity database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/identity");

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "identity";

/// A built, not yet running, identity service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    stop: CancellationToken,
}

impl Application {
    /// Build everything and bind the listener; fails on bad settings.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let limits = settings.throttle_limits();
        Self::build_with(settings, limits).await
    }

    /// As `build`, with explicit throttle limits (tests use windows and limits no setting offers).
    pub async fn build_with(settings: Settings, limits: ThrottleLimits) -> anyhow::Result<Self> {
        let keys = Arc::new(KeyRing::load(
            &settings.jwt_signing_key_file,
            &settings.jwt_previous_key_files,
        )?);
        if keys.is_dev_key && settings.environment == Environment::Production {
            anyhow::bail!(
                "JWT_SIGNING_KEY_FILE: {} is a development key; production needs its own key",
                settings.jwt_signing_key_file.display()
            );
        }
        let db = gleaner_common::db::lazy_pool(
            settings.database_url.expose_secret(),
            settings.database_max_connections,
        )?;
        let redis = gleaner_common::redis::connect(settings.redis_url.expose_secret(), 4).await?;
        let registry = Registry::new();
        let http_metrics = HttpMetrics::register(SERVICE, &registry)?;
        let metrics = IdentityMetrics::register(&registry)?;
        let threads = match settings.password_hash_threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        let hasher =
            PasswordHasher::new(settings.bcrypt_cost, threads, settings.password_hash_queue)?;
        let revocations = Revocations::new(redis.clone(), PREFIX).with_user_versions();
        let verifier = Arc::new(TokenVerifier::with_keys(
            keys.decoding_keys()?,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            Some(revocations.clone()),
        ));
        let issuer = Arc::new(TokenIssuer::new(
            keys.clone(),
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl,
        ));
        let relay = OutboxRelay::new(
            db.clone(),
            redis.clone(),
            OUTBOX_TABLE,
            SERVICE,
            &settings.events_stream,
        );
        let state = AppState {
            db: db.clone(),
            redis: redis.clone(),
            hasher,
            sessions: Sessions::new(redis.clone(), settings.refresh_token_ttl),
            throttle: LoginThrottle::new(redis.clone(), limits),
            revocations,
            issuer,
            verifier,
            keys,
            metrics,
            relay,
            trusted_proxies: TrustedProxies(settings.trusted_proxies),
            user_cache: UserCache::default(),
        };
        let admin = admin_bootstrap(&settings)?;
        let stop = CancellationToken::new();
        if let Some(admin) = admin {
            let state = state.clone();
            let stop = stop.clone();
            tokio::spawn(async move { ensure_admin_with_retry(state, admin, stop).await });
        }
        let router = server::standard_router(
            routes::router().with_state(state.clone()),
            registry,
            vec![ReadinessCheck::postgres(db), ReadinessCheck::redis(redis)],
            &ApiDoc::openapi(),
            http_metrics,
        )?;
        let listener = server::bind(&settings.listen_addr).await?;
        Ok(Self {
            listener,
            router,
            state,
            stop,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Shared state (tests reach into it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then drain requests and stop background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let relay = tokio::spawn(self.state.relay.clone().run(self.stop.clone()));
        let result = server::serve(self.listener, self.router, shutdown).await;
        self.stop.cancel();
        let _ = relay.await;
        result
    }
}

gleaner_common::impl_service!(Application, Settings);

/// The first admin from `GLEANER_ADMIN_*`, validated now so that a bad
/// setting stops the start instead of failing later.
fn admin_bootstrap(settings: &Settings) -> anyhow::Result<Option<AdminSeed>> {
    let Some(password) = &settings.admin.password else {
        return Ok(None);
    };
    let email = Email::parse(&settings.admin.email)
        .map_err(|e| anyhow::anyhow!("GLEANER_ADMIN_EMAIL: {}", e.message))?;
    let password = NewPassword::parse(password, "GLEANER_ADMIN_PASSWORD")
        .map_err(|e| anyhow::anyhow!("GLEANER_ADMIN_PASSWORD: {}", e.message))?;
    Ok(Some(AdminSeed { email, password }))
}

async fn ensure_admin_with_retry(state: AppState, seed: AdminSeed, stop: CancellationToken) {
    let mut wait = Duration::from_millis(250);
    loop {
        match accounts::ensure_admin(&state, &seed).await {
            Ok(_) => return,
            Err(e) => {
                let error = anyhow::Error::from(e);
                tracing::warn!(error = %format!("{error:#}"), "admin bootstrap failed; retrying")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

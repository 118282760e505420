//! The app's own access token, for what it does on nobody's request: scheduled runs and
//! following the runs it started. It logs in at identity as the configured operator
//! account and logs in again shortly before the token expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

/// Where the app's token comes from.
#[derive(Clone)]
pub enum ServiceCredentials {
    /// Log in at identity with an account's username (or email) and password.
    Login {
        /// Identity's root URL.
        identity_url: String,
        /// Username or email.
        username: String,
        /// Password.
        password: SecretString,
    },
    /// A fixed token (tests).
    Fixed(SecretString),
    /// None configured: background work that needs a token is skipped and logged.
    None,
}

#[derive(Deserialize)]
struct TokenPair {
    access_token: String,
    expires_in: u64,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// Hands out the app's access token, logging in when needed.
#[derive(Clone)]
pub struct ServiceToken {
    credentials: ServiceCredentials,
    http: reqwest::Client,
    cached: Arc<Mutex<Option<Cached>>>,
}

impl ServiceToken {
    /// A token source for these credentials.
    pub fn new(credentials: ServiceCredentials) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the identity client")?;
        Ok(Self {
            credentials,
            http,
            cached: Arc::new(Mutex::new(None)),
        })
    }

    /// A valid token, or why there is none.
    pub async fn token(&self) -> anyhow::Result<String> {
        let (identity_url, username, password) = match &self.credentials {
            ServiceCredentials::Fixed(token) => return Ok(token.expose_secret().to_owned()),
            ServiceCredentials::None => anyhow::bail!(
                "no service account: set IDENTITY_URL and GLEANER_ADMIN_PASSWORD so the app can act on its own"
            ),
            ServiceCredentials::Login {
                identity_url,
                username,
                password,
            } => (identity_url, username, password),
        };
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let resp = self
            .http
            .post(format!("{identity_url}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password.expose_secret()}))
            .send()
            .await
            .context("logging in at identity")?;
        if !resp.status().is_success() {
            anyhow::bail!(
                "identity refused the app's login as {username}: {}",
                resp.status()
            );
        }
        let pair: TokenPair = resp.json().await.context("reading identity's token pair")?;
        // Renew at two thirds of the lifetime: never hand out a token about to expire.
        let life = Duration::from_secs(pair.expires_in.max(3) * 2 / 3);
        *cached = Some(Cached {
            token: pair.access_token.clone(),
            renew_at: Instant::now() + life,
        });
        Ok(pair.access_token)
    }
}

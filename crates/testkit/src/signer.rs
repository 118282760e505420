//! Access tokens for tests of services that verify them: an Ed25519 key
//! generated per signer, its JWKS served on loopback, and tokens signed the
//! way identity signs them, so a service under test needs no identity.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use gleaner_common::auth::{ACCESS_TOKEN_TYPE, ALGORITHM, AccessClaims, Role};
use gleaner_common::settings::VerifierSettings;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The `iss` tokens carry unless a test asks otherwise.
pub const ISSUER: &str = "gleaner";
/// The `aud` tokens carry unless a test asks otherwise.
pub const AUDIENCE: &str = "gleaner-api";
/// Lifetime of the tokens `token` mints.
const TOKEN_TTL_SECS: i64 = 900;

/// Signs access tokens and serves the JWKS that verifies them.
pub struct TestSigner {
    kid: String,
    encoding: EncodingKey,
    jwks: Value,
    jwks_url: String,
    server: JoinHandle<()>,
}

impl TestSigner {
    /// A fresh key, its JWKS served at `jwks_url()` on 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let key = SigningKey::from_bytes(&rand::random());
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .context("encoding the test key")?;
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes())?;
        let kid = format!("test-{}", uuid::Uuid::new_v4().simple());
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"
        }]});
        let served = jwks.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = served.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "test JWKS server stopped");
            }
        });
        Ok(Self {
            kid,
            encoding,
            jwks,
            jwks_url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            server,
        })
    }

    /// Where the JWKS is served (what a service's `JWKS_URL` names).
    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// The settings that make a service verify this signer's tokens:
    /// `JWKS_URL`, `JWT_ISSUER` and `JWT_AUDIENCE`.
    pub fn verifier_env(&self) -> [(&'static str, String); 3] {
        [
            ("JWKS_URL", self.jwks_url.clone()),
            ("JWT_ISSUER", ISSUER.to_owned()),
            ("JWT_AUDIENCE", AUDIENCE.to_owned()),
        ]
    }

    /// Settings that make a service built in the test verify this signer's tokens.
    pub fn verifier_settings(&self) -> VerifierSettings {
        VerifierSettings {
            jwks_url: self.jwks_url.clone(),
            jwt_issuer: ISSUER.to_owned(),
            jwt_audience: AUDIENCE.to_owned(),
        }
    }

    /// The JWKS document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Claims of a valid access token for a new user with `role`: change
    /// them to make an expired, foreign or otherwise bad token.
    pub fn claims(&self, role: Role) -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            sub: uuid::Uuid::new_v4(),
            role,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: uuid::Uuid::new_v4().simple().to_string(),
            generation: 0,
            iat: now,
            nbf: now,
            exp: now + TOKEN_TTL_SECS,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            typ: ACCESS_TOKEN_TYPE.into(),
        }
    }

    /// A valid access token for a new user with `role`.
    pub fn token(&self, role: Role) -> String {
        self.sign(&self.claims(role))
    }

    /// `claims` signed with this signer's key, `kid` in the header.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        // Encoding fixed claims with a key we generated cannot fail.
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("signing a test token with a generated Ed25519 key")
    }
}

impl Drop for TestSigner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gleaner_common::auth::{TokenError, TokenVerifier};

    use super::*;

    fn verifier(signer: &TestSigner) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::with_jwks(
            signer.jwks_url(),
            reqwest::Client::new(),
            ISSUER,
            AUDIENCE,
            None,
        ))
    }

    #[tokio::test]
    async fn tokens_verify_against_the_served_jwks_and_bad_ones_do_not() {
        gleaner_common::install_crypto_provider();
        let signer = TestSigner::start().await.unwrap();
        let verifier = verifier(&signer);
        let claims = signer.claims(Role::Operator);
        let verified = verifier.verify(&signer.sign(&claims)).await.unwrap();
        assert_eq!(verified, claims);

        let mut expired = signer.claims(Role::Admin);
        expired.exp = expired.iat - 60;
        assert!(matches!(
            verifier.verify(&signer.sign(&expired)).await,
            Err(TokenError::Invalid(_))
        ));
        let mut foreign = signer.claims(Role::Admin);
        foreign.aud = "somebody-else".into();
        assert!(matches!(
            verifier.verify(&signer.sign(&foreign)).await,
            Err(TokenError::Invalid(_))
        ));
        // Another signer's key is unknown here.
        let other = TestSigner::start().await.unwrap();
        assert!(matches!(
            verifier.verify(&other.token(Role::User)).await,
            Err(TokenError::UnknownKey)
        ));
    }
}

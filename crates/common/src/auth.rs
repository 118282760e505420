//! Access-token verification shared by every service: EdDSA JWTs checked
//! against a cached JWKS (or the issuer's own keys), then against the
//! revocation records in Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fred::prelude::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

mod user_version;
mod verified;
pub use user_version::{CHANGE_TTL, SETTLED_TTL, UserVersion};
use verified::VerifiedTokens;

/// The only signing algorithm accepted.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// Value of the `typ` claim of access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "access";
/// Seconds of clock skew tolerated on `exp`/`nbf`.
pub const LEEWAY_SECS: u64 = 5;

/// A user's role; each includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Default role: own account, watchlists, notifications.
    User,
    /// May manage scrape jobs and read raw sources.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// User id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Token id (revocation key).
    pub jti: String,
    /// Login session id (refresh family).
    pub sid: String,
    /// The user's token generation when the token was issued: revoking
    /// every token of a user raises the generation, and tokens of an older
    /// one are refused. Exact, unlike comparing issue times in seconds.
    #[serde(rename = "gen", default)]
    pub generation: u64,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Token type: always `access`.
    pub typ: String,
}

/// Why a token was refused (all map to 401; the reason is only logged).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, bad signature, wrong alg/iss/aud/typ, expired, ...
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key we do not know.
    #[error("unknown signing key")]
    UnknownKey,
    /// Revoked by logout, session revocation or user disablement.
    #[error("token has been revoked")]
    Revoked,
    /// The signing keys (JWKS) cannot be fetched.
    #[error("cannot verify tokens now: {0}")]
    Unavailable(String),
    /// The revocation list (Redis) cannot be read.
    #[error("cannot check revocations now: {0}")]
    RevocationsUnavailable(String),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Unavailable(cause) => {
                ApiError::unavailable("token verification", anyhow::anyhow!(cause))
            }
            TokenError::RevocationsUnavailable(cause) => {
                ApiError::unavailable(crate::error::REDIS, anyhow::anyhow!(cause))
            }
            TokenError::Revoked => ApiError::unauthorized("the token has been revoked"),
            other => {
                tracing::debug!(reason = %other, "token refused");
                ApiError::unauthorized("the access token is missing, invalid or expired")
            }
        }
    }
}

/// Raise a user's token generation, atomically, on Redis's one clock: the
/// new generation is the later of (current + 1) and the time in
/// milliseconds, so it keeps growing even after the record expires and is
/// written again (every token of the expired generation has expired too).
const RAISE_GENERATION: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local gen = math.max(cur + 1, now)
local s = string.format('%.0f', gen)
redis.call('SET', KEYS[1], s, 'EX', ARGV[1])
return s
"#;

/// The prefix of every Redis key of the platform's own (sessions, revocations,
/// token generations): identity writes under it, every verifier reads under it.
pub const REDIS_PREFIX: &str = "gleaner:";

/// Redis keys that revoke tokens. Written by identity, read by every verifier.
///
/// Every record lives as long as the tokens it revokes can still be accepted:
/// their remaining lifetime plus the verifier's leeway on `exp`.
#[derive(Clone)]
pub struct Revocations {
    redis: Pool,
    prefix: Arc<str>,
    user_versions: bool,
}

impl Revocations {
    /// Revocation records under `prefix` (e.g. `gleaner:`).
    pub fn new(redis: Pool, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            user_versions: false,
        }
    }

    /// The same records, and with them, in the same `MGET`, the version of the token's
    /// user's record ([`UserVersion`]; [`AuthUser::user_version`]).
    pub fn with_user_versions(mut self) -> Self {
        self.user_versions = true;
        self
    }

    fn jti_key(&self, jti: &str) -> String {
        format!("{}revoked:jti:{jti}", self.prefix)
    }
    fn sid_key(&self, sid: &str) -> String {
        format!("{}revoked:sid:{sid}", self.prefix)
    }
    fn user_key(&self, user: Uuid) -> String {
        format!("{}revoked:user:{user}", self.prefix)
    }

    /// Revoke one access token until `ttl` (its remaining life) and the leeway pass.
    pub async fn revoke_token(&self, jti: &str, ttl: Duration) -> Result<(), Error> {
        self.redis
            .set::<(), _, _>(self.jti_key(jti), 1, Some(expire(ttl)), None, false)
            .await
    }

    /// Revoke every access token of a login session for `ttl` (the access TTL) and the leeway.
    pub async fn revoke_session(&self, sid: &str, ttl: Duration) -> Result<(), Error> {
        self.redis
            .set::<(), _, _>(self.sid_key(sid), 1, Some(expire(ttl)), None, false)
            .await
    }

    /// Revoke every token `user` holds now, for `ttl` (the access TTL):
    /// raises the user's generation and returns the new one. Tokens issued
    /// afterwards carry it (see `generation`) and are accepted.
    pub async fn revoke_user(&self, user: Uuid, ttl: Duration) -> Result<u64, Error> {
        let generation: String = self
            .redis
            .eval(
                RAISE_GENERATION,
                vec![self.user_key(user)],
                vec![(ttl.as_secs() + LEEWAY_SECS).max(1).to_string()],
            )
            .await?;
        generation
            .parse()
            .map_err(|_| Error::new(ErrorKind::Parse, "token generation is not a number"))
    }

    /// The generation a token issued now for `user` must carry.
    pub async fn generation(&self, user: Uuid) -> Result<u64, Error> {
        let generation: Option<u64> = self.redis.get(self.user_key(user)).await?;
        Ok(generation.unwrap_or(0))
    }

    /// Whether `claims` has been revoked by any of the three records.
    pub async fn is_revoked(&self, claims: &AccessClaims) -> Result<bool, Error> {
        Ok(self.check(claims).await?.0)
    }

    /// Whether `claims` has been revoked, and the version of its user's record when
    /// this reads versions ([`with_user_versions`](Self::with_user_versions); else
    /// [`UserVersion::Unknown`]): one `MGET`.
    pub async fn check(&self, claims: &AccessClaims) -> Result<(bool, UserVersion), Error> {
        let mut keys = Vec::with_capacity(4);
        keys.push(self.jti_key(&claims.jti));
        keys.push(self.sid_key(&claims.sid));
        keys.push(self.user_key(claims.sub));
        if self.user_versions {
            keys.push(self.user_version_key(claims.sub));
        }
        let values: Vec<Option<i64>> = self.redis.mget(keys).await?;
        let jti = values.first().copied().flatten().is_some();
        let sid = values.get(1).copied().flatten().is_some();
        let user =
            values.get(2).copied().flatten().is_some_and(|generation| {
                claims.generation < u64::try_from(generation).unwrap_or(0)
            });
        let version = if self.user_versions {
            UserVersion::from_value(values.get(3).copied().flatten())
        } else {
            UserVersion::Unknown
        };
        Ok((jti || sid || user, version))
    }
}

/// A record's expiry: the tokens' remaining life plus the verifier's leeway.
fn expire(ttl: Duration) -> Expiration {
    Expiration::EX((ttl.as_secs() + LEEWAY_SECS).max(1) as i64)
}

/// Where verification keys come from.
enum KeySource {
    /// The issuer's own keys (identity verifies its own tokens).
    Static(HashMap<String, DecodingKey>),
    /// A JWKS URL, cached and refreshed when an unknown `kid` shows up.
    Jwks {
        url: String,
        http: reqwest::Client,
        cache: RwLock<JwksCache>,
    },
}

struct JwksCache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Minimum time between two JWKS fetches triggered by unknown `kid`s,
/// so garbage tokens cannot make us hammer the issuer.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys are refreshed at least this often.
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// Verifies access tokens: signature, algorithm, issuer, audience, type, time, revocation.
///
/// A token that passed the signature and claim checks is remembered until its `exp`
/// (keyed by its whole text), so the next request carrying it skips the EdDSA
/// verification; revocation is checked in Redis on every request all the same.
pub struct TokenVerifier {
    keys: KeySource,
    validation: Validation,
    revocations: Option<Revocations>,
    verified: VerifiedTokens,
}

impl TokenVerifier {
    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut v = Validation::new(ALGORITHM);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        v
    }

    /// A verifier with known keys (`kid` → key).
    pub fn with_keys(
        keys: HashMap<String, DecodingKey>,
        issuer: &str,
        audience: &str,
        revocations: Option<Revocations>,
    ) -> Self {
        Self {
            keys: KeySource::Static(keys),
            validation: Self::validation(issuer, audience),
            revocations,
            verified: VerifiedTokens::default(),
        }
    }

    /// A verifier fetching keys from `jwks_url`.
    pub fn with_jwks(
        jwks_url: &str,
        http: reqwest::Client,
        issuer: &str,
        audience: &str,
        revocations: Option<Revocations>,
    ) -> Self {
        Self {
            keys: KeySource::Jwks {
                url: jwks_url.to_string(),
                http,
                cache: RwLock::new(JwksCache {
                    keys: HashMap::new(),
                    fetched: None,
                }),
            },
            validation: Self::validation(issuer, audience),
            revocations,
            verified: VerifiedTokens::default(),
        }
    }

    /// Verify a bearer token and return its claims.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        Ok(self.verify_with_user_version(token).await?.0)
    }

    /// [`verify`](Self::verify), and the version of the token's user's record read
    /// with the revocation records ([`UserVersion::Unknown`] unless the verifier's
    /// [`Revocations`] read versions).
    pub async fn verify_with_user_version(
        &self,
        token: &str,
    ) -> Result<(AccessClaims, UserVersion), TokenError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp() as i64)
            .await
    }

    /// [`verify`](Self::verify) with `now` (seconds since the epoch) as the time a
    /// remembered token is checked against: a remembered token is used only before
    /// its `exp` and while its signing key is still known; otherwise, and for a
    /// token not seen before, the signature and every claim are checked again.
    async fn verify_at(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(AccessClaims, UserVersion), TokenError> {
        let claims = match self.verified.get(token, now) {
            Some((kid, claims)) => {
                self.with_key(&kid, |_| Ok(())).await?;
                claims
            }
            None => {
                let (kid, claims) = self.check_signature_and_claims(token).await?;
                self.verified.insert(token, &kid, &claims, now);
                claims
            }
        };
        let mut version = UserVersion::Unknown;
        if let Some(revocations) = &self.revocations {
            match revocations.check(&claims).await {
                Ok((false, v)) => version = v,
                Ok((true, _)) => return Err(TokenError::Revoked),
                Err(e) => return Err(TokenError::RevocationsUnavailable(e.to_string())),
            }
        }
        Ok((claims, version))
    }

    /// The signing key id and claims of `token` after checking its signature and
    /// every claim but revocation.
    async fn check_signature_and_claims(
        &self,
        token: &str,
    ) -> Result<(String, AccessClaims), TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no kid in header".into()))?;
        let claims = self
            .with_key(&kid, |key| {
                jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
                    .map(|d| d.claims)
                    .map_err(|e| TokenError::Invalid(e.to_string()))
            })
            .await?;
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(TokenError::Invalid(format!(
                "token type {} is not {ACCESS_TOKEN_TYPE}",
                claims.typ
            )));
        }
        Ok((kid, claims))
    }

    /// `decode` applied to the key `kid`, the JWKS fetched or refreshed first when
    /// needed; [`TokenError::UnknownKey`] when no such key is known.
    async fn with_key<T>(
        &self,
        kid: &str,
        decode: impl FnOnce(&DecodingKey) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        match &self.keys {
            KeySource::Static(keys) => keys.get(kid).ok_or(TokenError::UnknownKey).and_then(decode),
            KeySource::Jwks { url, http, cache } => {
                {
                    let c = cache.read().await;
                    let fresh = c.fetched.is_some_and(|t| t.elapsed() < JWKS_MAX_AGE);
                    if let (Some(key), true) = (c.keys.get(kid), fresh) {
                        return decode(key);
                    }
                }
                let mut c = cache.write().await;
                // Another task may have refreshed while we waited for the lock.
                let may_fetch = match c.fetched {
                    None => true,
                    Some(t) if t.elapsed() >= JWKS_MAX_AGE => true,
                    Some(t) => !c.keys.contains_key(kid) && t.elapsed() >= JWKS_REFETCH_INTERVAL,
                };
                if may_fetch {
                    match fetch_jwks(http, url).await {
                        Ok(keys) => {
                            c.keys = keys;
                            c.fetched = Some(Instant::now());
                        }
                        Err(e) if c.keys.is_empty() => return Err(TokenError::Unavailable(e)),
                        Err(e) => {
                            tracing::warn!(error = %e, "JWKS refresh failed, using cached keys");
                        }
                    }
                }
                c.keys
                    .get(kid)
                    .ok_or(TokenError::UnknownKey)
                    .and_then(decode)
            }
        }
    }
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
) -> Result<HashMap<String, DecodingKey>, String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| format!("JWKS fetch: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("JWKS fetch: HTTP {}", response.status()));
    }
    let set: JwkSet = response
        .json()
        .await
        .map_err(|e| format!("JWKS parse: {e}"))?;
    Ok(decoding_keys(&set))
}

/// `kid` → key for every usable key of a JWKS.
pub fn decoding_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
        })
        .collect()
}

/// The authenticated caller (from `Authorization: Bearer`).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Verified claims of the access token.
    pub claims: AccessClaims,
    user_version: UserVersion,
}

impl AuthUser {
    /// The version of the caller's user record, read with the revocation records
    /// ([`Revocations::with_user_versions`]); [`UserVersion::Unknown`] otherwise.
    pub fn user_version(&self) -> UserVersion {
        self.user_version
    }

    /// The caller's user id.
    pub fn id(&self) -> Uuid {
        self.claims.sub
    }

    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.claims.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs the {} role",
                role.as_str()
            )))
        }
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("a bearer access token is required"))?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let (claims, user_version) = verifier.verify_with_user_version(token).await?;
        Ok(AuthUser {
            claims,
            user_version,
        })
    }
}

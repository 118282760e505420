//! Tokens whose signature and claims were already checked, so that a token presented
//! again (every request of a session carries the same one) costs a map lookup
//! instead of an EdDSA verification.
//!
//! What is remembered is exactly what verification proved: that these bytes, signed
//! by the key `kid`, carry these claims, and that they were valid when checked. An
//! entry is keyed by the whole token, so only the very same bytes hit it; it is
//! used only before the token's `exp` (verification itself would accept it up to the
//! leeway later: those last seconds go through the full check again), and only while
//! the verifier still knows `kid`. Revocation is not remembered: it is checked on
//! every request as before.

use std::collections::HashMap;
use std::sync::RwLock;

use super::AccessClaims;

/// The most tokens remembered. A token is about 500 bytes and its claims about as much,
/// so the map stays under a few MiB; past this, expired entries are dropped, and if
/// all are still valid the map starts again empty.
pub(super) const CAPACITY: usize = 4096;

struct Entry {
    kid: String,
    claims: AccessClaims,
}

/// Verified tokens by their whole text. The map hashes with foldhash (randomly
/// seeded), not SipHash: a lookup hashes a whole token, hundreds of bytes, on every
/// request, and only tokens whose signature verified are ever inserted, so nobody can
/// choose keys to collide.
#[derive(Default)]
pub(super) struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Entry, foldhash::fast::RandomState>>,
}

impl VerifiedTokens {
    /// The signing key id and claims of `token` if it was verified and `now` (seconds
    /// since the epoch) is before its `exp`.
    pub(super) fn get(&self, token: &str, now: i64) -> Option<(String, AccessClaims)> {
        // A poisoned lock only means a thread panicked while holding it; the map holds
        // only whole entries.
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(token)?;
        (now < entry.claims.exp).then(|| (entry.kid.clone(), entry.claims.clone()))
    }

    /// Remember that `token`, signed with `kid`, verified to `claims` at `now`.
    pub(super) fn insert(&self, token: &str, kid: &str, claims: &AccessClaims, now: i64) {
        if now >= claims.exp {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(token) {
            entries.retain(|_, e| now < e.claims.exp);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Entry {
                kid: kid.to_owned(),
                claims: claims.clone(),
            },
        );
    }

    /// Tokens remembered now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jsonwebtoken::{DecodingKey, EncodingKey, Header};

    use super::*;
    use crate::auth::{ALGORITHM, Role, TokenError, TokenVerifier};

    /// A key pair made for these tests only.
    const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIG8eyXFE/GfkNyF9+TfRuxsSPM7c2ad6VcIaS8b6k2rJ
-----END PRIVATE KEY-----";
    const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEApq9BzZwNIyFhrFJXLzMeLLQz0UjKlGAYDNNO3IOXpf0=
-----END PUBLIC KEY-----";

    fn verifier() -> TokenVerifier {
        let key = DecodingKey::from_ed_pem(PUBLIC_PEM.as_bytes()).unwrap();
        TokenVerifier::with_keys(HashMap::from([("k1".to_owned(), key)]), "i", "a", None)
    }

    fn sign(claims: &AccessClaims) -> String {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some("k1".into());
        let key = EncodingKey::from_ed_pem(PRIVATE_PEM.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_and_answers_the_same_claims() {
        let verifier = verifier();
        let c = claims(now() + 900);
        let token = sign(&c);
        assert_eq!(verifier.verify(&token).await.unwrap(), c);
        assert_eq!(verifier.verified.len(), 1);
        assert_eq!(verifier.verify(&token).await.unwrap(), c);
        // A token that fails is not remembered.
        let mut other = claims(now() + 900);
        other.aud = "somebody-else".into();
        assert!(verifier.verify(&sign(&other)).await.is_err());
        assert_eq!(verifier.verified.len(), 1);
    }

    #[tokio::test]
    async fn a_remembered_token_past_its_exp_is_verified_again_and_refused() {
        let verifier = verifier();
        // Expired (beyond the leeway), but remembered from when it was valid.
        let c = claims(now() - 60);
        let token = sign(&c);
        verifier.verified.insert(&token, "k1", &c, c.exp - 100);
        assert!(verifier.verified.get(&token, c.exp - 1).is_some());
        assert!(matches!(
            verifier.verify(&token).await,
            Err(TokenError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_remembered_token_whose_key_is_gone_is_refused() {
        let verifier = verifier();
        let c = claims(now() + 900);
        let token = sign(&c);
        verifier.verified.insert(&token, "retired", &c, now());
        assert!(matches!(
            verifier.verify(&token).await,
            Err(TokenError::UnknownKey)
        ));
    }

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: uuid::Uuid::new_v4(),
            role: Role::User,
            jti: "j".into(),
            sid: "s".into(),
            generation: 0,
            iat: exp - 900,
            nbf: exp - 900,
            exp,
            iss: "i".into(),
            aud: "a".into(),
            typ: "access".into(),
        }
    }

    #[test]
    fn an_entry_is_found_only_by_the_same_token_and_only_before_exp() {
        let cache = VerifiedTokens::default();
        let c = claims(1_000);
        cache.insert("token", "k1", &c, 100);
        assert_eq!(cache.get("token", 100), Some(("k1".to_owned(), c.clone())));
        assert_eq!(cache.get("token", 999), Some(("k1".to_owned(), c)));
        assert_eq!(
            cache.get("token", 1_000),
            None,
            "at exp it is verified again"
        );
        assert_eq!(cache.get("token2", 100), None);
        assert_eq!(cache.get("toke", 100), None);
    }

    #[test]
    fn an_expired_token_is_not_remembered() {
        let cache = VerifiedTokens::default();
        cache.insert("token", "k1", &claims(1_000), 1_000);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_map_is_bounded_and_drops_expired_entries_first() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY {
            // Half expire at 200, half at 2,000.
            let exp = if i % 2 == 0 { 200 } else { 2_000 };
            cache.insert(&format!("t{i}"), "k", &claims(exp), 100);
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.insert("new", "k", &claims(2_000), 300);
        assert_eq!(cache.len(), CAPACITY / 2 + 1, "the expired half is gone");
        assert!(cache.get("t1", 300).is_some());
        // All valid and full: it starts again rather than grow.
        for i in 0..CAPACITY {
            cache.insert(&format!("u{i}"), "k", &claims(2_000), 300);
        }
        assert!(cache.len() <= CAPACITY);
    }
}

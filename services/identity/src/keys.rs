//! Ed25519 signing keys: loading PEM files, `kid` thumbprints, the JWKS.
//!
//! The current key signs; previous keys (rotation) still verify and stay in
//! the JWKS until the tokens they signed have expired.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// First line of a key written by `identity keygen` (without `--production`).
pub const DEV_KEY_MARKER: &str = "# gleaner development signing key: never use in production";

/// One public key: its `kid`, raw bytes and JWK.
#[derive(Clone)]
pub struct PublicKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    x: String,
}

impl PublicKey {
    fn from_verifying(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { kid, x }
    }

    /// The JWK of this key.
    pub fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "use": "sig", "alg": "EdDSA"})
    }

    /// A jsonwebtoken decoding key.
    pub fn decoding_key(&self) -> anyhow::Result<DecodingKey> {
        Ok(DecodingKey::from_ed_components(&self.x)?)
    }
}

/// The signing key and every key that still verifies.
pub struct KeyRing {
    /// `kid` of the signing key.
    pub current_kid: String,
    /// Signs new tokens.
    pub encoding: EncodingKey,
    /// The signing key first, then previous keys.
    pub public: Vec<PublicKey>,
    /// Whether the signing key is a development key.
    pub is_dev_key: bool,
}

fn pem_body(text: &str) -> &str {
    text.find("-----BEGIN").map_or(text, |i| &text[i..])
}

/// A generated development key, as file contents.
pub fn generate_dev_key_pem() -> anyhow::Result<String> {
    Ok(format!("{DEV_KEY_MARKER}\n{}", generate_key_pem()?))
}

/// A generated key with no development marker (what production accepts), as file contents.
pub fn generate_key_pem() -> anyhow::Result<String> {
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .context("encoding the key")?;
    Ok(pem.as_str().to_owned())
}

fn read_key_file(path: &Path, setting: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))
}

impl KeyRing {
    /// Load the signing key (PKCS#8 PEM) and previous keys (private or public PEM).
    pub fn load(signing: &Path, previous: &[std::path::PathBuf]) -> anyhow::Result<Self> {
        let text = read_key_file(signing, "JWT_SIGNING_KEY_FILE")?;
        Self::from_pems(
            &text,
            &previous
                .iter()
                .map(|p| read_key_file(p, "JWT_PREVIOUS_KEY_FILES"))
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
    }

    /// Build from PEM texts.
    pub fn from_pems(signing_pem: &str, previous_pems: &[String]) -> anyhow::Result<Self> {
        let body = pem_body(signing_pem);
        let signing = SigningKey::from_pkcs8_pem(body).context(
            "JWT_SIGNING_KEY_FILE: not an Ed25519 PKCS#8 PEM private key (create one with `identity keygen`)",
        )?;
        let encoding = EncodingKey::from_ed_pem(body.as_bytes())
            .context("JWT_SIGNING_KEY_FILE: jsonwebtoken cannot use this key")?;
        let current = PublicKey::from_verifying(&signing.verifying_key());
        let mut public = vec![current.clone()];
        for pem in previous_pems {
            let body = pem_body(pem);
            let verifying = match SigningKey::from_pkcs8_pem(body) {
                Ok(k) => k.verifying_key(),
                Err(_) => VerifyingKey::from_public_key_pem(body).context(
                    "JWT_PREVIOUS_KEY_FILES: not an Ed25519 PEM key (private or public)",
                )?,
            };
            let key = PublicKey::from_verifying(&verifying);
            if !public.iter().any(|k| k.kid == key.kid) {
                public.push(key);
            }
        }
        Ok(Self {
            current_kid: current.kid,
            encoding,
            public,
            is_dev_key: signing_pem.contains(DEV_KEY_MARKER),
        })
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        json!({"keys": self.public.iter().map(PublicKey::jwk).collect::<Vec<_>>()})
    }

    /// `kid` → decoding key, for verifying our own tokens.
    pub fn decoding_keys(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        self.public
            .iter()
            .map(|k| Ok((k.kid.clone(), k.decoding_key()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_loads_and_is_marked_dev() {
        let pem = generate_dev_key_pem().unwrap();
        let ring = KeyRing::from_pems(&pem, &[]).unwrap();
        assert!(ring.is_dev_key);
        assert_eq!(ring.public.len(), 1);
        assert_eq!(ring.public[0].kid.len(), 43);
        let jwks = ring.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["kid"], ring.current_kid.as_str());
    }

    #[test]
    fn a_production_key_loads_and_is_not_marked_dev() {
        let pem = generate_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let ring = KeyRing::from_pems(&pem, &[]).unwrap();
        assert!(!ring.is_dev_key);
    }

    #[test]
    fn previous_keys_are_published_after_the_current() {
        let a = generate_dev_key_pem().unwrap();
        let b = generate_dev_key_pem().unwrap();
        let ring = KeyRing::from_pems(&b, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(ring.public.len(), 2, "duplicates are dropped");
        let old = KeyRing::from_pems(&a, &[]).unwrap();
        assert_eq!(ring.public[1].kid, old.current_kid);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(KeyRing::from_pems("not a key", &[]).is_err());
    }
}

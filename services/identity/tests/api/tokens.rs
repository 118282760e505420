use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gleaner_common::auth::{AccessClaims, Role};
use gleaner_identity::keys::{KeyRing, generate_dev_key_pem};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

struct Forge {
    ring: KeyRing,
    claims: AccessClaims,
}

impl Forge {
    async fn new(app: &TestApp, s: &Session) -> Self {
        let ring = KeyRing::load(&app.key_dir.join("signing.pem"), &[]).unwrap();
        let payload = s.access.split('.').nth(1).unwrap();
        let claims: AccessClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        Self { ring, claims }
    }

    fn sign(&self, claims: &AccessClaims) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(self.ring.current_kid.clone());
        jsonwebtoken::encode(&h, claims, &self.ring.encoding).unwrap()
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn assert_rejected(app: &TestApp, token: &str, why: &str) {
    let r = app.get_auth("/api/v1/users/me", token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert_eq!(r.headers()["www-authenticate"], "Bearer", "{why}");
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_401() {
    let app = spawn_app().await;
    let s = app.user("eve").await;
    let forge = Forge::new(&app, &s).await;
    let now = chrono::Utc::now().timestamp();
    // Our own re-signing of the genuine claims verifies: the forge is sound.
    assert_eq!(
        app.get_auth("/api/v1/users/me", &forge.sign(&forge.claims))
            .await
            .status(),
        StatusCode::OK
    );

    let claims_json = serde_json::to_value(&forge.claims).unwrap();
    // alg: none
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": forge.ring.current_kid})),
        b64(&claims_json)
    );
    assert_rejected(&app, &none, "alg none").await;
    // HS256 signed with the public key (algorithm confusion), in every form the key is published.
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    for secret in [
        x.as_bytes().to_vec(),
        raw,
        serde_json::to_vec(&jwks["keys"][0]).unwrap(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(forge.ring.current_kid.clone());
        let t =
            jsonwebtoken::encode(&h, &forge.claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_rejected(&app, &t, "HS256 with public key").await;
    }
    // Expired, not yet valid, wrong audience/issuer/type.
    let mut c = forge.claims.clone();
    c.exp = now - 120;
    c.iat = now - 1000;
    c.nbf = now - 1000;
    assert_rejected(&app, &forge.sign(&c), "expired").await;
    let mut c = forge.claims.clone();
    c.nbf = now + 600;
    assert_rejected(&app, &forge.sign(&c), "not yet valid").await;
    let mut c = forge.claims.clone();
    c.aud = "someone-else".into();
    assert_rejected(&app, &forge.sign(&c), "wrong aud").await;
    let mut c = forge.claims.clone();
    c.iss = "evil".into();
    assert_rejected(&app, &forge.sign(&c), "wrong iss").await;
    let mut c = forge.claims.clone();
    c.typ = "refresh".into();
    assert_rejected(&app, &forge.sign(&c), "wrong typ").await;
    // Tampered: role raised, signature kept.
    let mut parts: Vec<String> = s.access.split('.').map(String::from).collect();
    let mut tampered = claims_json.clone();
    tampered["role"] = json!("admin");
    parts[1] = b64(&tampered);
    assert_rejected(&app, &parts.join("."), "tampered").await;
    // Signed by a key we do not know, with our kid or its own.
    let stranger = KeyRing::from_pems(&generate_dev_key_pem().unwrap(), &[]).unwrap();
    for kid in [forge.ring.current_kid.clone(), stranger.current_kid.clone()] {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid);
        let t = jsonwebtoken::encode(&h, &forge.claims, &stranger.encoding).unwrap();
        assert_rejected(&app, &t, "unknown key").await;
    }
    // No kid.
    let t = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &forge.claims,
        &forge.ring.encoding,
    )
    .unwrap();
    assert_rejected(&app, &t, "no kid").await;
    // The refresh token is not an access token; garbage neither.
    assert_rejected(&app, &s.refresh, "refresh as access").await;
    assert_rejected(&app, "garbage", "garbage").await;
    let r = app
        .http
        .get(app.url("/api/v1/users/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Nothing above made this user an admin.
    let me: Value = app
        .get_auth("/api/v1/users/me", &s.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
    assert_problem(
        app.get_auth("/api/v1/users", &s.access).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn rotated_keys_keep_verifying_until_removed() {
    // Start with key A, get a token, then restart with key B signing and A as previous.
    let old_pem = generate_dev_key_pem().unwrap();
    let old = KeyRing::from_pems(&old_pem, &[]).unwrap();
    let dir = std::env::temp_dir().join(format!("gleaner-rot-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let old_file = dir.join("old.pem");
    std::fs::write(&old_file, &old_pem).unwrap();
    let previous = old_file.clone();
    let app = app()
        .settings(move |s| s.jwt_previous_key_files = vec![previous])
        .spawn()
        .await;
    let s = app.user("rotor").await;
    let forge = Forge::new(&app, &s).await;
    // A token signed by the previous key (as issued before the rotation).
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(old.current_kid.clone());
    let old_token = jsonwebtoken::encode(&h, &forge.claims, &old.encoding).unwrap();
    assert_eq!(
        app.get_auth("/api/v1/users/me", &old_token).await.status(),
        StatusCode::OK
    );
    // Both keys are published, the signing key first.
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [forge.ring.current_kid.as_str(), old.current_kid.as_str()]
    );
    for k in jwks["keys"].as_array().unwrap() {
        assert_eq!(k["alg"], "EdDSA");
        assert!(k.get("d").is_none(), "private part never published");
    }
    // New tokens carry the new kid.
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(s.access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], forge.ring.current_kid.as_str());
    assert_eq!(header["alg"], "EdDSA");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_shared_verifier_works_from_the_jwks_url() {
    use gleaner_common::auth::{Revocations, TokenVerifier};
    let app = spawn_app().await;
    let s = app.user("gateway").await;
    let verifier = TokenVerifier::with_jwks(
        &app.url("/.well-known/jwks.json"),
        reqwest::Client::new(),
        "gleaner",
        "gleaner-api",
        Some(Revocations::new(app.state.redis.clone(), "gleaner:")),
    );
    let claims = verifier.verify(&s.access).await.unwrap();
    assert_eq!(claims.sub.to_string(), s.user_id);
    assert_eq!(claims.role, Role::User);
    assert!(verifier.verify(&s.refresh).await.is_err());
    // Revocations written by identity are seen by the shared verifier.
    app.http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        verifier.verify(&s.access).await,
        Err(gleaner_common::auth::TokenError::Revoked)
    ));
}

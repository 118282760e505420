//! A verifier remembers tokens it has verified, but never their revocation: a token
//! revoked after it was remembered is refused on its very next use, whichever record
//! revokes it (the token, its login session, or every token of its user).

use std::time::Duration;

use fred::interfaces::ClientLike as _;
use gleaner_common::auth::{REDIS_PREFIX, Revocations, Role, TokenError, TokenVerifier};
use gleaner_testkit::{AUDIENCE, ISSUER, TestRedis, TestSigner};

async fn setup() -> (TestRedis, TestSigner, Revocations, TokenVerifier) {
    gleaner_common::install_crypto_provider();
    let redis = TestRedis::start().await.unwrap();
    let pool = gleaner_common::redis::connect(&redis.url(), 1)
        .await
        .unwrap();
    pool.wait_for_connect().await.unwrap();
    let signer = TestSigner::start().await.unwrap();
    let revocations = Revocations::new(pool, REDIS_PREFIX);
    let verifier = TokenVerifier::with_jwks(
        signer.jwks_url(),
        reqwest::Client::new(),
        ISSUER,
        AUDIENCE,
        Some(revocations.clone()),
    );
    (redis, signer, revocations, verifier)
}

const TTL: Duration = Duration::from_secs(900);

#[tokio::test]
async fn a_remembered_token_revoked_by_any_record_is_refused_at_once() {
    let (_redis, signer, revocations, verifier) = setup().await;

    // Its own record.
    let claims = signer.claims(Role::User);
    let token = signer.sign(&claims);
    for _ in 0..3 {
        assert_eq!(verifier.verify(&token).await.unwrap(), claims);
    }
    revocations.revoke_token(&claims.jti, TTL).await.unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::Revoked)
    ));

    // Its session.
    let claims = signer.claims(Role::User);
    let token = signer.sign(&claims);
    assert!(verifier.verify(&token).await.is_ok());
    revocations.revoke_session(&claims.sid, TTL).await.unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::Revoked)
    ));

    // Every token of its user (a generation raised past the token's).
    let claims = signer.claims(Role::Admin);
    let token = signer.sign(&claims);
    assert!(verifier.verify(&token).await.is_ok());
    let generation = revocations.revoke_user(claims.sub, TTL).await.unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::Revoked)
    ));
    // A token issued afterwards, with the new generation, passes.
    let mut fresh = signer.claims(Role::Admin);
    fresh.sub = claims.sub;
    fresh.generation = generation;
    assert!(verifier.verify(&signer.sign(&fresh)).await.is_ok());
}

#[tokio::test]
async fn a_remembered_token_is_refused_while_revocations_cannot_be_read() {
    let (mut redis, signer, _revocations, verifier) = setup().await;
    let token = signer.token(Role::User);
    assert!(verifier.verify(&token).await.is_ok());
    redis.stop();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::RevocationsUnavailable(_))
    ));
}

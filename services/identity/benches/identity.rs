//! Costs behind login throughput and per-request token checks:
//! one bcrypt verify at the production cost, signing and verifying a token.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gleaner_common::auth::{Role, TokenVerifier};
use gleaner_identity::keys::{KeyRing, generate_dev_key_pem};
use gleaner_identity::password::PasswordHasher;
use gleaner_identity::tokens::TokenIssuer;
use secrecy::SecretString;

fn bcrypt(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hasher = PasswordHasher::new(12, 1, 1).expect("hasher");
    let pw = SecretString::from("correct horse battery staple".to_string());
    let hash = rt.block_on(hasher.hash(&pw)).expect("hash");
    let mut g = c.benchmark_group("password");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("bcrypt_verify_cost_12", |b| {
        b.to_async(&rt)
            .iter(|| async { hasher.verify(&pw, Some(&hash)).await.expect("verify") })
    });
    // A failed login costs the same whether the user exists or not.
    let wrong = SecretString::from("not the password at all".to_string());
    g.bench_function("login_check_wrong_password", |b| {
        b.to_async(&rt)
            .iter(|| async { hasher.verify(&wrong, Some(&hash)).await.expect("verify") })
    });
    g.bench_function("login_check_unknown_user", |b| {
        b.to_async(&rt)
            .iter(|| async { hasher.verify(&wrong, None).await.expect("verify") })
    });
    g.finish();
}

fn tokens(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ring =
        Arc::new(KeyRing::from_pems(&generate_dev_key_pem().expect("key"), &[]).expect("ring"));
    let issuer = TokenIssuer::new(
        ring.clone(),
        "gleaner",
        "gleaner-api",
        Duration::from_secs(900),
    );
    let verifier = TokenVerifier::with_keys(
        ring.decoding_keys().expect("keys"),
        "gleaner",
        "gleaner-api",
        None,
    );
    let user = uuid::Uuid::new_v4();
    let token = issuer
        .issue(user, Role::User, "sid", 0)
        .expect("issue")
        .token;
    c.bench_function("token_issue", |b| {
        b.iter(|| issuer.issue(user, Role::User, "sid", 0).expect("issue"))
    });
    // A token not seen before: the signature and every claim are checked. (The
    // verifier remembers tokens it has verified, so each iteration gets a new one.)
    c.bench_function("token_verify_signature_and_claims", |b| {
        b.to_async(&rt).iter_batched(
            || {
                issuer
                    .issue(user, Role::User, "sid", 0)
                    .expect("issue")
                    .token
            },
            |token| {
                let verifier = &verifier;
                async move { verifier.verify(&token).await.expect("verify") }
            },
            BatchSize::SmallInput,
        )
    });
    // The same token again, as on every request of a session after its first.
    c.bench_function("token_verify_remembered", |b| {
        b.to_async(&rt)
            .iter(|| async { verifier.verify(&token).await.expect("verify") })
    });
}

criterion_group!(benches, bcrypt, tokens);
criterion_main!(benches);

//! The shared rate limiter calls its script by hash once Redis knows it, and keeps
//! counting when Redis has forgotten the script (a restart, `SCRIPT FLUSH`): it sends
//! the script whole again, and the counts kept in Redis are unchanged.

use std::time::Duration;

use fred::interfaces::{ClientLike as _, LuaInterface as _};
use fred::prelude::Pool;
use gleaner_common::ratelimit::{GiveBack, Quota, RedisRateLimiter};
use gleaner_testkit::TestRedis;

/// A private Redis (kept running while the first element lives), a pool on it, and a
/// limiter with keys under `test:ratelimit:`.
async fn limiter() -> (TestRedis, Pool, RedisRateLimiter) {
    let redis = TestRedis::start().await.unwrap();
    let pool = gleaner_common::redis::connect(&redis.url(), 2)
        .await
        .unwrap();
    pool.wait_for_connect().await.unwrap();
    let limiter = RedisRateLimiter::new(pool.clone(), "test:ratelimit:", Duration::from_secs(2));
    (redis, pool, limiter)
}

#[tokio::test]
async fn the_limit_holds_across_a_flushed_script_cache() {
    let (_redis, pool, limiter) = limiter().await;
    // One request a minute, a burst of 3: nothing comes back during the test.
    let quota = Quota::new(1.0 / 60.0, 3).unwrap();

    let first = limiter.check("k", quota).await.unwrap();
    assert!(first.allowed);
    assert_eq!(first.remaining, 2);
    // By hash from now on.
    assert!(limiter.check("k", quota).await.unwrap().allowed);

    pool.script_flush(false).await.unwrap();
    let third = limiter.check("k", quota).await.unwrap();
    assert!(third.allowed, "the script is sent again");
    assert_eq!(third.remaining, 0, "and the count went on");
    assert!(!limiter.check("k", quota).await.unwrap().allowed);
    assert!(limiter.check("other", quota).await.unwrap().allowed);

    // A second limiter (another replica) shares the same count.
    let replica = RedisRateLimiter::new(pool, "test:ratelimit:", Duration::from_secs(2));
    assert!(!replica.check("k", quota).await.unwrap().allowed);
}

/// Taking several requests at once grants what the budget has now, and the script
/// counts them as that many single requests.
#[tokio::test]
async fn a_take_grants_what_the_budget_has_and_counts_it() {
    let (_redis, _, limiter) = limiter().await;
    let quota = Quota::new(1.0 / 60.0, 5).unwrap();

    let first = limiter.take("k", quota, 2, None).await.unwrap();
    assert_eq!(first.granted, 2);
    assert!(first.decision.allowed);
    assert_eq!(first.decision.remaining, 3);
    // More than is left: what is left.
    let second = limiter.take("k", quota, 10, None).await.unwrap();
    assert_eq!(second.granted, 3);
    assert_eq!(second.decision.remaining, 0);
    // Nothing left: refused, with the wait for one more (a minute a request).
    let refused = limiter.take("k", quota, 1, None).await.unwrap();
    assert_eq!(refused.granted, 0);
    assert!(!refused.decision.allowed);
    assert!(refused.decision.retry_after > Duration::from_secs(55));
    assert!(!limiter.check("k", quota).await.unwrap().allowed);
}

/// What a take left unspent goes back while nothing else was counted since, and is
/// dropped once something was.
#[tokio::test]
async fn unspent_requests_go_back_only_while_the_stored_tat_is_the_takes() {
    let (_redis, _, limiter) = limiter().await;
    let quota = Quota::new(1.0 / 60.0, 5).unwrap();

    let lease = limiter.take("k", quota, 4, None).await.unwrap();
    assert_eq!((lease.granted, lease.decision.remaining), (4, 1));
    let tat = lease.tat.clone().expect("a TAT is stored");
    // One of the four spent, three given back with the next take of one.
    let back = GiveBack { count: 3, tat };
    let next = limiter.take("k", quota, 1, Some(&back)).await.unwrap();
    assert_eq!((next.granted, next.decision.remaining), (1, 3));
    // The same give-back again names a TAT no longer stored: dropped.
    let again = limiter.take("k", quota, 1, Some(&back)).await.unwrap();
    assert_eq!((again.granted, again.decision.remaining), (1, 2));

    // Another replica counts in between: the first one's give-back is dropped.
    let lease = limiter.take("j", quota, 3, None).await.unwrap();
    assert_eq!(lease.decision.remaining, 2);
    let other = limiter.take("j", quota, 1, None).await.unwrap();
    assert_eq!(other.decision.remaining, 1);
    let back = GiveBack {
        count: 2,
        tat: lease.tat.unwrap(),
    };
    let late = limiter.take("j", quota, 1, Some(&back)).await.unwrap();
    assert_eq!((late.granted, late.decision.remaining), (1, 0));
}

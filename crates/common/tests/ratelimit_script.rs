//! The shared rate limiter calls its script by hash once Redis knows it, and keeps
//! counting when Redis has forgotten the script (a restart, `SCRIPT FLUSH`): it sends
//! the script whole again, and the counts kept in Redis are unchanged.

use std::time::Duration;

use fred::interfaces::{ClientLike as _, LuaInterface as _};
use gleaner_common::ratelimit::{Quota, RedisRateLimiter};
use gleaner_testkit::TestRedis;

#[tokio::test]
async fn the_limit_holds_across_a_flushed_script_cache() {
    let redis = TestRedis::start().await.unwrap();
    let pool = gleaner_common::redis::connect(&redis.url(), 2)
        .await
        .unwrap();
    pool.wait_for_connect().await.unwrap();
    let limiter = RedisRateLimiter::new(pool.clone(), "test:ratelimit:", Duration::from_secs(2));
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
    let redis = TestRedis::start().await.unwrap();
    let pool = gleaner_common::redis::connect(&redis.url(), 2)
        .await
        .unwrap();
    pool.wait_for_connect().await.unwrap();
    let limiter = RedisRateLimiter::new(pool, "test:ratelimit:", Duration::from_secs(2));
    let quota = Quota::new(1.0 / 60.0, 5).unwrap();

    let first = limiter.take("k", quota, 2).await.unwrap();
    assert_eq!(first.granted, 2);
    assert!(first.decision.allowed);
    assert_eq!(first.decision.remaining, 3);
    // More than is left: what is left.
    let second = limiter.take("k", quota, 10).await.unwrap();
    assert_eq!(second.granted, 3);
    assert_eq!(second.decision.remaining, 0);
    // Nothing left: refused, with the wait for one more (a minute a request).
    let refused = limiter.take("k", quota, 1).await.unwrap();
    assert_eq!(refused.granted, 0);
    assert!(!refused.decision.allowed);
    assert!(refused.decision.retry_after > Duration::from_secs(55));
    assert!(!limiter.check("k", quota).await.unwrap().allowed);
}

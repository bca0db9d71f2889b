//! The user-code limiter over PostgreSQL: one count per key and window for every instance
//! (each with its own pool), atomic under concurrency, and swept with the expired records.

use token_engine::{Error, GrantType, TokenStore, UserCodeLimiter};

use crate::common::*;

/// The start of a window (Unix seconds, a multiple of 60).
const W0: i64 = T0 - T0 % 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_limiters_over_one_database_share_the_count() {
    let Some(db) = database("limiter_shared").await else {
        return;
    };
    let schema = db.schema().await;
    // Two instances: two stores, two pools, one database.
    let (a, b) = (store(&schema), store(&schema));
    let (la, lb) = (a.user_code_limiter(3), b.user_code_limiter(3));
    assert!(la.attempt("203.0.113.7", W0).await.unwrap());
    assert!(lb.attempt("203.0.113.7", W0 + 1).await.unwrap());
    assert!(la.attempt("203.0.113.7", W0 + 2).await.unwrap());
    // The fourth attempt of the window is refused, whichever instance it reaches.
    assert!(!lb.attempt("203.0.113.7", W0 + 3).await.unwrap());
    assert!(!la.attempt("203.0.113.7", W0 + 59).await.unwrap());
    // Other keys have their own count.
    assert!(lb.attempt("198.51.100.1", W0 + 3).await.unwrap());
    // The next window starts again; an attempt from a clock a second behind counts in it.
    assert!(la.attempt("203.0.113.7", W0 + 60).await.unwrap());
    assert!(lb.attempt("203.0.113.7", W0 + 59).await.unwrap());
    assert!(la.attempt("203.0.113.7", W0 + 61).await.unwrap());
    assert!(!lb.attempt("203.0.113.7", W0 + 62).await.unwrap());

    // Concurrent attempts on both instances: exactly the limit passes.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let l = if i % 2 == 0 { la.clone() } else { lb.clone() };
            tokio::spawn(async move { l.attempt("race", W0 + 120).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 3);

    // Past windows go with the expired records.
    let swept = a.delete_expired(W0 + 180).await.unwrap();
    assert_eq!(swept, 3, "the three keys' rows of past windows");
    let c = db.connect().await;
    let left: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.token_user_code_attempts",
                schema.get_options().unwrap().rsplit('=').next().unwrap()
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_through_two_engines_is_throttled_once() {
    let Some(db) = database("limiter_engines").await else {
        return;
    };
    let schema = db.schema().await;
    let (a, b) = (server(store(&schema), W0, 5), server(store(&schema), W0, 5));
    let (la, lb) = (
        a.engine.store().user_code_limiter(4),
        b.engine.store().user_code_limiter(4),
    );
    let tv = client().grant_types([GrantType::DeviceCode]);
    let start = a
        .engine
        .start_device_authorization(&tv, None, "https://as.example/device")
        .await
        .unwrap();
    // Three wrong guesses spread over both instances, then the right code: allowed (4).
    for (i, guess) in ["BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"].iter().enumerate() {
        let (engine, limiter) = if i % 2 == 0 { (&a, &la) } else { (&b, &lb) };
        assert!(matches!(
            engine
                .engine
                .device_request(guess, limiter, "attacker")
                .await,
            Err(Error::InvalidGrant(_))
        ));
    }
    b.engine
        .device_request(&start.user_code, &lb, "attacker")
        .await
        .unwrap();
    // The fifth, on either instance, is slow_down: the count is shared.
    for (engine, limiter) in [(&a, &la), (&b, &lb)] {
        assert!(matches!(
            engine
                .engine
                .device_request(&start.user_code, limiter, "attacker")
                .await,
            Err(Error::SlowDown)
        ));
    }
    db.drop().await;
}

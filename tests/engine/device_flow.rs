//! The device authorization grant (RFC 8628): start, approve or deny by user code, poll;
//! every poll answer, the guessing limit, and tokens exactly once under concurrent polls.

use std::sync::Arc;

use time::Duration;
use token_engine::{
    Client, Error, GrantError, GrantType, MemoryLimiter, MemoryStore, NoPasswordGrant,
};

use crate::common::*;

const VERIFY: &str = "https://auth.example.com/device";

fn tv() -> Client {
    Client::new("tv")
        .allow_scopes(["read", "play"])
        .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
}

#[tokio::test]
async fn start_approve_poll_gives_tokens_once() {
    let h = Harness::new();
    let limiter = MemoryLimiter::default();
    let start = h
        .engine
        .start_device_authorization(&tv(), Some("play"), VERIFY)
        .await
        .unwrap();
    assert_eq!(start.user_code.len(), 9);
    assert_eq!(start.user_code.as_bytes()[4], b'-');
    assert_eq!(
        start.verification_uri_complete,
        format!("{VERIFY}?user_code={}", start.user_code)
    );
    assert_eq!((start.expires_in, start.interval), (600, 5));
    let json = serde_json::to_value(&start).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "device_code",
            "expires_in",
            "interval",
            "user_code",
            "verification_uri",
            "verification_uri_complete"
        ]
    );
    assert!(!format!("{start:?}").contains(&start.device_code));

    let e = h
        .engine
        .poll_device(&tv(), &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AuthorizationPending), "{e:?}");
    assert_eq!(e.oauth_code(), "authorization_pending");

    // The user types the code sloppily: case and separators do not matter.
    let typed = start.user_code.to_lowercase().replace('-', " ");
    let shown = h
        .engine
        .device_request(&typed, &limiter, "ip-1")
        .await
        .unwrap();
    assert_eq!(
        (shown.client_id.as_str(), shown.scope.as_str()),
        ("tv", "play")
    );
    h.engine
        .approve_device(&typed, SUBJECT, &limiter, "ip-1")
        .await
        .unwrap();
    h.advance(Duration::seconds(5));
    let tokens = h
        .engine
        .poll_device(&tv(), &start.device_code, Default::default())
        .await
        .unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("play"));
    assert_eq!(
        claims(&h, &tokens.access_token).sub.as_deref(),
        Some(SUBJECT)
    );
    h.refresh(&tv(), rt(&tokens), Default::default())
        .await
        .unwrap();
    h.advance(Duration::seconds(5));
    let e = h
        .engine
        .poll_device(&tv(), &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::InvalidCode)),
        "{e:?}"
    );
    // A code already answered cannot be answered again.
    assert!(
        h.engine
            .deny_device(&start.user_code, &limiter, "ip-1")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn polling_too_fast_slows_down_by_five_seconds() {
    let h = Harness::new();
    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    let device = tv();
    let poll = || {
        h.engine
            .poll_device(&device, &start.device_code, Default::default())
    };
    assert!(matches!(poll().await, Err(Error::AuthorizationPending)));
    h.advance(Duration::seconds(1));
    let e = poll().await.unwrap_err();
    assert!(matches!(e, Error::SlowDown), "{e:?}");
    assert_eq!(e.oauth_code(), "slow_down");
    // The interval is now 10 s: 5 s later is still too fast, 10 s later is fine.
    h.advance(Duration::seconds(5));
    assert!(matches!(poll().await, Err(Error::SlowDown)));
    h.advance(Duration::seconds(15));
    assert!(matches!(poll().await, Err(Error::AuthorizationPending)));
}

#[tokio::test]
async fn denied_expired_foreign_and_unregistered() {
    let h = Harness::new();
    let limiter = MemoryLimiter::default();
    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    h.engine
        .deny_device(&start.user_code, &limiter, "ip")
        .await
        .unwrap();
    let e = h
        .engine
        .poll_device(&tv(), &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AccessDenied), "{e:?}");
    assert_eq!(e.oauth_code(), "access_denied");

    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    let thief = Client::new("other-tv").grant_types([GrantType::DeviceCode]);
    let e = h
        .engine
        .poll_device(&thief, &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidGrant(GrantError::CodeIssuedToAnotherClient)
        ),
        "{e:?}"
    );
    h.advance(Duration::seconds(600));
    let e = h
        .engine
        .poll_device(&tv(), &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ExpiredToken), "{e:?}");
    assert_eq!(e.oauth_code(), "expired_token");
    let e = h
        .engine
        .approve_device(&start.user_code, SUBJECT, &limiter, "ip")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ExpiredToken), "{e:?}");

    let e = h
        .engine
        .start_device_authorization(&client(), None, VERIFY)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnauthorizedClient), "{e:?}");
    for garbage in ["", "dc_", "nope", &"dc_x".repeat(100)] {
        assert!(
            h.engine
                .poll_device(&tv(), garbage, Default::default())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn user_code_guessing_is_stopped_by_the_limiter() {
    let h = Harness::new();
    let limiter = MemoryLimiter::default();
    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    for guess in [
        "BBBB-BBBB",
        "CCCC-CCCC",
        "DDDD-DDDD",
        "FFFF-FFFF",
        "GGGG-GGGG",
    ] {
        let e = h
            .engine
            .approve_device(guess, "mallory", &limiter, "attacker-ip")
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidGrant(GrantError::InvalidCode)),
            "{e:?}"
        );
    }
    // Even the right code is refused now, for this key.
    let e = h
        .engine
        .approve_device(&start.user_code, "mallory", &limiter, "attacker-ip")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SlowDown), "{e:?}");
    // The real user, from elsewhere, is not affected.
    h.engine
        .approve_device(&start.user_code, SUBJECT, &limiter, "user-ip")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_polls_on_two_instances_yield_tokens_once() {
    let store = MemoryStore::new();
    let clock = token_engine::ManualClock::new(NOW);
    let sink = Arc::new(token_engine::event::CollectingSink::new());
    let engines = Arc::new([
        builder(&clock, &sink).build(store.clone()).unwrap(),
        builder(&clock, &sink).build(store).unwrap(),
    ]);
    let start = engines[0]
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    engines[1]
        .approve_device(&start.user_code, SUBJECT, &MemoryLimiter::default(), "ip")
        .await
        .unwrap();
    let code: Arc<str> = start.device_code.into();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (engines, code, barrier) = (
                Arc::clone(&engines),
                Arc::clone(&code),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                engines[i % 2]
                    .poll_device(&tv(), &code, Default::default())
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::SlowDown | Error::InvalidGrant(GrantError::InvalidCode)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1, "tokens exactly once");
}

#[tokio::test]
async fn the_device_grant_through_the_token_endpoint() {
    let h = Harness::new();
    let clients = vec![tv()];
    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv&device_code={}",
        start.device_code
    );
    let r = h
        .engine
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.body(),
        r#"{"error":"authorization_pending","error_description":"The user has not yet completed the authorization."}"#
    );
    h.engine
        .approve_device(&start.user_code, SUBJECT, &MemoryLimiter::default(), "ip")
        .await
        .unwrap();
    h.advance(Duration::seconds(5));
    let r = h
        .engine
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
}

/// A limiter whose backend is down.
struct Down;

#[derive(Debug, thiserror::Error)]
#[error("limiter backend unreachable")]
struct Unreachable;

impl token_engine::UserCodeLimiter for Down {
    type Error = Unreachable;
    async fn attempt(&self, _key: &str, _now: i64) -> Result<bool, Unreachable> {
        Err(Unreachable)
    }
}

#[tokio::test]
async fn a_limiter_that_fails_refuses_the_attempt_as_a_store_error() {
    let h = Harness::new();
    let start = h
        .engine
        .start_device_authorization(&tv(), None, VERIFY)
        .await
        .unwrap();
    // Never let through unthrottled: the call fails, and nothing changed.
    for r in [
        h.engine
            .approve_device(&start.user_code, SUBJECT, &Down, "ip")
            .await,
        h.engine.device_request(&start.user_code, &Down, "ip").await,
    ] {
        match r {
            Err(Error::Store(e)) => assert_eq!(e.to_string(), "limiter backend unreachable"),
            other => panic!("expected Error::Store, got {other:?}"),
        }
    }
    let limiter = MemoryLimiter::default();
    h.engine
        .approve_device(&start.user_code, SUBJECT, &limiter, "ip")
        .await
        .unwrap();
}

#[tokio::test]
async fn one_limiter_shared_by_two_engines_counts_once() {
    // What a shared limiter gives several instances: one count per key. (MemoryLimiter is
    // shared here by reference; across processes use a database-backed one.)
    let (a, b) = (Harness::new(), Harness::new());
    let limiter = MemoryLimiter::new(2);
    for h in [&a, &b] {
        assert!(matches!(
            h.engine.device_request("BCDF-GHJK", &limiter, "ip").await,
            Err(Error::InvalidGrant(GrantError::InvalidCode))
        ));
    }
    for h in [&a, &b] {
        assert!(matches!(
            h.engine.device_request("BCDF-GHJK", &limiter, "ip").await,
            Err(Error::SlowDown)
        ));
    }
}

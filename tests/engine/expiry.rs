//! Time: access tokens expire after `access_ttl` + leeway; families expire when idle (which
//! slides with each refresh) and at their absolute lifetime (which never slides).

use time::Duration;
use token_engine::event::Event;
use token_engine::{Error, GrantError, RefreshRequest, TokenError};

use crate::common::*;

#[tokio::test]
async fn access_token_expires_after_access_ttl_plus_leeway() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    h.at(ACCESS_TTL + LEEWAY - 1);
    h.engine.verifier().verify(&r.access_token).unwrap();
    h.at(ACCESS_TTL + LEEWAY);
    let e = h.engine.verifier().verify(&r.access_token).unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::Expired)),
        "{e:?}"
    );
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::Expired)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [
            Event::VerificationFailed {
                reason: TokenError::Expired
            },
            Event::VerificationFailed {
                reason: TokenError::Expired
            },
        ]
    );
}

#[tokio::test]
async fn access_ttl_sets_exp_and_expires_in() {
    let h = Harness::with(|b| b.access_ttl(Duration::minutes(5)).leeway(Duration::ZERO));
    let r = h.login().await;
    assert_eq!(r.expires_in, 300);
    assert_eq!(claims(&h, &r.access_token).exp, Some(NOW + 300));
    h.at(299);
    h.engine.verifier().verify(&r.access_token).unwrap();
    h.at(300);
    let e = h.engine.verifier().verify(&r.access_token).unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::Expired)),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_unused_family_idle_expires() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    let r = h.login().await;
    let family = family_of(rt(&r));
    h.events();
    h.at(3600);
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::IdleExpired)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: Some(family),
            reason: GrantError::IdleExpired,
        }]
    );
}

#[tokio::test]
async fn a_family_used_just_before_its_idle_expiry_refreshes() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    let r = h.login().await;
    h.at(3599);
    h.rotate(rt(&r)).await;
}

#[tokio::test]
async fn idle_expiry_slides_with_each_refresh() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    let mut r = h.login().await;
    // Five refreshes 50 minutes apart: 250 minutes, far past one idle lifetime.
    for _ in 0..5 {
        h.advance(Duration::minutes(50));
        r = h.rotate(rt(&r)).await;
    }
    assert_eq!(generation_of(rt(&r)), 5);
    h.advance(Duration::hours(1));
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::IdleExpired)),
        "{e:?}"
    );
}

#[tokio::test]
async fn absolute_expiry_does_not_slide_with_regular_refreshes() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::hours(2))
    });
    let mut r = h.login().await;
    let family = family_of(rt(&r));
    for t in [50 * 60, 100 * 60, 2 * 3600 - 1] {
        h.at(t);
        r = h.rotate(rt(&r)).await;
    }
    h.events();
    // Used one second ago, so not idle; but the session is two hours old.
    h.at(2 * 3600);
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::AbsoluteExpired)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: Some(family),
            reason: GrantError::AbsoluteExpired,
        }]
    );
}

#[tokio::test]
async fn access_tokens_of_an_absolutely_expired_session_fail_the_revocation_check() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::hours(1))
            .access_ttl(Duration::hours(2))
    });
    let r = h.login().await;
    h.at(3600);
    h.engine.verifier().verify(&r.access_token).unwrap();
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
}

#[tokio::test]
async fn access_tokens_of_an_idle_expired_session_fail_the_revocation_check() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::minutes(10))
            .access_ttl(Duration::minutes(15))
    });
    let r = h.login().await;
    h.at(11 * 60);
    // The session is over: its refresh token is refused and introspects inactive...
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::IdleExpired)),
        "{e:?}"
    );
    assert!(!h.engine.introspect(rt(&r)).await.unwrap().active);
    // ...so its access token must fail the session check too.
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
}

#[tokio::test]
async fn delete_expired_sweeps_sessions_past_their_absolute_expiry() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::hours(2))
    });
    let old = h.login().await;
    h.at(3600 + 1800);
    let young = h.login().await;
    h.at(2 * 3600);
    assert_eq!(h.engine.delete_expired().await.unwrap(), 1);
    assert_eq!(h.engine.store().family_count(), 1);
    let e = h
        .refresh(&client(), rt(&old), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::UnknownFamily)),
        "{e:?}"
    );
    h.rotate(rt(&young)).await;
}

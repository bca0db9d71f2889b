//! Reuse detection and the grace retry: a replayed rotated-away refresh token revokes the
//! whole family (and, under `verify_with_revocation`, its access tokens), unless it is the
//! previous token presented again within `reuse_grace`.

use time::Duration;
use token_engine::event::Event;
use token_engine::{Error, GrantError, RefreshRequest, RevocationReason, TokenError};

use crate::common::*;

#[tokio::test]
async fn replaying_a_rotated_token_is_reuse_and_revokes_the_family() {
    let h = Harness::new();
    let first = h.login().await;
    let family = family_of(rt(&first));
    h.at(60);
    let newest = h.rotate(rt(&first)).await;
    h.events();

    h.at(120);
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    assert_eq!(
        h.events(),
        [
            Event::ReuseDetected {
                family,
                client_id: "app".into(),
                subject: SUBJECT.into(),
                presented_by: "app".into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family,
                reason: RevocationReason::ReuseDetected,
                possible_repeat: false,
            },
        ]
    );

    // The newest token (the legitimate client's, or the thief's) is dead too.
    let e = h
        .refresh(&client(), rt(&newest), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: Some(family),
            reason: GrantError::Revoked,
        }]
    );
}

#[tokio::test]
async fn reuse_cascades_to_access_tokens_under_verify_with_revocation() {
    let h = Harness::new();
    let first = h.login().await;
    let newest = h.rotate(rt(&first)).await;
    h.refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    h.events();
    for access in [&first.access_token, &newest.access_token] {
        // The signature and lifetime are fine, so plain verification still accepts it...
        h.engine.verifier().verify(access).unwrap();
        // ...but its session is gone.
        let e = h.engine.verify_with_revocation(access).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
            "{e:?}"
        );
    }
    assert_eq!(
        h.events(),
        [
            Event::VerificationFailed {
                reason: TokenError::SessionRevoked
            },
            Event::VerificationFailed {
                reason: TokenError::SessionRevoked
            },
        ]
    );
}

#[tokio::test]
async fn replay_is_reuse_whatever_scope_it_asks_for() {
    let h = Harness::new();
    let first = h.login().await;
    let newest = h.rotate(rt(&first)).await;
    let e = h
        .refresh(
            &client(),
            rt(&first),
            RefreshRequest::default().scope("admin"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    let e = h
        .refresh(&client(), rt(&newest), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
}

#[tokio::test]
async fn with_grace_the_previous_token_within_the_window_gets_the_same_successor() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(10)));
    let first = h.login().await;
    let family = family_of(rt(&first));
    h.at(100);
    let rotated = h.rotate(rt(&first)).await;
    h.events();

    // An honest retry (the response was lost), 10 s later: the boundary is inclusive.
    h.at(110);
    let retry = h.rotate(rt(&first)).await;
    assert_eq!(
        retry.refresh_token.as_ref().unwrap().expose_secret(),
        rotated.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(retry.refresh_token, rotated.refresh_token);
    // A fresh access token of the same session.
    assert_ne!(retry.access_token, rotated.access_token);
    let c = claims(&h, &retry.access_token);
    assert_eq!(c.iat, Some(NOW + 110));
    assert_eq!(sid(&h, &retry.access_token), family);
    h.engine
        .verify_with_revocation(&retry.access_token)
        .await
        .unwrap();
    assert_eq!(
        h.events(),
        [Event::GraceRetryServed {
            family,
            generation: 1,
        }]
    );

    // The successor goes on rotating normally.
    let next = h.rotate(rt(&retry)).await;
    assert_eq!(generation_of(rt(&next)), 2);
}

#[tokio::test]
async fn with_grace_the_previous_token_after_the_window_is_reuse() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(10)));
    let first = h.login().await;
    let family = family_of(rt(&first));
    h.at(100);
    let rotated = h.rotate(rt(&first)).await;
    h.events();

    h.at(111);
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    assert_eq!(
        h.events(),
        [
            Event::ReuseDetected {
                family,
                client_id: "app".into(),
                subject: SUBJECT.into(),
                presented_by: "app".into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family,
                reason: RevocationReason::ReuseDetected,
                possible_repeat: false,
            },
        ]
    );
    let e = h
        .refresh(&client(), rt(&rotated), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
}

#[tokio::test]
async fn with_grace_a_token_two_generations_old_is_reuse() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(10)));
    let first = h.login().await;
    let second = h.rotate(rt(&first)).await;
    h.rotate(rt(&second)).await;
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

#[tokio::test]
async fn with_grace_the_previous_token_of_another_client_is_still_reuse() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(10)));
    let first = h.login().await;
    h.rotate(rt(&first)).await;
    let e = h
        .refresh(&other_client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

#[tokio::test]
async fn without_grace_an_immediate_retry_is_reuse() {
    let h = Harness::new();
    let first = h.login().await;
    h.at(100);
    h.rotate(rt(&first)).await;
    // Same second: grace 0 means no retry at all.
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

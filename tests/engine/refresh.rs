//! `Engine::refresh`: rotation, scope narrowing and widening, cross-client use, forged and
//! foreign tokens.

use std::sync::Arc;

use token_engine::event::{CollectingSink, Event};
use token_engine::{
    Error, GrantError, ManualClock, MemoryStore, RefreshRequest, RevocationReason, TokenError,
};

use crate::common::*;

#[tokio::test]
async fn refresh_rotates_to_a_new_refresh_token_of_the_same_family() {
    let h = Harness::new();
    let first = h.login().await;
    let family = family_of(rt(&first));
    h.events();
    h.at(60);
    let next = h.rotate(rt(&first)).await;
    assert_ne!(rt(&next), rt(&first));
    assert_eq!(family_of(rt(&next)), family);
    assert_eq!(generation_of(rt(&next)), 1);
    assert_eq!(next.scope.as_deref(), Some("read write"));
    assert_eq!(next.expires_in, 900);
    assert_eq!(
        h.events(),
        [Event::Refreshed {
            family,
            generation: 1,
            policy_upgraded: None,
        }]
    );
}

#[tokio::test]
async fn the_refreshed_access_token_keeps_the_session_claims() {
    let h = Harness::new();
    let first = h
        .issue(
            &client(),
            token_engine::IssueRequest::new(SUBJECT).auth_time(NOW - 5),
        )
        .await
        .unwrap();
    h.at(60);
    let next = h.rotate(rt(&first)).await;
    let c = claims(&h, &next.access_token);
    assert_eq!(c.sub.as_deref(), Some(SUBJECT));
    assert_eq!(c.client_id.as_deref(), Some("app"));
    assert_eq!(c.scope.as_deref(), Some("read write"));
    assert_eq!(c.auth_time, Some(NOW - 5));
    assert_eq!(c.iat, Some(NOW + 60));
    assert_eq!(c.exp, Some(NOW + 60 + ACCESS_TTL));
    assert_eq!(sid(&h, &next.access_token), family_of(rt(&first)));
    assert_ne!(c.jti, claims(&h, &first.access_token).jti);
}

#[tokio::test]
async fn the_old_refresh_token_fails_after_rotation() {
    let h = Harness::new();
    let first = h.login().await;
    h.rotate(rt(&first)).await;
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

#[tokio::test]
async fn scope_narrowing_on_refresh_is_allowed_and_does_not_shrink_the_grant() {
    let h = Harness::new();
    let first = h.login().await;
    let narrow = h
        .refresh(
            &client(),
            rt(&first),
            RefreshRequest::default().scope("read"),
        )
        .await
        .unwrap();
    assert_eq!(narrow.scope.as_deref(), Some("read"));
    assert_eq!(
        claims(&h, &narrow.access_token).scope.as_deref(),
        Some("read")
    );
    // The next refresh without a scope gets the whole original grant again.
    let full = h.rotate(rt(&narrow)).await;
    assert_eq!(full.scope.as_deref(), Some("read write"));
    assert_eq!(
        claims(&h, &full.access_token).scope.as_deref(),
        Some("read write")
    );
}

#[tokio::test]
async fn scope_widening_on_refresh_is_invalid_scope_and_rotates_nothing() {
    let h = Harness::new();
    let first = h
        .issue(
            &client(),
            token_engine::IssueRequest::new(SUBJECT).scope("read"),
        )
        .await
        .unwrap();
    h.events();
    // `write` is allowed for the client but was not granted to this session.
    for wider in ["read write", "write", "admin"] {
        let e = h
            .refresh(
                &client(),
                rt(&first),
                RefreshRequest::default().scope(wider),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidScope), "{wider}: {e:?}");
    }
    assert_eq!(h.events(), []);
    // Nothing rotated: the same token still refreshes, to generation 1.
    let next = h.rotate(rt(&first)).await;
    assert_eq!(generation_of(rt(&next)), 1);
    assert_eq!(next.scope.as_deref(), Some("read"));
}

#[tokio::test]
async fn cross_client_use_is_reuse_and_revokes_the_family() {
    let h = Harness::new();
    let first = h.login().await;
    let family = family_of(rt(&first));
    h.events();
    let e = h
        .refresh(&other_client(), rt(&first), RefreshRequest::default())
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
                presented_by: "intruder".into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family,
                reason: RevocationReason::ReuseDetected,
                possible_repeat: false,
            },
        ]
    );
    // The rightful client's next refresh fails: the session is over.
    let e = h
        .refresh(&client(), rt(&first), RefreshRequest::default())
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
    let e = h
        .engine
        .verify_with_revocation(&first.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_forged_refresh_token_is_rejected_without_naming_a_family() {
    let h = Harness::new();
    let first = h.login().await;
    h.events();
    let forged = tampered(rt(&first));
    let e = h
        .refresh(&client(), &forged, RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::InvalidTag)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: None,
            reason: GrantError::InvalidTag,
        }]
    );
    // The forgery touched nothing: the real token still works.
    h.rotate(rt(&first)).await;
}

#[tokio::test]
async fn a_malformed_refresh_token_is_rejected_without_naming_a_family() {
    let h = Harness::new();
    for garbage in [
        "",
        "rt_",
        "rt_not-a-token",
        "not a token at all",
        &"rt_A".repeat(40),
    ] {
        let e = h
            .refresh(&client(), garbage, RefreshRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidGrant(GrantError::MalformedToken)),
            "{garbage:?}: {e:?}"
        );
        assert_eq!(
            h.events(),
            [Event::RefreshRejected {
                family: None,
                reason: GrantError::MalformedToken,
            }]
        );
    }
}

#[tokio::test]
async fn a_refresh_token_of_another_engine_is_rejected() {
    let h = Harness::new();
    // Another deployment with another refresh secret.
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let elsewhere = builder(&clock, &sink)
        .refresh_secret(token_engine::RefreshSecret::from_bytes(&[9; 32]).unwrap())
        .build(MemoryStore::new())
        .unwrap();
    let foreign = elsewhere
        .issue(&client(), token_engine::IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    h.remember(rt(&foreign));
    let e = h
        .refresh(&client(), rt(&foreign), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::InvalidTag)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: None,
            reason: GrantError::InvalidTag,
        }]
    );
}

#[tokio::test]
async fn a_genuine_token_naming_no_stored_family_is_rejected_without_naming_it() {
    let h = Harness::new();
    // Same secret, other store: the tag verifies, the family does not exist here.
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let twin = builder(&clock, &sink).build(MemoryStore::new()).unwrap();
    let foreign = twin
        .issue(&client(), token_engine::IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let e = h
        .refresh(&client(), rt(&foreign), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::UnknownFamily)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::RefreshRejected {
            family: None,
            reason: GrantError::UnknownFamily,
        }]
    );
}

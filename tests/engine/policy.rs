//! Security-policy versions: a major bump forces re-authentication and makes the old
//! access tokens stale; a minor bump upgrades sessions at their next refresh; a tenant
//! override affects only that tenant.

use token_engine::event::Event;
use token_engine::{
    Error, IssueRequest, PolicyVersion, RefreshRequest, RevocationReason, TokenError,
};

use crate::common::*;

async fn bump_major(h: &Harness) {
    let v = h.engine.policy_version(None).await.unwrap();
    h.engine
        .set_policy(None, Some(PolicyVersion::new(v.major + 1, 0)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_major_bump_makes_old_access_tokens_stale() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    bump_major(&h).await;
    h.engine.verifier().verify(&r.access_token).unwrap();
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [Event::VerificationFailed {
            reason: TokenError::PolicyStale
        }]
    );
}

#[tokio::test]
async fn a_major_bump_requires_reauthentication_and_revokes_the_family() {
    let h = Harness::new();
    let r = h.login().await;
    let family = family_of(rt(&r));
    h.events();
    bump_major(&h).await;

    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
    assert_eq!(
        h.events(),
        [
            Event::ReauthenticationRequired {
                family,
                subject: SUBJECT.into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family,
                reason: RevocationReason::PolicyChanged,
                possible_repeat: false,
            },
        ]
    );
    // The family is gone. The same client retrying the same token (its first answer may have
    // been lost) is told again to re-authenticate, the events marked as possible repeats ...
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
    assert_eq!(
        h.events(),
        [
            Event::ReauthenticationRequired {
                family,
                subject: SUBJECT.into(),
                possible_repeat: true,
            },
            Event::FamilyRevoked {
                family,
                reason: RevocationReason::PolicyChanged,
                possible_repeat: true,
            },
        ]
    );
    // ... and the session is over.
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
    // Rolling the policy back does not bring the session back.
    h.engine
        .set_policy(None, Some(PolicyVersion::new(1, 0)))
        .await
        .unwrap();
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
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
async fn after_a_major_bump_a_new_login_gets_the_new_version() {
    let h = Harness::new();
    bump_major(&h).await;
    let r = h.login().await;
    assert_eq!(
        claims(&h, &r.access_token).pv,
        Some(PolicyVersion::new(2, 0))
    );
    h.engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap();
    h.rotate(rt(&r)).await;
}

#[tokio::test]
async fn a_minor_bump_upgrades_the_session_silently_at_the_next_refresh() {
    let h = Harness::new();
    let r = h.login().await;
    let family = family_of(rt(&r));
    h.events();
    h.engine
        .set_policy(None, Some(PolicyVersion::new(1, 1)))
        .await
        .unwrap();

    // The old access token is not stale: only the major matters.
    h.engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap();
    let next = h.rotate(rt(&r)).await;
    assert_eq!(
        claims(&h, &next.access_token).pv,
        Some(PolicyVersion::new(1, 1))
    );
    assert_eq!(
        h.events(),
        [Event::Refreshed {
            family,
            generation: 1,
            policy_upgraded: Some(PolicyVersion::new(1, 1)),
        }]
    );
    // Upgraded once: the next rotation reports no upgrade.
    let again = h.rotate(rt(&next)).await;
    assert_eq!(
        claims(&h, &again.access_token).pv,
        Some(PolicyVersion::new(1, 1))
    );
    assert_eq!(
        h.events(),
        [Event::Refreshed {
            family,
            generation: 2,
            policy_upgraded: None,
        }]
    );
}

#[tokio::test]
async fn a_tenant_major_override_affects_only_that_tenants_sessions() {
    let h = Harness::new();
    let acme = h
        .issue(&client(), IssueRequest::new(SUBJECT).tenant("acme"))
        .await
        .unwrap();
    let globex = h
        .issue(&client(), IssueRequest::new("user-7").tenant("globex"))
        .await
        .unwrap();
    let untenanted = h
        .issue(&client(), IssueRequest::new("user-8"))
        .await
        .unwrap();
    let acme_family = family_of(rt(&acme));
    h.events();
    h.engine
        .set_policy(Some("acme"), Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();

    let e = h
        .engine
        .verify_with_revocation(&acme.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
    h.engine
        .verify_with_revocation(&globex.access_token)
        .await
        .unwrap();
    h.engine
        .verify_with_revocation(&untenanted.access_token)
        .await
        .unwrap();
    h.events();

    let e = h
        .refresh(&client(), rt(&acme), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
    assert_eq!(
        h.events(),
        [
            Event::ReauthenticationRequired {
                family: acme_family,
                subject: SUBJECT.into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family: acme_family,
                reason: RevocationReason::PolicyChanged,
                possible_repeat: false,
            },
        ]
    );
    let g = h.rotate(rt(&globex)).await;
    assert_eq!(
        claims(&h, &g.access_token).pv,
        Some(PolicyVersion::new(1, 0))
    );
    h.rotate(rt(&untenanted)).await;
    // A new acme login is issued under the override.
    let fresh = h
        .issue(&client(), IssueRequest::new(SUBJECT).tenant("acme"))
        .await
        .unwrap();
    assert_eq!(
        claims(&h, &fresh.access_token).pv,
        Some(PolicyVersion::new(2, 0))
    );
}

#[tokio::test]
async fn a_tenant_minor_override_upgrades_only_that_tenants_sessions() {
    let h = Harness::new();
    let acme = h
        .issue(&client(), IssueRequest::new(SUBJECT).tenant("acme"))
        .await
        .unwrap();
    let globex = h
        .issue(&client(), IssueRequest::new(SUBJECT).tenant("globex"))
        .await
        .unwrap();
    h.engine
        .set_policy(Some("acme"), Some(PolicyVersion::new(1, 3)))
        .await
        .unwrap();
    let a = h.rotate(rt(&acme)).await;
    let g = h.rotate(rt(&globex)).await;
    assert_eq!(
        claims(&h, &a.access_token).pv,
        Some(PolicyVersion::new(1, 3))
    );
    assert_eq!(
        claims(&h, &g.access_token).pv,
        Some(PolicyVersion::new(1, 0))
    );
}

#[tokio::test]
async fn a_major_bump_makes_sessionless_access_tokens_stale_too() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    bump_major(&h).await;
    let e = h
        .engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
}

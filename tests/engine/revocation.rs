//! `Engine::revoke` (RFC 7009): by refresh token or by access token (`sid`), cascading to the
//! session's access tokens under `verify_with_revocation`; unknown tokens are not an error.

use std::sync::Arc;

use time::Duration;
use token_engine::event::{CollectingSink, Event};
use token_engine::{
    AccessTokenClaims, Algorithm, Error, FamilyId, GrantError, IssueRequest, ManualClock,
    MemoryStore, PolicyVersion, RefreshRequest, RevocationOutcome, RevocationReason, SigningKey,
    TokenError,
};

use crate::common::*;

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens() {
    let h = Harness::new();
    let first = h.login().await;
    let current = h.rotate(rt(&first)).await;
    let family = family_of(rt(&first));
    h.events();

    let out = h.engine.revoke(&client(), rt(&current)).await.unwrap();
    assert_eq!(out, RevocationOutcome::Revoked { family });
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family,
            reason: RevocationReason::TokenRevoked,
            possible_repeat: false,
        }]
    );

    let e = h
        .refresh(&client(), rt(&current), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
    for access in [&first.access_token, &current.access_token] {
        h.engine.verifier().verify(access).unwrap();
        let e = h.engine.verify_with_revocation(access).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_session() {
    let h = Harness::new();
    let r = h.login().await;
    let family = family_of(rt(&r));
    h.events();

    let out = h.engine.revoke(&client(), &r.access_token).await.unwrap();
    assert_eq!(out, RevocationOutcome::Revoked { family });
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family,
            reason: RevocationReason::TokenRevoked,
            possible_repeat: false,
        }]
    );
    let e = h
        .refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
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
async fn an_expired_access_token_still_revokes_its_session() {
    let h = Harness::new();
    let r = h.login().await;
    h.at(ACCESS_TTL + LEEWAY + 60);
    let out = h.engine.revoke(&client(), &r.access_token).await.unwrap();
    assert_eq!(
        out,
        RevocationOutcome::Revoked {
            family: family_of(rt(&r))
        }
    );
}

#[tokio::test]
async fn revoking_the_same_token_again_reports_it_and_another_token_is_already_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    let family = family_of(rt(&r));
    assert_eq!(
        h.engine.revoke(&client(), rt(&r)).await.unwrap(),
        RevocationOutcome::Revoked { family }
    );
    h.events();
    // The same request again (a retry after a lost answer): the store did revoke it, by this
    // request; the event is marked as a possible repeat.
    assert_eq!(
        h.engine.revoke(&client(), rt(&r)).await.unwrap(),
        RevocationOutcome::Revoked { family }
    );
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family,
            reason: RevocationReason::TokenRevoked,
            possible_repeat: true,
        }]
    );
    // Revoking through another token of the session is a different request: already done.
    assert_eq!(
        h.engine.revoke(&client(), &r.access_token).await.unwrap(),
        RevocationOutcome::AlreadyInactive { family }
    );
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn revoking_an_absolutely_expired_session_is_already_inactive() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::hours(1))
    });
    let r = h.login().await;
    h.events();
    h.at(3600);
    assert_eq!(
        h.engine.revoke(&client(), rt(&r)).await.unwrap(),
        RevocationOutcome::AlreadyInactive {
            family: family_of(rt(&r))
        }
    );
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn revoking_an_idle_expired_session_is_already_inactive() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    let r = h.login().await;
    h.events();
    h.at(3600);
    assert_eq!(
        h.engine.revoke(&client(), rt(&r)).await.unwrap(),
        RevocationOutcome::AlreadyInactive {
            family: family_of(rt(&r))
        }
    );
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn malformed_and_forged_tokens_are_unknown_not_errors() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    // Another issuer's signing key, same issuer name and audience.
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let impostor = builder(&clock, &sink)
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(token_engine::RefreshSecret::from_bytes(&[9; 32]).unwrap())
        .build(MemoryStore::new())
        .unwrap();
    let foreign = impostor
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let candidates = [
        String::new(),
        "garbage".to_owned(),
        "rt_garbage".to_owned(),
        "a.b.c".to_owned(),
        tampered(rt(&r)),
        tampered_jwt(&r.access_token),
        rt(&foreign).to_owned(),
        foreign.access_token.clone(),
    ];
    for token in &candidates {
        h.remember(token);
        assert_eq!(
            h.engine.revoke(&client(), token).await.unwrap(),
            RevocationOutcome::Unknown,
            "{token:?}"
        );
    }
    // Nothing was revoked, nothing was reported.
    assert_eq!(h.events(), []);
    h.rotate(rt(&r)).await;
}

#[tokio::test]
async fn a_genuine_token_of_an_unknown_family_is_unknown() {
    let h = Harness::new();
    // The same refresh secret, so the tag verifies; but the family lives in another store.
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let twin = builder(&clock, &sink).build(MemoryStore::new()).unwrap();
    let foreign = twin
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert_eq!(
        h.engine.revoke(&client(), rt(&foreign)).await.unwrap(),
        RevocationOutcome::Unknown
    );
}

#[tokio::test]
async fn another_clients_token_is_unauthorized_client_and_revokes_nothing() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    for token in [rt(&r), r.access_token.as_str()] {
        let e = h.engine.revoke(&other_client(), token).await.unwrap_err();
        assert!(matches!(e, Error::UnauthorizedClient), "{e:?}");
    }
    assert_eq!(h.events(), []);
    h.engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap();
    h.rotate(rt(&r)).await;
}

#[tokio::test]
async fn an_access_token_without_session_is_no_session() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    assert_eq!(
        h.engine.revoke(&client(), &r.access_token).await.unwrap(),
        RevocationOutcome::NoSession
    );
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn revoking_one_session_leaves_the_others_alone() {
    let h = Harness::new();
    let a = h.login().await;
    let b = h.login().await;
    h.revoke_ok(rt(&a)).await;
    h.engine
        .verify_with_revocation(&b.access_token)
        .await
        .unwrap();
    h.rotate(rt(&b)).await;
}

/// An access token signed with the engine's own key, naming `sid` (as a second service
/// sharing the key set could).
fn signed_with_sid(h: &Harness, sid: &str, pv: Option<PolicyVersion>) -> String {
    let mut c: AccessTokenClaims<'_> = AccessTokenClaims::default();
    c.iss = Some(ISS.into());
    c.sub = Some(SUBJECT.into());
    c.aud = Some(AUD.into());
    c.client_id = Some("app".into());
    c.jti = Some("jti-1".into());
    c.iat = Some(NOW);
    c.exp = Some(NOW + 300);
    c.sid = Some(sid.to_owned().into());
    c.pv = pv;
    let token = h.engine.key_set().sign_access_token(&c).unwrap();
    h.remember(&token);
    token
}

#[tokio::test]
async fn an_access_token_naming_an_unknown_or_unparsable_session_fails_the_revocation_check() {
    let h = Harness::new();
    let v1 = Some(PolicyVersion::new(1, 0));
    let unknown = signed_with_sid(&h, &FamilyId::from_bytes([1; 16]).to_string(), v1);
    let unparsable = signed_with_sid(&h, "session_family_7890", v1);
    for token in [&unknown, &unparsable] {
        h.engine.verifier().verify(token).unwrap();
        let e = h.engine.verify_with_revocation(token).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
            "{e:?}"
        );
        assert!(!h.engine.introspect(token).await.unwrap().active);
    }
    assert_eq!(
        h.engine.revoke(&client(), &unknown).await.unwrap(),
        RevocationOutcome::Unknown
    );
}

#[tokio::test]
async fn an_access_token_of_a_live_session_without_pv_is_stale() {
    let h = Harness::new();
    let r = h.login().await;
    let token = signed_with_sid(&h, &family_of(rt(&r)).to_string(), None);
    h.engine.verifier().verify(&token).unwrap();
    let e = h.engine.verify_with_revocation(&token).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
}

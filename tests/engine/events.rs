//! Audit events: one lifecycle asserting every event kind in order, verification failures,
//! and the rule that no event carries token material.

use time::Duration;
use token_engine::event::Event;
use token_engine::{
    Error, GrantError, IssueRequest, PolicyVersion, RefreshRequest, RevocationOutcome,
    RevocationReason, TokenError,
};

use crate::common::*;

#[tokio::test]
async fn a_session_lifecycle_emits_every_event_kind_in_order() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(5)));
    let client = client();

    let first = h.login().await;
    let f = family_of(rt(&first));
    h.at(10);
    let second = h.rotate(rt(&first)).await;
    h.at(12);
    h.rotate(rt(&first)).await; // grace retry
    h.engine
        .set_policy(None, Some(PolicyVersion::new(1, 1)))
        .await
        .unwrap();
    h.at(20);
    let third = h.rotate(rt(&second)).await;
    h.refresh(&client, &tampered(rt(&third)), RefreshRequest::default())
        .await
        .unwrap_err();
    h.engine
        .verifier()
        .verify(&tampered_jwt(&third.access_token))
        .unwrap_err();
    h.at(60);
    h.refresh(&client, rt(&first), RefreshRequest::default())
        .await
        .unwrap_err(); // reuse: two generations old
    h.refresh(&client, rt(&third), RefreshRequest::default())
        .await
        .unwrap_err(); // revoked
    h.engine
        .verify_with_revocation(&third.access_token)
        .await
        .unwrap_err();

    let g = h.login().await;
    let fg = family_of(rt(&g));
    h.engine
        .set_policy(None, Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    h.refresh(&client, rt(&g), RefreshRequest::default())
        .await
        .unwrap_err();

    assert_eq!(
        h.events(),
        [
            Event::Issued {
                family: f,
                client_id: "app".into(),
                subject: SUBJECT.into(),
            },
            Event::Refreshed {
                family: f,
                generation: 1,
                policy_upgraded: None,
            },
            Event::GraceRetryServed {
                family: f,
                generation: 1,
            },
            Event::Refreshed {
                family: f,
                generation: 2,
                policy_upgraded: Some(PolicyVersion::new(1, 1)),
            },
            Event::RefreshRejected {
                family: None,
                reason: GrantError::InvalidTag,
            },
            Event::VerificationFailed {
                reason: TokenError::InvalidSignature,
            },
            Event::ReuseDetected {
                family: f,
                client_id: "app".into(),
                subject: SUBJECT.into(),
                presented_by: "app".into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family: f,
                reason: RevocationReason::ReuseDetected,
                possible_repeat: false,
            },
            Event::RefreshRejected {
                family: Some(f),
                reason: GrantError::Revoked,
            },
            Event::VerificationFailed {
                reason: TokenError::SessionRevoked,
            },
            Event::Issued {
                family: fg,
                client_id: "app".into(),
                subject: SUBJECT.into(),
            },
            Event::ReauthenticationRequired {
                family: fg,
                subject: SUBJECT.into(),
                possible_repeat: false,
            },
            Event::FamilyRevoked {
                family: fg,
                reason: RevocationReason::PolicyChanged,
                possible_repeat: false,
            },
        ]
    );
}

#[tokio::test]
async fn verification_failures_are_reported_with_their_reason() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    let v = h.engine.verifier();
    v.verify("not-a-jwt").unwrap_err();
    v.verify(&tampered_jwt(&r.access_token)).unwrap_err();
    h.at(ACCESS_TTL + LEEWAY);
    let e = v.verify(&r.access_token).unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::Expired)),
        "{e:?}"
    );
    assert_eq!(
        h.events(),
        [
            Event::VerificationFailed {
                reason: TokenError::Malformed
            },
            Event::VerificationFailed {
                reason: TokenError::InvalidSignature
            },
            Event::VerificationFailed {
                reason: TokenError::Expired
            },
        ]
    );
}

#[tokio::test]
async fn successful_verification_and_introspection_emit_nothing() {
    let h = Harness::new();
    let r = h.login().await;
    h.events();
    h.engine.verifier().verify(&r.access_token).unwrap();
    h.engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap();
    h.engine.introspect(&r.access_token).await.unwrap();
    h.engine.introspect(rt(&r)).await.unwrap();
    h.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn no_event_contains_token_material() {
    let h = Harness::with(|b| b.reuse_grace(Duration::seconds(5)));

    // Every operation, successful and failing, with the tokens kept for the check.
    let a = h
        .issue(&client(), IssueRequest::new(SUBJECT).claim("role", "admin"))
        .await
        .unwrap();
    let a1 = h.rotate(rt(&a)).await;
    h.rotate(rt(&a)).await;
    let forged = tampered(rt(&a1));
    h.refresh(&client(), &forged, RefreshRequest::default())
        .await
        .unwrap_err();
    h.refresh(&other_client(), rt(&a1), RefreshRequest::default())
        .await
        .unwrap_err();
    h.refresh(&client(), rt(&a1), RefreshRequest::default())
        .await
        .unwrap_err();
    h.engine
        .verify_with_revocation(&a1.access_token)
        .await
        .unwrap_err();
    let bad_jwt = tampered_jwt(&a1.access_token);
    h.remember(&bad_jwt);
    h.engine.verifier().verify(&bad_jwt).unwrap_err();
    h.engine.introspect(&bad_jwt).await.unwrap();

    let b = h.login().await;
    h.revoke_ok(&b.access_token).await;
    assert_eq!(
        h.engine.revoke(&client(), rt(&b)).await.unwrap(),
        RevocationOutcome::AlreadyInactive {
            family: family_of(rt(&b))
        }
    );
    let c = h.login().await;
    assert_eq!(
        h.engine
            .revoke_session(SUBJECT, family_of(rt(&c)))
            .await
            .unwrap(),
        RevocationOutcome::Revoked {
            family: family_of(rt(&c))
        }
    );
    h.login().await;
    h.engine.sign_out_everywhere(SUBJECT).await.unwrap();
    let d = h.login().await;
    h.engine
        .set_policy(None, Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    h.engine
        .verify_with_revocation(&d.access_token)
        .await
        .unwrap_err();
    h.refresh(&client(), rt(&d), RefreshRequest::default())
        .await
        .unwrap_err();
    h.at(ACCESS_TTL + LEEWAY);
    h.engine.verifier().verify(&d.access_token).unwrap_err();
    let all = h.events();

    // Every event kind occurred, so the check below covers each of them.
    let kinds = [
        "Issued",
        "Refreshed",
        "GraceRetryServed",
        "ReuseDetected",
        "FamilyRevoked",
        "ReauthenticationRequired",
        "RefreshRejected",
        "VerificationFailed",
    ];
    for kind in kinds {
        assert!(
            all.iter().any(|e| format!("{e:?}").starts_with(kind)),
            "no {kind} event in {all:?}"
        );
    }
    // `h.events()` already checked; check again explicitly over the whole list.
    let mut tokens = vec![forged, bad_jwt];
    for r in [&a, &a1, &b, &c, &d] {
        tokens.push(r.access_token.clone());
        tokens.push(rt(r).to_owned());
    }
    assert_no_token_material(&all, &tokens);
}

#[test]
fn the_token_material_check_catches_a_leak() {
    let token = "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let leaky = [Event::Issued {
        family: token_engine::FamilyId::from_bytes([0; 16]),
        client_id: token[10..30].to_owned(),
        subject: SUBJECT.into(),
    }];
    let caught = std::panic::catch_unwind(|| {
        assert_no_token_material(&leaky, &[token.to_owned()]);
    });
    assert!(caught.is_err());
}

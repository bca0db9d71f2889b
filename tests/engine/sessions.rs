//! Session management: listing a subject's live sessions, signing one out, signing out
//! everywhere.

use time::Duration;
use token_engine::TokenStore as _;
use token_engine::event::Event;
use token_engine::{
    Error, FamilyId, GrantError, IssueRequest, RefreshRequest, RevocationOutcome, RevocationReason,
    TokenError,
};

use crate::common::*;

const SEVEN_DAYS: i64 = 7 * 24 * 3600;

#[tokio::test]
async fn sessions_lists_live_families_most_recently_used_first() {
    let h = Harness::new();
    let laptop = h
        .issue(&client(), IssueRequest::new(SUBJECT).device("laptop"))
        .await
        .unwrap();
    h.at(60);
    let phone = h
        .issue(&other_client(), IssueRequest::new(SUBJECT).device("phone"))
        .await
        .unwrap();
    h.at(120);
    let tablet = h.login().await;
    // Someone else's session is not listed.
    h.issue(&client(), IssueRequest::new("user-7"))
        .await
        .unwrap();
    h.at(300);
    // The laptop's session is bound to its device: it refreshes from there.
    h.refresh(
        &client(),
        rt(&laptop),
        RefreshRequest::default().device("laptop"),
    )
    .await
    .unwrap();

    let s = h.engine.sessions(SUBJECT).await.unwrap();
    let families: Vec<FamilyId> = s.iter().map(|s| s.family).collect();
    assert_eq!(
        families,
        [
            family_of(rt(&laptop)),
            family_of(rt(&tablet)),
            family_of(rt(&phone))
        ]
    );
    let laptop = &s[0];
    assert_eq!(laptop.client_id, "app");
    assert_eq!(laptop.device_id.as_deref(), Some("laptop"));
    assert_eq!(laptop.created_at, NOW);
    assert_eq!(laptop.last_used_at, NOW + 300);
    assert_eq!(laptop.expires_at, NOW + 300 + SEVEN_DAYS);
    let tablet = &s[1];
    assert_eq!(tablet.client_id, "app");
    assert_eq!(tablet.device_id, None);
    assert_eq!(tablet.created_at, NOW + 120);
    assert_eq!(tablet.last_used_at, NOW + 120);
    let phone = &s[2];
    assert_eq!(phone.client_id, "intruder");
    assert_eq!(phone.device_id.as_deref(), Some("phone"));
    assert_eq!(phone.created_at, NOW + 60);
    assert_eq!(phone.last_used_at, NOW + 60);
    assert_eq!(phone.expires_at, NOW + 60 + SEVEN_DAYS);
}

#[tokio::test]
async fn a_subject_without_sessions_has_an_empty_list() {
    let h = Harness::new();
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_sessions_are_not_listed() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::hours(3))
    });
    let idle = h.login().await;
    let absolute = h.login().await;
    h.at(50 * 60);
    let absolute = h.rotate(rt(&absolute)).await;
    h.at(100 * 60);
    let absolute = h.rotate(rt(&absolute)).await;
    h.at(150 * 60);
    let absolute = h.rotate(rt(&absolute)).await;
    h.at(179 * 60);
    let newer = h.login().await;
    let absolute = h.rotate(rt(&absolute)).await;
    let listed: Vec<FamilyId> = h
        .engine
        .sessions(SUBJECT)
        .await
        .unwrap()
        .iter()
        .map(|s| s.family)
        .collect();
    // The first session idled out long ago.
    assert!(!listed.contains(&family_of(rt(&idle))));
    assert_eq!(listed.len(), 2);
    // At three hours the second reaches its absolute expiry, though used a minute ago.
    h.at(180 * 60);
    let listed: Vec<FamilyId> = h
        .engine
        .sessions(SUBJECT)
        .await
        .unwrap()
        .iter()
        .map(|s| s.family)
        .collect();
    assert_eq!(listed, [family_of(rt(&newer))]);
    assert!(!listed.contains(&family_of(rt(&absolute))));
}

#[tokio::test]
async fn revoked_sessions_are_not_listed() {
    let h = Harness::new();
    let a = h.login().await;
    let b = h.login().await;
    h.revoke_ok(rt(&a)).await;
    let s = h.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].family, family_of(rt(&b)));
}

#[tokio::test]
async fn revoke_session_ends_that_session_only() {
    let h = Harness::new();
    let a = h.login().await;
    h.at(10);
    let b = h.login().await;
    let fa = family_of(rt(&a));
    h.events();

    assert_eq!(
        h.engine.revoke_session(SUBJECT, fa).await.unwrap(),
        RevocationOutcome::Revoked { family: fa }
    );
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: fa,
            reason: RevocationReason::Logout,
            possible_repeat: false,
        }]
    );
    let s = h.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].family, family_of(rt(&b)));
    let e = h
        .refresh(&client(), rt(&a), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
    let e = h
        .engine
        .verify_with_revocation(&a.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
    h.rotate(rt(&b)).await;
    // Signing the same session out again (a retry after a lost answer) reports what the
    // store did, marked as a possible repeat.
    h.events();
    assert_eq!(
        h.engine.revoke_session(SUBJECT, fa).await.unwrap(),
        RevocationOutcome::Revoked { family: fa }
    );
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: fa,
            reason: RevocationReason::Logout,
            possible_repeat: true,
        }]
    );
}

#[tokio::test]
async fn revoke_session_of_another_subject_is_unknown_and_revokes_nothing() {
    let h = Harness::new();
    let r = h.login().await;
    let family = family_of(rt(&r));
    h.events();
    assert_eq!(
        h.engine.revoke_session("user-7", family).await.unwrap(),
        RevocationOutcome::Unknown
    );
    assert_eq!(
        h.engine
            .revoke_session(SUBJECT, FamilyId::from_bytes([0; 16]))
            .await
            .unwrap(),
        RevocationOutcome::Unknown
    );
    assert_eq!(h.events(), []);
    h.rotate(rt(&r)).await;
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_counts_them() {
    let h = Harness::new();
    let a = h.login().await;
    let b = h
        .issue(&other_client(), IssueRequest::new(SUBJECT).device("phone"))
        .await
        .unwrap();
    let c = h.login().await;
    let revoked = h.login().await;
    h.revoke_ok(rt(&revoked)).await;
    let someone_else = h
        .issue(&client(), IssueRequest::new("user-7"))
        .await
        .unwrap();
    h.events();

    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 3);
    let mut events = h.events();
    let mut want: Vec<Event> = [&a, &b, &c]
        .iter()
        .map(|r| Event::FamilyRevoked {
            family: family_of(rt(r)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        })
        .collect();
    let key = |e: &Event| format!("{e:?}");
    events.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(events, want);

    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
    for (client, r) in [(client(), &a), (other_client(), &b), (client(), &c)] {
        let e = h
            .refresh(&client, rt(r), RefreshRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidGrant(GrantError::Revoked)),
            "{e:?}"
        );
    }
    // Other subjects are untouched.
    h.rotate(rt(&someone_else)).await;
    // Another sign-out ends nothing more, and says so.
    h.events();
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 0);
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn a_second_sign_out_within_minutes_counts_and_reports_only_its_own_session() {
    // The user signs out everywhere, logs in again, and signs out everywhere again two
    // minutes later: the second call ends the new session only.
    let h = Harness::new();
    h.login().await;
    h.login().await;
    h.events();
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 2);
    assert_eq!(h.events().len(), 2);
    h.advance(Duration::minutes(2));
    let again = h.login().await;
    h.events();
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 1);
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: family_of(rt(&again)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        }]
    );
    // The same with idempotency keys: a new key is a new sign-out.
    let third = h.login().await;
    h.events();
    let ended = h
        .engine
        .sign_out_everywhere_idempotent(SUBJECT, b"request-3")
        .await;
    assert_eq!(ended.unwrap(), 1);
    assert_eq!(h.events().len(), 1);
    let fourth = h.login().await;
    h.events();
    let ended = h
        .engine
        .sign_out_everywhere_idempotent(SUBJECT, b"request-4")
        .await;
    assert_eq!(ended.unwrap(), 1);
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: family_of(rt(&fourth)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        }]
    );
    assert_ne!(family_of(rt(&third)), family_of(rt(&fourth)));
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_reports_the_lost_attempt() {
    let h = Harness::new();
    let a = h.login().await;
    let b = h.login().await;
    h.events();
    let key = b"req-7f3a";
    // The first attempt commits; say its answer is lost.
    assert_eq!(
        h.engine
            .sign_out_everywhere_idempotent(SUBJECT, key)
            .await
            .unwrap(),
        2
    );
    h.events();
    // Its retry, a minute later, with a session created in between: it ends that one too,
    // and reports the earlier attempt's sessions again as possible repeats.
    h.advance(Duration::minutes(1));
    let c = h.login().await;
    h.events();
    assert_eq!(
        h.engine
            .sign_out_everywhere_idempotent(SUBJECT, key)
            .await
            .unwrap(),
        3
    );
    let events = h.events();
    for (r, repeat) in [(&a, true), (&b, true), (&c, false)] {
        let e = Event::FamilyRevoked {
            family: family_of(rt(r)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: repeat,
        };
        assert!(events.contains(&e), "{e:?} in {events:?}");
    }
    assert_eq!(events.len(), 3);
    // A plain call is never a retry, and past the window neither is the same key.
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 0);
    h.advance(Duration::minutes(6));
    assert_eq!(
        h.engine
            .sign_out_everywhere_idempotent(SUBJECT, key)
            .await
            .unwrap(),
        0
    );
    assert_eq!(h.events(), []);
    assert!(matches!(
        h.engine.sign_out_everywhere_idempotent(SUBJECT, b"").await,
        Err(Error::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn sign_out_everywhere_counts_only_live_sessions() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    h.login().await;
    h.at(2 * 3600);
    let live = h.login().await;
    h.events();
    assert_eq!(h.engine.sessions(SUBJECT).await.unwrap().len(), 1);
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 1);
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: family_of(rt(&live)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        }]
    );
}

#[tokio::test]
async fn issuing_without_refresh_token_creates_no_session() {
    let h = Harness::new();
    h.issue(
        &client(),
        IssueRequest::new(SUBJECT).without_refresh_token(),
    )
    .await
    .unwrap();
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 0);
}

#[tokio::test]
async fn sessions_ended_by_a_policy_major_bump_are_not_listed_nor_counted_as_signed_out() {
    let h = Harness::new();
    let old = h.login().await;
    h.engine
        .set_policy(None, Some(token_engine::PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    let new = h.login().await;
    let listed: Vec<_> = h
        .engine
        .sessions(SUBJECT)
        .await
        .unwrap()
        .iter()
        .map(|s| s.family)
        .collect();
    assert_eq!(
        listed,
        [family_of(rt(&new))],
        "the ended session is not live"
    );
    h.events();
    assert_eq!(
        h.engine.sign_out_everywhere(SUBJECT).await.unwrap(),
        1,
        "only the live session counts"
    );
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: family_of(rt(&new)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        }]
    );
    // Both are revoked in the store all the same.
    for r in [&old, &new] {
        let f = h
            .engine
            .store()
            .load_family(&family_of(rt(r)))
            .await
            .unwrap()
            .unwrap();
        assert!(!f.is_active());
    }
}

#[tokio::test]
async fn sign_out_everywhere_does_not_count_sessions_another_request_revoked() {
    // The count comes from the store's state after the revocation, by operation id: a
    // session revoked by another request is not this sign-out's doing.
    let h = Harness::new();
    let a = h.login().await;
    let b = h.login().await;
    h.revoke_ok(rt(&b)).await; // revoked by another request: not this sign-out's doing
    h.events();
    assert_eq!(h.engine.sign_out_everywhere(SUBJECT).await.unwrap(), 1);
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family: family_of(rt(&a)),
            reason: RevocationReason::SignOutEverywhere,
            possible_repeat: false,
        }]
    );
}

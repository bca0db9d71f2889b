//! `Engine` is `Send + Sync + Clone`, and clones share everything: store, policy, clock,
//! events.

use std::sync::Arc;

use token_engine::event::{CollectingSink, Event};
use token_engine::{
    Engine, Error, GrantError, IssueRequest, ManualClock, MemoryStore, PolicyVersion,
    RefreshRequest, RevocationOutcome,
};

use crate::common::*;

// Compile-time: the engine can be shared across threads and cloned into handlers.
const _: fn() = || {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Engine<MemoryStore>>();
};

#[tokio::test]
async fn clones_share_sessions_policy_and_events() {
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let a = builder(&clock, &sink).build(MemoryStore::new()).unwrap();
    let b = a.clone();

    let issued = a
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let family = family_of(rt(&issued));
    // The other clone sees the session and verifies its token.
    b.verify_with_revocation(&issued.access_token)
        .await
        .unwrap();
    assert_eq!(b.sessions(SUBJECT).await.unwrap().len(), 1);
    let rotated = b
        .refresh(&client(), rt(&issued), RefreshRequest::default())
        .await
        .unwrap();
    // The rotation on `b` made the old token reuse on `a`.
    let e = a
        .refresh(&client(), rt(&issued), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    let e = b
        .refresh(&client(), rt(&rotated), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );

    // Policy set on one clone applies to the other.
    let second = b
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    a.set_policy(None, Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    assert_eq!(
        b.policy_version(None).await.unwrap(),
        PolicyVersion::new(2, 0)
    );
    let e = b
        .refresh(&client(), rt(&second), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
    assert_eq!(
        a.revoke(&client(), rt(&second)).await.unwrap(),
        RevocationOutcome::AlreadyInactive {
            family: family_of(rt(&second))
        }
    );

    // Both clones report to the one sink.
    let events = sink.take();
    assert!(matches!(events.first(), Some(Event::Issued { family: f, .. }) if *f == family));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ReauthenticationRequired { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_serves_concurrent_tasks() {
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let engine = builder(&clock, &sink).build(MemoryStore::new()).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let r = engine
                    .issue(&client(), IssueRequest::new(format!("user-{i}")))
                    .await
                    .unwrap();
                let next = engine
                    .refresh(
                        &client(),
                        r.refresh_token.as_ref().unwrap().expose_secret(),
                        RefreshRequest::default(),
                    )
                    .await
                    .unwrap();
                engine
                    .verify_with_revocation(&next.access_token)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(engine.store().family_count(), 8);
}

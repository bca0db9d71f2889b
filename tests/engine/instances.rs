//! The deployment the crate is for: several engines (app servers) over one store, clocks a
//! second apart, requests that stall on the store while their retries go through. An honest
//! retry is never mistaken for theft; a policy bump reaches every instance within its bound.

use std::sync::{Arc, Mutex};

use time::Duration;
use token_engine::event::{CollectingSink, Event};
use token_engine::family::{FamilyRecord, FamilyState, OperationId};
use token_engine::store::{CasOutcome, InsertOutcome};
use token_engine::{
    Engine, Error, FamilyId, IssueRequest, ManualClock, MemoryStore, PolicyVersion, RefreshRequest,
    RevocationReason, TokenError, TokenStore,
};
use tokio::sync::oneshot;

use crate::common::*;

/// Where a [`Pausing`] store stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// After `load_family` read the record, before it returns it.
    Load,
    /// Before `compare_and_swap_family` writes.
    Swap,
}

struct Gate {
    at: At,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A `MemoryStore` that pauses the next call at a chosen point until the test releases it.
#[derive(Default)]
struct Pausing {
    inner: MemoryStore,
    gate: Mutex<Option<Gate>>,
}

impl Pausing {
    /// Pause the next call at `at`: returns (paused there, release it).
    fn pause_next(&self, at: At) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock().unwrap() = Some(Gate {
            at,
            reached: reached_tx,
            release: release_rx,
        });
        (reached_rx, release_tx)
    }

    async fn maybe_pause(&self, at: At) {
        let gate = {
            let mut g = self.gate.lock().unwrap();
            if g.as_ref().is_some_and(|g| g.at == at) {
                g.take()
            } else {
                None
            }
        };
        if let Some(g) = gate {
            g.reached.send(()).unwrap();
            g.release.await.unwrap();
        }
    }
}

type R<T> = Result<T, std::convert::Infallible>;

impl TokenStore for Pausing {
    type Error = std::convert::Infallible;
    async fn create_family(&self, r: &FamilyRecord) -> R<InsertOutcome> {
        self.inner.create_family(r).await
    }
    async fn load_family(&self, id: &FamilyId) -> R<Option<FamilyRecord>> {
        let r = self.inner.load_family(id).await;
        self.maybe_pause(At::Load).await;
        r
    }
    async fn compare_and_swap_family(&self, v: u64, r: &FamilyRecord) -> R<CasOutcome> {
        self.maybe_pause(At::Swap).await;
        self.inner.compare_and_swap_family(v, r).await
    }
    async fn list_families(&self, s: &str) -> R<Vec<FamilyRecord>> {
        self.inner.list_families(s).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        reason: RevocationReason,
        at: i64,
        op: OperationId,
    ) -> R<u64> {
        self.inner.revoke_subject(s, reason, at, op).await
    }
    async fn load_policy(&self, t: Option<&str>) -> R<Option<PolicyVersion>> {
        self.inner.load_policy(t).await
    }
    async fn save_policy(&self, t: Option<&str>, v: Option<PolicyVersion>) -> R<()> {
        self.inner.save_policy(t, v).await
    }
    async fn delete_expired(&self, now: i64) -> R<u64> {
        self.inner.delete_expired(now).await
    }
}

/// An engine over a shared store, with its own clock and events.
fn server<S: TokenStore>(
    store: S,
    now: i64,
    grace: i64,
) -> (Engine<S>, ManualClock, Arc<CollectingSink>) {
    let clock = ManualClock::new(now);
    let sink = Arc::new(CollectingSink::new());
    let engine = builder(&clock, &sink)
        .reuse_grace(Duration::seconds(grace))
        .build(store)
        .unwrap();
    (engine, clock, sink)
}

async fn stored<S: TokenStore>(engine: &Engine<S>, token: &str) -> FamilyRecord {
    engine
        .store()
        .load_family(&family_of(token))
        .await
        .unwrap()
        .unwrap()
}

fn refresh_token(r: &token_engine::TokenResponse) -> String {
    rt(r).to_owned()
}

/// The first refresh token of a new session.
async fn login<S: TokenStore>(engine: &Engine<S>) -> String {
    refresh_token(
        &engine
            .issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap(),
    )
}

/// A refresh of `token` that is now paused at `at` inside the store; send on the returned
/// sender to let it go on.
async fn stalled_refresh(
    store: &Arc<Pausing>,
    engine: &Engine<Arc<Pausing>>,
    token: &str,
    at: At,
) -> (
    tokio::task::JoinHandle<Result<token_engine::TokenResponse, Error>>,
    oneshot::Sender<()>,
) {
    let (reached, release) = store.pause_next(at);
    let stalled = {
        let (engine, token) = (engine.clone(), token.to_owned());
        tokio::spawn(async move {
            engine
                .refresh(&client(), &token, RefreshRequest::default())
                .await
        })
    };
    reached.await.unwrap();
    (stalled, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_stalled_on_the_store_while_its_retry_rotated_gets_the_same_successor() {
    let store = Arc::new(Pausing::default());
    let (engine, clock, sink) = server(Arc::clone(&store), NOW, 10);
    let first = login(&engine).await;
    sink.take();

    // The first attempt reads the family at NOW and stalls before deciding.
    let (stalled, release) = stalled_refresh(&store, &engine, &first, At::Load).await;
    // The client gives up and retries two seconds later; the retry rotates.
    clock.advance(Duration::seconds(2));
    let retry = engine
        .refresh(&client(), &first, RefreshRequest::default())
        .await
        .unwrap();
    // The stalled attempt wakes, loses the swap, reloads, and sees a grace retry.
    release.send(()).unwrap();
    let woke = stalled.await.unwrap().unwrap();
    assert_eq!(
        refresh_token(&woke),
        refresh_token(&retry),
        "byte-identical successor"
    );
    let record = stored(&engine, &first).await;
    assert_eq!((record.generation, record.state), (1, FamilyState::Active));
    let events = sink.take();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ReuseDetected { .. } | Event::FamilyRevoked { .. })),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Refreshed { .. }))
            .count(),
        1,
        "one rotation"
    );
    // And the successor works.
    engine
        .refresh(&client(), &refresh_token(&retry), RefreshRequest::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_stamps_the_time_of_the_pass_that_won_not_of_the_request_start() {
    let store = Arc::new(Pausing::default());
    let (engine, clock, _sink) = server(Arc::clone(&store), NOW, 10);
    let first = login(&engine).await;
    let (stalled, release) = stalled_refresh(&store, &engine, &first, At::Load).await;
    clock.advance(Duration::seconds(5));
    release.send(()).unwrap();
    let next = stalled.await.unwrap().unwrap();
    let record = stored(&engine, &first).await;
    assert_eq!(
        record.rotated_at,
        NOW + 5,
        "rotated_at is the deciding pass's time"
    );
    assert_eq!(record.last_used_at, NOW + 5);
    // So the grace window for the next honest retry starts then, not before.
    clock.advance(Duration::seconds(10));
    let again = engine
        .refresh(&client(), &first, RefreshRequest::default())
        .await
        .unwrap();
    assert_eq!(refresh_token(&again), refresh_token(&next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_inside_the_swap_still_yields_one_rotation_and_a_grace_retry() {
    let store = Arc::new(Pausing::default());
    let (engine, clock, _sink) = server(Arc::clone(&store), NOW, 10);
    let first = login(&engine).await;
    let (stalled, release) = stalled_refresh(&store, &engine, &first, At::Swap).await;
    clock.advance(Duration::seconds(3));
    let retry = engine
        .refresh(&client(), &first, RefreshRequest::default())
        .await
        .unwrap();
    release.send(()).unwrap();
    let woke = stalled.await.unwrap().unwrap();
    assert_eq!(refresh_token(&woke), refresh_token(&retry));
    let record = stored(&engine, &first).await;
    assert_eq!((record.generation, record.state), (1, FamilyState::Active));
}

#[tokio::test]
async fn a_retry_on_an_instance_whose_clock_is_behind_is_a_grace_retry() {
    let store = Arc::new(MemoryStore::new());
    // `ahead` reads one second later than `behind`.
    let (ahead, _, ahead_events) = server(Arc::clone(&store), NOW + 1, 5);
    let (behind, _, behind_events) = server(Arc::clone(&store), NOW, 5);
    let first = refresh_token(
        &ahead
            .issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap(),
    );
    let rotated = ahead
        .refresh(&client(), &first, RefreshRequest::default())
        .await
        .unwrap();
    // The load balancer retries the same request on the other instance.
    let retried = behind
        .refresh(&client(), &first, RefreshRequest::default())
        .await
        .unwrap();
    assert_eq!(refresh_token(&retried), refresh_token(&rotated));
    assert_eq!(
        behind_events.take(),
        [Event::GraceRetryServed {
            family: family_of(&first),
            generation: 1
        }]
    );
    assert!(stored(&ahead, &first).await.is_active());
    // And the other way round: rotated on the instance behind, retried on the one ahead.
    let next = behind
        .refresh(
            &client(),
            &refresh_token(&rotated),
            RefreshRequest::default(),
        )
        .await
        .unwrap();
    let again = ahead
        .refresh(
            &client(),
            &refresh_token(&rotated),
            RefreshRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(refresh_token(&again), refresh_token(&next));
    assert!(
        !ahead_events
            .take()
            .iter()
            .any(|e| matches!(e, Event::ReuseDetected { .. }))
    );
}

#[tokio::test]
async fn a_retry_outside_the_window_on_either_side_is_reuse() {
    for offset in [-6, 6] {
        let store = Arc::new(MemoryStore::new());
        let (a, _, _) = server(Arc::clone(&store), NOW, 5);
        let (b, _, _) = server(Arc::clone(&store), NOW + offset, 5);
        let first = refresh_token(
            &a.issue(&client(), IssueRequest::new(SUBJECT))
                .await
                .unwrap(),
        );
        a.refresh(&client(), &first, RefreshRequest::default())
            .await
            .unwrap();
        let e = b
            .refresh(&client(), &first, RefreshRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::ReuseDetected), "offset {offset}: {e:?}");
        assert!(!stored(&a, &first).await.is_active());
    }
}

#[tokio::test]
async fn an_older_generation_or_another_client_inside_the_window_is_still_reuse() {
    let store = Arc::new(MemoryStore::new());
    let (a, _, _) = server(Arc::clone(&store), NOW + 1, 30);
    let (b, _, _) = server(Arc::clone(&store), NOW, 30);
    let g0 = refresh_token(
        &a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap(),
    );
    let g1 = refresh_token(
        &a.refresh(&client(), &g0, RefreshRequest::default())
            .await
            .unwrap(),
    );
    a.refresh(&client(), &g1, RefreshRequest::default())
        .await
        .unwrap();
    let e = b
        .refresh(&client(), &g0, RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");

    let store = Arc::new(MemoryStore::new());
    let (a, _, _) = server(Arc::clone(&store), NOW + 1, 30);
    let (b, _, _) = server(Arc::clone(&store), NOW, 30);
    let g0 = refresh_token(
        &a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap(),
    );
    a.refresh(&client(), &g0, RefreshRequest::default())
        .await
        .unwrap();
    let e = b
        .refresh(&other_client(), &g0, RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

#[tokio::test]
async fn a_policy_bump_on_one_instance_reaches_the_others_within_policy_refresh() {
    let store = Arc::new(MemoryStore::new());
    let clock_a = ManualClock::new(NOW);
    let clock_b = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let a = builder(&clock_a, &sink).build(Arc::clone(&store)).unwrap();
    let b = builder(&clock_b, &sink)
        .policy_refresh(Duration::seconds(5))
        .build(Arc::clone(&store))
        .unwrap();
    let login = b
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let other = b
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert_eq!(
        b.policy_version(None).await.unwrap(),
        PolicyVersion::new(1, 0)
    );

    // A major bump on `a`.
    a.set_policy(None, Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    assert_eq!(
        a.policy_version(None).await.unwrap(),
        PolicyVersion::new(2, 0)
    );
    // `b` may still use what it read, for less than its policy_refresh ...
    clock_b.advance(Duration::seconds(4));
    assert_eq!(
        b.policy_version(None).await.unwrap(),
        PolicyVersion::new(1, 0)
    );
    // ... and from then on applies the bump: re-authentication, stale access tokens.
    clock_b.advance(Duration::seconds(1));
    assert_eq!(
        b.policy_version(None).await.unwrap(),
        PolicyVersion::new(2, 0)
    );
    let e = b
        .refresh(&client(), rt(&login), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReauthenticationRequired), "{e:?}");
    let e = b
        .verify_with_revocation(&other.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
    // A new login on either instance gets the new version.
    let fresh = b
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert_eq!(
        b.verifier().verify(&fresh.access_token).unwrap().pv,
        Some(PolicyVersion::new(2, 0))
    );
}

#[tokio::test]
async fn a_tenant_bump_on_one_instance_reaches_sessionless_tokens_checked_on_another() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let a = builder(&clock, &sink).build(Arc::clone(&store)).unwrap();
    let b = builder(&clock, &sink)
        .policy_refresh(Duration::ZERO)
        .build(Arc::clone(&store))
        .unwrap();
    let acme = b
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .tenant("acme")
                .without_refresh_token(),
        )
        .await
        .unwrap();
    let globex = b
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .tenant("globex")
                .without_refresh_token(),
        )
        .await
        .unwrap();
    assert_eq!(
        b.verifier()
            .verify(&acme.access_token)
            .unwrap()
            .tenant
            .as_deref(),
        Some("acme"),
        "the tenant travels in the token"
    );
    a.set_policy(Some("acme"), Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    let e = b
        .verify_with_revocation(&acme.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::PolicyStale)),
        "{e:?}"
    );
    b.verify_with_revocation(&globex.access_token)
        .await
        .unwrap();
}

/// The `jti` of an access token `engine` issued (checked with its verifier).
fn jti_of<S: TokenStore>(engine: &Engine<S>, r: &token_engine::TokenResponse) -> String {
    let claims = engine.verifier().verify(&r.access_token).unwrap();
    let jti = claims.jti.unwrap().into_owned();
    // 16 bytes in base64url.
    assert_eq!(jti.len(), 22, "{jti}");
    jti
}

/// Every access token has its own `jti`: two instances over one store, in one second of
/// their clocks, rotating and answering each other's retries in the grace window (a `jti` made
/// from the session and its generation alone would repeat there).
#[tokio::test]
async fn every_access_token_has_its_own_jti_across_instances_and_grace_retries() {
    let store = Arc::new(MemoryStore::new());
    let (a, _, _) = server(Arc::clone(&store), NOW, 5);
    let (b, _, _) = server(Arc::clone(&store), NOW, 5);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let issued = a
            .issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
        assert!(seen.insert(jti_of(&a, &issued)));
        let mut token = refresh_token(&issued);
        for _ in 0..10 {
            let rotated = a
                .refresh(&client(), &token, RefreshRequest::default())
                .await
                .unwrap();
            // The load balancer's retry on the other instance, then on the same one.
            let on_b = b
                .refresh(&client(), &token, RefreshRequest::default())
                .await
                .unwrap();
            let on_a = a
                .refresh(&client(), &token, RefreshRequest::default())
                .await
                .unwrap();
            assert_eq!(refresh_token(&on_b), refresh_token(&rotated));
            assert_eq!(refresh_token(&on_a), refresh_token(&rotated));
            for (engine, r) in [(&a, &rotated), (&b, &on_b), (&a, &on_a)] {
                assert!(seen.insert(jti_of(engine, r)), "a repeated jti");
            }
            token = refresh_token(&rotated);
        }
    }
    assert_eq!(seen.len(), 20 * 31);
}

//! Lost store answers: a store that fails one call, either before its write or after
//! committing it, at every call position of every engine operation. The failing call answers
//! `Error::Store`; the client's retry then finds a consistent state, gets the truthful result,
//! and every security event is reported at least once (repeats marked). Under the default
//! settings nothing is revoked by a fault alone.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use time::Duration;
use token_engine::event::{CollectingSink, Event};
use token_engine::family::{FamilyRecord, FamilyState, OperationId};
use token_engine::store::{CasOutcome, InsertOutcome};
use token_engine::{
    Engine, Error, FamilyId, IssueRequest, ManualClock, MemoryStore, PolicyVersion, RefreshRequest,
    RevocationOutcome, RevocationReason, TokenStore,
};

use crate::common::*;

/// Where the armed call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Fail without touching the data.
    Before,
    /// Do the work (commit), then fail to answer.
    After,
}

#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection lost")
    }
}

impl std::error::Error for Lost {}

/// A `MemoryStore` whose `k`-th call after arming fails in the armed mode, and which can be
/// taken down altogether.
#[derive(Default)]
struct Faulty {
    inner: MemoryStore,
    calls: AtomicUsize,
    armed: Mutex<Option<(usize, Mode)>>,
    down: AtomicBool,
    /// After the armed call, stay down.
    stay_down: AtomicBool,
    /// Lose the answer of every n-th compare-and-swap after committing it (0: never).
    lose_every_nth_swap: AtomicUsize,
    swaps: AtomicUsize,
    /// The next create commits, then answers `Exists`: what a driver that re-sent it after
    /// losing the answer reports (the re-sent insert finds the first attempt).
    resend_next_create: AtomicBool,
}

impl Faulty {
    fn arm(&self, k: usize, mode: Mode) {
        self.calls.store(0, Ordering::SeqCst);
        *self.armed.lock().unwrap() = Some((k, mode));
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
        self.down.store(false, Ordering::SeqCst);
        self.stay_down.store(false, Ordering::SeqCst);
    }

    /// Count calls from now on, with nothing armed.
    fn count_from_here(&self) {
        self.disarm();
        self.calls.store(0, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Run one call: fail before, delegate, fail after, as armed.
    async fn call<T>(
        &self,
        f: impl Future<Output = Result<T, std::convert::Infallible>>,
    ) -> Result<T, Lost> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Lost);
        }
        let k = self.calls.fetch_add(1, Ordering::SeqCst);
        let armed = *self.armed.lock().unwrap();
        let fault = armed.filter(|&(at, _)| at == k).map(|(_, mode)| mode);
        if fault.is_some() && self.stay_down.load(Ordering::SeqCst) {
            self.down.store(true, Ordering::SeqCst);
        }
        if fault == Some(Mode::Before) {
            return Err(Lost);
        }
        let Ok(v) = f.await;
        if fault == Some(Mode::After) {
            return Err(Lost);
        }
        Ok(v)
    }
}

impl TokenStore for Faulty {
    type Error = Lost;
    async fn create_family(&self, r: &FamilyRecord) -> Result<InsertOutcome, Lost> {
        let out = self.call(self.inner.create_family(r)).await?;
        if self.resend_next_create.swap(false, Ordering::SeqCst) {
            assert_eq!(out, InsertOutcome::Inserted);
            return self.call(self.inner.create_family(r)).await;
        }
        Ok(out)
    }
    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, Lost> {
        self.call(self.inner.load_family(id)).await
    }
    async fn compare_and_swap_family(&self, v: u64, r: &FamilyRecord) -> Result<CasOutcome, Lost> {
        let out = self.call(self.inner.compare_and_swap_family(v, r)).await?;
        let n = self.lose_every_nth_swap.load(Ordering::SeqCst);
        if n > 0 && self.swaps.fetch_add(1, Ordering::SeqCst) % n == n - 1 {
            return Err(Lost);
        }
        Ok(out)
    }
    async fn list_families(&self, s: &str) -> Result<Vec<FamilyRecord>, Lost> {
        self.call(self.inner.list_families(s)).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        reason: RevocationReason,
        at: i64,
        op: OperationId,
    ) -> Result<u64, Lost> {
        self.call(self.inner.revoke_subject(s, reason, at, op))
            .await
    }
    async fn load_policy(&self, t: Option<&str>) -> Result<Option<PolicyVersion>, Lost> {
        self.call(self.inner.load_policy(t)).await
    }
    async fn save_policy(&self, t: Option<&str>, v: Option<PolicyVersion>) -> Result<(), Lost> {
        self.call(self.inner.save_policy(t, v)).await
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, Lost> {
        self.call(self.inner.delete_expired(now)).await
    }
}

/// One app server with the default settings over a faulty store.
struct World {
    engine: Engine<Arc<Faulty>>,
    store: Arc<Faulty>,
    clock: ManualClock,
    sink: Arc<CollectingSink>,
}

fn world_with(f: impl FnOnce(token_engine::EngineBuilder) -> token_engine::EngineBuilder) -> World {
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let store = Arc::new(Faulty::default());
    // The default settings (the common builder is strict for the other tests).
    let engine = f(Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .signing_key(
            token_engine::SigningKey::hmac(token_engine::Algorithm::HS256, &[9; 32]).unwrap(),
        )
        .refresh_secret(token_engine::RefreshSecret::from_bytes(&SECRET).unwrap())
        .clock(clock.clone())
        .events(Arc::clone(&sink)))
    .build(Arc::clone(&store))
    .unwrap();
    World {
        engine,
        store,
        clock,
        sink,
    }
}

/// The engine operations, each after its own setup.
#[derive(Clone, Copy, Debug)]
enum Op {
    Issue,
    Refresh,
    Replay,
    Reauthenticate,
    Revoke,
    RevokeSession,
    SignOut,
    Verify,
    Introspect,
    Sessions,
    SetPolicy,
}

const OPS: [Op; 11] = [
    Op::Issue,
    Op::Refresh,
    Op::Replay,
    Op::Reauthenticate,
    Op::Revoke,
    Op::RevokeSession,
    Op::SignOut,
    Op::Verify,
    Op::Introspect,
    Op::Sessions,
    Op::SetPolicy,
];

/// What the setup left for the operation.
struct Ctx {
    /// The session's first refresh token (spent already for `Replay`).
    token: String,
    access: String,
    family: Option<FamilyId>,
}

#[derive(Debug)]
enum Out {
    Tokens(String),
    Revocation(RevocationOutcome),
    Count(u64),
    Active(bool),
    Done,
}

async fn setup(w: &World, op: Op) -> Ctx {
    let empty = Ctx {
        token: String::new(),
        access: String::new(),
        family: None,
    };
    if matches!(op, Op::Issue | Op::SetPolicy) {
        return empty;
    }
    let login = w
        .engine
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let token = rt(&login).to_owned();
    let ctx = Ctx {
        family: Some(family_of(&token)),
        access: login.access_token.clone(),
        token,
    };
    match op {
        Op::Replay => {
            w.engine
                .refresh(&client(), &ctx.token, RefreshRequest::default())
                .await
                .unwrap();
            w.clock.advance(Duration::seconds(60));
        }
        Op::Reauthenticate => {
            w.engine
                .set_policy(None, Some(PolicyVersion::new(2, 0)))
                .await
                .unwrap();
        }
        Op::SignOut => {
            w.engine
                .issue(&client(), IssueRequest::new(SUBJECT))
                .await
                .unwrap();
        }
        _ => {}
    }
    w.sink.take();
    ctx
}

async fn run(w: &World, op: Op, ctx: &Ctx) -> Result<Out, Error> {
    let e = &w.engine;
    Ok(match op {
        Op::Issue => {
            Out::Tokens(rt(&e.issue(&client(), IssueRequest::new(SUBJECT)).await?).to_owned())
        }
        Op::Refresh | Op::Replay | Op::Reauthenticate => Out::Tokens(
            rt(&e
                .refresh(&client(), &ctx.token, RefreshRequest::default())
                .await?)
            .to_owned(),
        ),
        Op::Revoke => Out::Revocation(e.revoke(&client(), &ctx.token).await?),
        Op::RevokeSession => Out::Revocation(e.revoke_session(SUBJECT, ctx.family.unwrap()).await?),
        // The retry of a lost answer is expressed by the idempotency key.
        Op::SignOut => Out::Count(
            e.sign_out_everywhere_idempotent(SUBJECT, b"sign-out-1")
                .await?,
        ),
        Op::Verify => {
            e.verify_with_revocation(&ctx.access).await?;
            Out::Done
        }
        Op::Introspect => Out::Active(e.introspect(&ctx.token).await?.active),
        Op::Sessions => Out::Count(e.sessions(SUBJECT).await?.len() as u64),
        Op::SetPolicy => {
            e.set_policy(None, Some(PolicyVersion::new(3, 1))).await?;
            Out::Done
        }
    })
}

async fn family<S: TokenStore>(e: &Engine<S>, id: FamilyId) -> FamilyRecord {
    e.store().load_family(&id).await.unwrap().unwrap()
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// The retry's result and the state and events after it, per operation.
async fn check_retry(
    w: &World,
    op: Op,
    ctx: &Ctx,
    retry: Result<Out, Error>,
    events: &[Event],
    what: &str,
) {
    let revoked = |e: &Event| matches!(e, Event::FamilyRevoked { .. });
    match op {
        Op::Issue => {
            let Ok(Out::Tokens(t)) = retry else {
                panic!("{what}: {retry:?}")
            };
            // Exactly the retry's session is live, and it works.
            let live = w.engine.sessions(SUBJECT).await.unwrap();
            assert_eq!(live.len(), 1, "{what}: a failed login left a live session");
            assert_eq!(live[0].family, family_of(&t), "{what}");
            w.engine
                .refresh(&client(), &t, RefreshRequest::default())
                .await
                .unwrap();
        }
        Op::Refresh => {
            let Ok(Out::Tokens(t)) = retry else {
                panic!("{what}: {retry:?}")
            };
            assert!(
                family(&w.engine, ctx.family.unwrap()).await.is_active(),
                "{what}"
            );
            assert_eq!(count(events, revoked), 0, "{what}: {events:?}");
            assert_eq!(
                count(events, |e| matches!(e, Event::ReuseDetected { .. })),
                0,
                "{what}: a lost answer raised a theft alarm"
            );
            // The successor the retry got is the live one.
            w.engine
                .refresh(&client(), &t, RefreshRequest::default())
                .await
                .unwrap_or_else(|e| panic!("{what}: successor refused: {e:?}"));
        }
        Op::Replay => {
            assert!(
                matches!(retry, Err(Error::ReuseDetected)),
                "{what}: {retry:?}"
            );
            assert!(
                count(events, |e| matches!(e, Event::ReuseDetected { .. })) >= 1,
                "{what}"
            );
            assert!(matches!(
                family(&w.engine, ctx.family.unwrap()).await.state,
                FamilyState::Revoked {
                    reason: RevocationReason::ReuseDetected,
                    ..
                }
            ));
        }
        Op::Reauthenticate => {
            assert!(
                matches!(retry, Err(Error::ReauthenticationRequired)),
                "{what}: {retry:?}"
            );
            assert!(
                count(events, |e| matches!(
                    e,
                    Event::ReauthenticationRequired { .. }
                )) >= 1,
                "{what}"
            );
            assert!(matches!(
                family(&w.engine, ctx.family.unwrap()).await.state,
                FamilyState::Revoked {
                    reason: RevocationReason::PolicyChanged,
                    ..
                }
            ));
        }
        Op::Revoke | Op::RevokeSession => {
            let family_id = ctx.family.unwrap();
            assert!(
                matches!(retry, Ok(Out::Revocation(RevocationOutcome::Revoked { family })) if family == family_id),
                "{what}: {retry:?}"
            );
            assert!(count(events, revoked) >= 1, "{what}");
            assert!(!family(&w.engine, family_id).await.is_active());
        }
        Op::SignOut => {
            assert!(matches!(retry, Ok(Out::Count(2))), "{what}: {retry:?}");
            assert!(count(events, revoked) >= 2, "{what}: {events:?}");
            assert!(w.engine.sessions(SUBJECT).await.unwrap().is_empty());
        }
        Op::Verify | Op::SetPolicy => {
            assert!(matches!(retry, Ok(Out::Done)), "{what}: {retry:?}");
            if matches!(op, Op::SetPolicy) {
                assert_eq!(
                    w.engine.policy_version(None).await.unwrap(),
                    PolicyVersion::new(3, 1)
                );
            }
        }
        Op::Introspect => assert!(matches!(retry, Ok(Out::Active(true))), "{what}: {retry:?}"),
        Op::Sessions => assert!(matches!(retry, Ok(Out::Count(1))), "{what}: {retry:?}"),
    }
}

#[tokio::test]
async fn every_store_call_of_every_operation_fails_before_or_after_its_write() {
    let mut cases = 0;
    for op in OPS {
        // How many store calls the operation makes, on a clean run.
        let clean = world_with(|b| b);
        let ctx = setup(&clean, op).await;
        clean.store.count_from_here();
        let clean_result = run(&clean, op, &ctx).await;
        assert!(
            !matches!(clean_result, Err(Error::Store(_))),
            "{op:?} clean: {clean_result:?}"
        );
        let n = clean.store.calls();
        assert!(n >= 1, "{op:?} makes no store call");
        for k in 0..n {
            for mode in [Mode::Before, Mode::After] {
                let what = format!("{op:?}, call {k} of {n}, failing {mode:?}");
                let w = world_with(|b| b);
                let ctx = setup(&w, op).await;
                w.store.arm(k, mode);
                let first = run(&w, op, &ctx).await;
                assert!(
                    matches!(first, Err(Error::Store(_))),
                    "{what}: the failing call must answer Error::Store, got {first:?}"
                );
                let mut events = w.sink.take();
                assert!(
                    !events.iter().any(|e| matches!(
                        e,
                        Event::RefreshRejected { .. } | Event::VerificationFailed { .. }
                    )),
                    "{what}: a store failure was reported as a rejection: {events:?}"
                );
                // The client retries a second later; the store answers again.
                w.store.disarm();
                w.clock.advance(Duration::seconds(1));
                let retry = run(&w, op, &ctx).await;
                events.extend(w.sink.take());
                check_retry(&w, op, &ctx, retry, &events, &what).await;
                cases += 1;
            }
        }
    }
    assert!(cases >= 40, "{cases} cases");
}

#[tokio::test]
async fn a_failed_login_leaves_no_live_session_once_the_store_answers_again() {
    let w = world_with(|b| b);
    // Warm the policy cache so the next call is the create.
    w.engine.policy_version(None).await.unwrap();
    // The create commits, its answer is lost, and the store stays down for a while.
    w.store.arm(0, Mode::After);
    w.store.stay_down.store(true, Ordering::SeqCst);
    let e = w
        .engine
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    assert!(matches!(
        w.engine.sessions(SUBJECT).await,
        Err(Error::Store(_))
    ));
    // Back up: the orphan is still there until this instance's next issue cleans it up.
    w.store.disarm();
    let orphan = w.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(orphan.len(), 1);
    let orphan = orphan[0].family;
    w.sink.take();
    let login = w
        .engine
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let live = w.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].family, family_of(rt(&login)));
    assert!(matches!(
        family(&w.engine, orphan).await.state,
        FamilyState::Revoked {
            reason: RevocationReason::IssueFailed,
            ..
        }
    ));
    let events = w.sink.take();
    assert!(events.contains(&Event::FamilyRevoked {
        family: orphan,
        reason: RevocationReason::IssueFailed,
        possible_repeat: false,
    }));
}

/// A create re-sent after a lost answer finds its own first attempt and answers `Exists`
/// (a Redis Cluster store re-sends a write whose connection dropped, with its `WAIT`): the
/// engine recognises its record, and the login is that family; no second family, nothing
/// left live that nobody holds.
#[tokio::test]
async fn a_re_sent_create_finding_its_first_attempt_is_the_login() {
    let w = world_with(|b| b);
    w.store.resend_next_create.store(true, Ordering::SeqCst);
    let login = w
        .engine
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert!(
        !w.store.resend_next_create.load(Ordering::SeqCst),
        "re-sent"
    );
    let live = w.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(live.len(), 1, "one family: {live:?}");
    assert_eq!(live[0].family, family_of(rt(&login)));
    let next = w
        .engine
        .refresh(&client(), rt(&login), RefreshRequest::default())
        .await;
    assert!(next.is_ok(), "{next:?}");
}

#[tokio::test]
async fn delete_expired_also_cleans_up_after_a_failed_login() {
    let w = world_with(|b| b);
    w.engine.policy_version(None).await.unwrap();
    w.store.arm(0, Mode::After);
    w.store.stay_down.store(true, Ordering::SeqCst);
    assert!(
        w.engine
            .issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .is_err()
    );
    w.store.disarm();
    assert_eq!(w.engine.sessions(SUBJECT).await.unwrap().len(), 1);
    w.engine.delete_expired().await.unwrap();
    assert!(w.engine.sessions(SUBJECT).await.unwrap().is_empty());
}

#[tokio::test]
async fn strict_mode_turns_a_lost_refresh_answer_into_reuse_as_documented() {
    // reuse_grace 0 assumes no answer is ever lost: the retry of a committed rotation is
    // reuse. This is why the default is 5 s.
    let w = world_with(|b| b.reuse_grace(Duration::ZERO));
    let ctx = setup(&w, Op::Refresh).await;
    w.store.count_from_here();
    // load, then the swap: fail after the swap committed.
    w.engine.policy_version(None).await.unwrap();
    w.store.arm(1, Mode::After);
    assert!(matches!(
        run(&w, Op::Refresh, &ctx).await,
        Err(Error::Store(_))
    ));
    w.store.disarm();
    w.clock.advance(Duration::seconds(1));
    assert!(matches!(
        run(&w, Op::Refresh, &ctx).await,
        Err(Error::ReuseDetected)
    ));
}

/// A day of 200 sessions refreshing every 15 minutes with 1% of swap answers lost and
/// clients retrying after 1 s: the numbers behind the `reuse_grace` default.
async fn simulated_day(grace: Duration) -> (usize, usize) {
    let w = world_with(|b| b.reuse_grace(grace));
    w.store.lose_every_nth_swap.store(100, Ordering::SeqCst);
    let mut tokens = Vec::new();
    for _ in 0..200 {
        let r = w
            .engine
            .issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
        tokens.push(Some(rt(&r).to_owned()));
    }
    w.sink.take();
    for _ in 0..96 {
        w.clock.advance(Duration::minutes(15));
        for slot in tokens.iter_mut() {
            let Some(token) = slot.clone() else { continue };
            let mut answer = w
                .engine
                .refresh(&client(), &token, RefreshRequest::default())
                .await;
            if matches!(answer, Err(Error::Store(_))) {
                w.clock.advance(Duration::seconds(1));
                answer = w
                    .engine
                    .refresh(&client(), &token, RefreshRequest::default())
                    .await;
                w.clock.advance(Duration::seconds(-1));
            }
            *slot = answer.ok().map(|r| rt(&r).to_owned());
        }
    }
    let events = w.sink.take();
    let revoked = tokens.iter().filter(|t| t.is_none()).count();
    let alarms = count(&events, |e| {
        matches!(
            e,
            Event::ReuseDetected {
                possible_repeat: false,
                ..
            }
        )
    });
    (revoked, alarms)
}

#[tokio::test]
async fn a_simulated_day_of_lost_answers_revokes_nothing_at_the_default_grace() {
    let (revoked, alarms) = simulated_day(Duration::seconds(5)).await;
    println!("grace 5 s: {revoked} of 200 sessions revoked, {alarms} false alarms");
    assert_eq!((revoked, alarms), (0, 0));
    let (revoked, alarms) = simulated_day(Duration::seconds(1)).await;
    println!("grace 1 s: {revoked} of 200 sessions revoked, {alarms} false alarms");
    assert_eq!((revoked, alarms), (0, 0));
    let (revoked, alarms) = simulated_day(Duration::ZERO).await;
    println!("grace 0: {revoked} of 200 sessions revoked, {alarms} false alarms");
    assert!(
        revoked > 0 && alarms > 0,
        "strict mode revokes on lost answers"
    );
}

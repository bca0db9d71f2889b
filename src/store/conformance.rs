//! The store conformance kit: async checks any [`TokenStore`] implementation runs from its
//! own tests (feature `conformance`).
//!
//! Each check takes a fresh, empty store and panics (like an assertion) if the store breaks
//! a contract of the trait. The concurrency checks spawn tasks with `tokio::spawn`, so call
//! them from a multi-threaded runtime; they drive the engine's real refresh loop (load →
//! [`decide`](crate::decide) → compare-and-swap), not a copy of it.
//!
//! ```no_run
//! # use token_engine::MemoryStore;
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_conforms() {
//!     token_engine::store::conformance::run_all(|| async { MemoryStore::new() }).await;
//! }
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test kit: a failed check panics, like an assertion

use core::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::{
    CasOutcome, CodeRecord, DeviceRecord, DeviceState, FamilyRecord, InsertOutcome, TokenStore,
};
use crate::family::{
    DecideConfig, FamilySpec, FamilyState, RefreshFailure, Refreshed, RevocationReason, SecretHash,
    new_family, refresh_family,
};
use crate::opaque::{FamilyId, RefreshKeys, RefreshSecret};
use crate::policy::PolicyVersion;

/// Start of the kit's simulated time.
const T0: i64 = 1_800_000_000;
/// Tasks that refresh one token at once in the concurrency checks.
pub const CONCURRENT_TASKS: usize = 64;

/// Run every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: TokenStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    family_round_trip(&make().await).await;
    create_is_insert_if_absent(&make().await).await;
    compare_and_swap(&make().await).await;
    list_and_revoke_by_subject(&make().await).await;
    expiry(&make().await).await;
    codes_are_taken_once(Arc::new(make().await)).await;
    device_records(&make().await).await;
    replay_ids(&make().await).await;
    no_usable_token_at_rest(&make().await).await;
    concurrent_refresh_with_grace(Arc::new(make().await)).await;
    concurrent_refresh_without_grace(Arc::new(make().await)).await;
}

/// Create a family that must not exist yet.
async fn create<S: TokenStore>(store: &S, record: &FamilyRecord) {
    assert_eq!(
        store.create_family(record).await.unwrap(),
        InsertOutcome::Inserted,
        "create_family"
    );
}

fn keys() -> RefreshKeys {
    RefreshKeys::new(RefreshSecret::from_bytes(&[42; 32]).expect("secret"))
}

fn record(subject: &str, n: u8) -> FamilyRecord {
    FamilyRecord {
        id: FamilyId::from_bytes([n; 16]),
        subject: subject.to_owned(),
        client_id: "client-\u{e9}".to_owned(),
        scope: "read write".to_owned(),
        tenant: Some("tenant-1".to_owned()),
        device_id: Some("device-\"quoted\"".to_owned()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".to_owned()),
        claims: Some(r#"{"role":"admin","tenant_id":"org_987654321"}"#.to_owned()),
        auth_time: T0 - 5,
        created_at: T0,
        absolute_expires_at: T0 + 86_400,
        last_used_at: T0 + 7,
        policy: PolicyVersion::new(4, 2),
        generation: 3,
        key_id: 9,
        current_secret_hash: SecretHash([0xa5; 32]),
        rotated_at: T0 + 7,
        state: FamilyState::Active,
        version: 11,
    }
}

/// Create and load round-trip every field, in both states.
pub async fn family_round_trip<S: TokenStore>(store: &S) {
    let active = record("alice", 1);
    assert_eq!(
        store.create_family(&active).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.load_family(&active.id).await.unwrap().as_ref(),
        Some(&active)
    );
    let mut revoked = record("alice", 2);
    revoked.tenant = None;
    revoked.device_id = None;
    revoked.dpop_jkt = None;
    revoked.claims = None;
    revoked.state = FamilyState::Revoked {
        reason: RevocationReason::PolicyChanged,
        at: T0 + 9,
    };
    revoked.version = u64::MAX - 1;
    revoked.generation = u32::MAX;
    assert_eq!(
        store.create_family(&revoked).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.load_family(&revoked.id).await.unwrap().as_ref(),
        Some(&revoked)
    );
    assert_eq!(
        store
            .load_family(&FamilyId::from_bytes([99; 16]))
            .await
            .unwrap(),
        None
    );
}

/// `create_family` is insert-if-absent.
pub async fn create_is_insert_if_absent<S: TokenStore>(store: &S) {
    let first = record("bob", 1);
    assert_eq!(
        store.create_family(&first).await.unwrap(),
        InsertOutcome::Inserted
    );
    let mut clash = record("mallory", 1);
    clash.version = 0;
    assert_eq!(
        store.create_family(&clash).await.unwrap(),
        InsertOutcome::Exists
    );
    assert_eq!(
        store.load_family(&first.id).await.unwrap().as_ref(),
        Some(&first)
    );
}

/// Compare-and-swap swaps on the expected version only.
pub async fn compare_and_swap<S: TokenStore>(store: &S) {
    let r = record("carol", 1);
    create(store, &r).await;
    let mut next = r.clone();
    next.generation += 1;
    next.version += 1;
    assert_eq!(
        store
            .compare_and_swap_family(r.version + 1, &next)
            .await
            .unwrap(),
        CasOutcome::Conflict
    );
    assert_eq!(store.load_family(&r.id).await.unwrap().as_ref(), Some(&r));
    assert_eq!(
        store
            .compare_and_swap_family(r.version, &next)
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(
        store.load_family(&r.id).await.unwrap().as_ref(),
        Some(&next)
    );
    // The old version is gone for good.
    assert_eq!(
        store
            .compare_and_swap_family(r.version, &next)
            .await
            .unwrap(),
        CasOutcome::Conflict
    );
    // A family that does not exist cannot be swapped into existence.
    let ghost = record("carol", 77);
    assert_eq!(
        store
            .compare_and_swap_family(ghost.version, &ghost)
            .await
            .unwrap(),
        CasOutcome::Conflict
    );
    assert_eq!(store.load_family(&ghost.id).await.unwrap(), None);
}

/// Families are listed and revoked by subject, and only that subject's.
pub async fn list_and_revoke_by_subject<S: TokenStore>(store: &S) {
    for (subject, n) in [("dave", 1), ("dave", 2), ("dave", 3), ("erin", 4)] {
        create(store, &record(subject, n)).await;
    }
    let mut already = record("dave", 5);
    already.state = FamilyState::Revoked {
        reason: RevocationReason::Logout,
        at: T0,
    };
    create(store, &already).await;
    let mut ids: Vec<_> = store
        .list_families("dave")
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 5].map(|n| FamilyId::from_bytes([n; 16])));
    assert!(store.list_families("nobody").await.unwrap().is_empty());
    let n = store
        .revoke_subject("dave", RevocationReason::SignOutEverywhere, T0 + 100)
        .await
        .unwrap();
    assert_eq!(n, 3, "only the active families are revoked");
    for f in store.list_families("dave").await.unwrap() {
        match f.id.as_bytes()[0] {
            5 => assert_eq!(f, already, "an already revoked family keeps its reason"),
            _ => {
                assert_eq!(
                    f.state,
                    FamilyState::Revoked {
                        reason: RevocationReason::SignOutEverywhere,
                        at: T0 + 100
                    }
                );
                assert_eq!(
                    f.version,
                    record("dave", 1).version + 1,
                    "revocation bumps the version"
                );
            }
        }
    }
    let erin = store
        .load_family(&FamilyId::from_bytes([4; 16]))
        .await
        .unwrap()
        .unwrap();
    assert!(erin.is_active());
}

/// `delete_expired` deletes what expired and nothing else.
pub async fn expiry<S: TokenStore>(store: &S) {
    let mut old = record("frank", 1);
    old.absolute_expires_at = T0 + 10;
    let live = record("frank", 2);
    create(store, &old).await;
    create(store, &live).await;
    let code = |k: u8, exp: i64| CodeRecord {
        key: [k; 32],
        client_id: "c".into(),
        expires_at: exp,
        payload: vec![k],
    };
    assert_eq!(
        store.insert_code(&code(1, T0 + 10)).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.insert_code(&code(2, T0 + 1000)).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.insert_replay_id(&[1; 32], T0 + 10, T0).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store
            .insert_replay_id(&[2; 32], T0 + 1000, T0)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.delete_expired(T0 + 9).await.unwrap(),
        0,
        "nothing expired yet"
    );
    assert!(store.delete_expired(T0 + 11).await.unwrap() >= 3);
    assert_eq!(store.load_family(&old.id).await.unwrap(), None);
    assert_eq!(
        store.load_family(&live.id).await.unwrap().as_ref(),
        Some(&live)
    );
    assert_eq!(store.take_code(&[1; 32]).await.unwrap(), None);
    assert_eq!(
        store.take_code(&[2; 32]).await.unwrap(),
        Some(code(2, T0 + 1000))
    );
    assert_eq!(
        store
            .insert_replay_id(&[2; 32], T0 + 1000, T0 + 11)
            .await
            .unwrap(),
        InsertOutcome::Exists
    );
    let ids: Vec<_> = store
        .list_families("frank")
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, [live.id]);
}

/// One-time codes: insert-if-absent, and of many concurrent takes exactly one wins.
pub async fn codes_are_taken_once<S: TokenStore + 'static>(store: Arc<S>) {
    let code = CodeRecord {
        key: [7; 32],
        client_id: "client".into(),
        expires_at: T0 + 60,
        payload: b"opaque engine data".to_vec(),
    };
    assert_eq!(
        store.insert_code(&code).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.insert_code(&code).await.unwrap(),
        InsertOutcome::Exists
    );
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|_| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.take_code(&[7; 32]).await.unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            won.push(c);
        }
    }
    assert_eq!(won, [code], "exactly one take returns the code");
}

/// Device records: insert-if-absent on key and user code, lookup both ways, CAS.
pub async fn device_records<S: TokenStore>(store: &S) {
    let rec = DeviceRecord {
        key: [3; 32],
        user_code: "WDJB-MJHT".into(),
        client_id: "tv".into(),
        expires_at: T0 + 600,
        last_polled_at: 0,
        state: DeviceState::Pending,
        payload: vec![1, 2, 3],
        version: 0,
    };
    assert_eq!(
        store.insert_device(&rec).await.unwrap(),
        InsertOutcome::Inserted
    );
    let mut same_user_code = rec.clone();
    same_user_code.key = [4; 32];
    assert_eq!(
        store.insert_device(&same_user_code).await.unwrap(),
        InsertOutcome::Exists
    );
    assert_eq!(store.load_device(&[4; 32]).await.unwrap(), None);
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        Some(&rec)
    );
    assert_eq!(
        store
            .load_device_by_user_code("WDJB-MJHT")
            .await
            .unwrap()
            .as_ref(),
        Some(&rec)
    );
    let mut approved = rec.clone();
    approved.state = DeviceState::Approved;
    approved.version = 1;
    assert_eq!(
        store.compare_and_swap_device(1, &approved).await.unwrap(),
        CasOutcome::Conflict
    );
    assert_eq!(
        store.compare_and_swap_device(0, &approved).await.unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        Some(&approved)
    );
    assert_eq!(
        store.compare_and_swap_device(0, &approved).await.unwrap(),
        CasOutcome::Conflict
    );
}

/// Replay ids: insert-if-absent until they expire.
pub async fn replay_ids<S: TokenStore>(store: &S) {
    assert_eq!(
        store.insert_replay_id(&[9; 32], T0 + 60, T0).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 60, T0 + 59)
            .await
            .unwrap(),
        InsertOutcome::Exists
    );
    assert_eq!(
        store
            .insert_replay_id(&[8; 32], T0 + 60, T0 + 1)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 200, T0 + 60)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 200, T0 + 100)
            .await
            .unwrap(),
        InsertOutcome::Exists
    );
}

fn spec(subject: &str) -> FamilySpec<'_> {
    FamilySpec {
        subject,
        client_id: "app",
        scope: "read",
        tenant: None,
        device_id: None,
        dpop_jkt: None,
        claims: None,
        auth_time: T0,
        policy: PolicyVersion::new(1, 0),
        absolute_ttl_secs: 30 * 86_400,
    }
}

fn config(keys: &RefreshKeys, grace: i64) -> DecideConfig<'_> {
    DecideConfig {
        keys,
        client_id: "app",
        policy: PolicyVersion::new(1, 0),
        reuse_grace_secs: grace,
        idle_ttl_secs: 7 * 86_400,
    }
}

/// What the store holds never contains a usable token: not the token text, not its secret,
/// not the secret's base64url, for the first and a rotated generation.
pub async fn no_usable_token_at_rest<S: TokenStore>(store: &S) {
    let keys = keys();
    let fam = new_family(&keys, &spec("grace"), T0).unwrap();
    create(store, &fam.record).await;
    let presented = keys.parse(fam.token.expose_secret()).unwrap();
    let Ok(Refreshed::Rotated { token: next, .. }) = refresh_family(
        store,
        &presented,
        T0 + 1,
        &config(&keys, 0),
        |_| PolicyVersion::new(1, 0),
        |_| Ok(()),
    )
    .await
    else {
        panic!("first refresh must rotate");
    };
    let stored = store
        .load_family(&presented.family())
        .await
        .unwrap()
        .unwrap();
    let json = serde_json::to_string(&stored).unwrap();
    let debug = format!("{stored:?}");
    for token in [&fam.token, &next] {
        let p = keys.parse(token.expose_secret()).unwrap();
        let secret_b64 = {
            let mut s = String::new();
            crate::jose::b64_encode_to(&p.secret[..], &mut s);
            s
        };
        let secret_json = serde_json::to_string(&p.secret[..]).unwrap();
        let secret_inner = secret_json.trim_start_matches('[').trim_end_matches(']');
        for haystack in [&json, &debug] {
            assert!(
                !haystack.contains(token.expose_secret()),
                "token text at rest"
            );
            assert!(
                !haystack.contains(&token.expose_secret()[3..40]),
                "token prefix at rest"
            );
            assert!(
                !haystack.contains(&secret_b64),
                "secret (base64url) at rest"
            );
            assert!(!haystack.contains(secret_inner), "secret bytes at rest");
        }
    }
}

async fn race<S: TokenStore + 'static>(
    store: Arc<S>,
    grace: i64,
) -> (Vec<Result<Refreshed, RefreshFailure>>, FamilyId) {
    let keys = Arc::new(keys());
    let fam = new_family(&keys, &spec("racer"), T0).unwrap();
    assert_eq!(
        store.create_family(&fam.record).await.unwrap(),
        InsertOutcome::Inserted
    );
    let token = Arc::new(fam.token);
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|_| {
            let (store, keys, token, barrier) = (
                Arc::clone(&store),
                Arc::clone(&keys),
                Arc::clone(&token),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                let presented = keys.parse(token.expose_secret()).unwrap();
                barrier.wait().await;
                refresh_family(
                    &*store,
                    &presented,
                    T0 + 5,
                    &config(&keys, grace),
                    |_| PolicyVersion::new(1, 0),
                    |_| Ok(()),
                )
                .await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    (out, fam.record.id)
}

/// Grace on: exactly one rotation wins, every loser gets the very same successor, and the
/// family is not forked (generation 1, active).
pub async fn concurrent_refresh_with_grace<S: TokenStore + 'static>(store: Arc<S>) {
    assert_multi_thread();
    let (results, id) = race(Arc::clone(&store), 30).await;
    let mut rotated = Vec::new();
    let mut retried = Vec::new();
    for r in results {
        match r {
            Ok(Refreshed::Rotated { token, .. }) => rotated.push(token),
            Ok(Refreshed::GraceRetry { token, .. }) => retried.push(token),
            Err(e) => panic!("with grace every concurrent refresh succeeds, got {e:?}"),
        }
    }
    assert_eq!(rotated.len(), 1, "exactly one rotation wins");
    assert_eq!(retried.len(), CONCURRENT_TASKS - 1);
    assert!(
        retried.iter().all(|t| *t == rotated[0]),
        "losers get the winner's successor"
    );
    let stored = store.load_family(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.generation, stored.state),
        (1, FamilyState::Active),
        "no fork"
    );
}

/// Grace off: exactly one rotation wins and the replays revoke the family.
pub async fn concurrent_refresh_without_grace<S: TokenStore + 'static>(store: Arc<S>) {
    assert_multi_thread();
    let (results, id) = race(Arc::clone(&store), 0).await;
    let rotations = results
        .iter()
        .filter(|r| matches!(r, Ok(Refreshed::Rotated { .. })))
        .count();
    assert_eq!(rotations, 1, "exactly one rotation wins");
    let revocations = results
        .iter()
        .filter(|r| matches!(r, Err(RefreshFailure::Revoked(_))))
        .count();
    assert_eq!(revocations, 1, "the first replay revokes, once");
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(Refreshed::Rotated { .. })
                    | Err(RefreshFailure::Revoked(_))
                    | Err(RefreshFailure::Rejected(crate::GrantError::Revoked, _))
            ),
            "{r:?}"
        );
    }
    let stored = store.load_family(&id).await.unwrap().unwrap();
    assert_eq!(stored.generation, 1, "never forked");
    assert!(
        matches!(
            stored.state,
            FamilyState::Revoked {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ),
        "{:?}",
        stored.state
    );
}

fn assert_multi_thread() {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    assert_eq!(
        flavor,
        tokio::runtime::RuntimeFlavor::MultiThread,
        "the concurrency checks need #[tokio::test(flavor = \"multi_thread\")]"
    );
}

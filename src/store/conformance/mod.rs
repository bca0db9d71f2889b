//! The store conformance kit: async checks any store implementation runs from its own tests
//! (feature `conformance`), one runner per trait.
//!
//! Each check takes a fresh, empty store and panics (like an assertion) if the store breaks a
//! contract of its trait in a way that changes what the engine does. Every check observes each
//! write through every read method. The concurrency checks spawn tasks with `tokio::spawn`, so
//! call them from a multi-threaded runtime; they drive real [`Engine`](crate::Engine)s (two of
//! them, with clocks a second apart, as two app servers would be), each over its own instance
//! of the store (see "Several instances" below).
//!
//! | runner | checks |
//! |---|---|
//! | [`run_token_store`] | every field round-trips (extreme integers, Unicode) through `load_family` and `list_families` after create, compare-and-swap and revoke; insert-if-absent; compare-and-swap on the version only; exact byte-wise subject matching against neighbours differing in case, by a prefix, by `LIKE` or glob wildcards or by Unicode normalization; no cap on listing or revocation (hundreds of families); revocation sets exactly reason, time, operation and version, leaves revoked families alone, and shows through `load_family`; policy versions per exact level; sweeping deletes only what expired; nothing usable at rest; compare-and-swap raced on OS threads across two instances, never two wins from one version; 64 concurrent refreshes of one token through two engines give one rotation and never a fork, with and without grace; `revoke_subject` racing refresh loops leaves every family revoked, keeps the rotations committed before it, and every later refresh fails |
//! | [`run_code_store`] | insert-if-absent; 64 concurrent takes, exactly one wins; sweeping; 64 concurrent exchanges of one authorization code through two engines, tokens exactly once |
//! | [`run_device_store`] | every state and any payload bytes round-trip; insert-if-absent on key and on user code; both loads; compare-and-swap, never creating a record; 64 concurrent swaps of one version, exactly one wins; sweeping; 64 concurrent polls of one approved device code through two engines, tokens exactly once |
//! | [`run_replay_store`] | insert-if-absent until expiry; 64 concurrent inserts of one id, exactly one wins; sweeping |
//! | [`run_client_store`] | every field round-trips (any payload bytes, extreme times, Unicode ids); insert-if-absent; exact byte-wise ids; never swept; 64 concurrent registrations of one id across two instances, exactly one wins (not part of [`run_all`]: call it for a store that implements [`ClientStore`]) |
//!
//! The kit's own tests run each check against deliberately broken stores (one per contract)
//! and require the kit to reject every one of them, so no check can be weakened silently.
//!
//! What the engine assumes about lost answers (a write that committed but whose answer never
//! arrived): nothing beyond the contracts above. It answers [`Error::Store`](crate::Error::Store);
//! the client's retry reads what was committed, and the operation id in the revocation lets
//! the retry report what its earlier attempt did. So a store MUST NOT turn a failed answer
//! into a "not found" or a conflict, and MUST make a committed write visible to the next read.
//!
//! # Several instances
//!
//! A deployment runs several app servers, each with its own connection pool (or process),
//! over one storage, so every atomicity contract MUST hold **across instances**, not only
//! inside one store object: a swap made atomic by a lock inside the object passes any race
//! run on that one object, and accepts one refresh token twice as soon as two processes use
//! it. So every runner takes two factories: `make`, a fresh, empty store, and `other`,
//! **another instance over the same storage** as the store it is given (for a database, a
//! second pool on the same database or schema; for [`MemoryStore`](crate::MemoryStore),
//! whose clones share their state, a clone). Every race runs across the two: the two
//! engines each over its own instance, the racing tasks split between them, and
//! [`compare_and_swap_is_atomic_across_threads`] races raw swaps on OS threads (no task
//! yields between a read and a write there, so a swap that reads, compares and writes
//! without atomicity fails it on every run, `.await` in between or not).
//!
//! For SQL stores that means one conditional statement per swap (`UPDATE ... WHERE id = $1
//! AND version = $2`, rows affected 0 or 1) at READ COMMITTED, PostgreSQL's default (the
//! conditional `UPDATE` waits for a concurrent writer of the row and re-checks its `WHERE`
//! against the committed row); under REPEATABLE READ or SERIALIZABLE the same statement
//! fails with a serialization error under contention instead (an `Error::Store`), and a
//! `SELECT` then `UPDATE` without a condition is wrong at any level.
//!
//! ```no_run
//! # use token_engine::MemoryStore;
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_conforms() {
//!     use token_engine::store::conformance;
//!     // A fresh store, and a second instance over the same storage (here: a clone, which
//!     // shares MemoryStore's state; for a database, a second pool on the same database).
//!     let make = || async { MemoryStore::new() };
//!     let other = |s: &MemoryStore| {
//!         let s = s.clone();
//!         async move { s }
//!     };
//!     // A store implementing only `TokenStore`:
//!     conformance::run_token_store(make, other).await;
//!     // Or one implementing every group:
//!     conformance::run_all(make, other).await;
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

use super::{ClientStore, CodeStore, DeviceStore, FamilyRecord, ReplayStore, TokenStore};
use crate::family::{FamilyState, OperationId, RevocationReason, RevokedAccessToken, SecretHash};
use crate::opaque::FamilyId;
use crate::policy::PolicyVersion;

mod families;
mod groups;
mod races;

pub use families::{
    compare_and_swap, create_is_insert_if_absent, expiry, family_round_trip,
    list_and_revoke_by_subject, listing_and_revocation_are_not_capped, policy_versions,
    subjects_match_exactly,
};
pub use groups::{
    clients, clients_are_inserted_once, codes, codes_are_taken_once, device_records,
    device_records_swap_once, replay_ids, replay_ids_are_inserted_once,
};
pub use races::{
    compare_and_swap_is_atomic_across_threads, concurrent_code_exchange, concurrent_device_polls,
    concurrent_refresh_with_grace, concurrent_refresh_without_grace, no_usable_token_at_rest,
    revoke_subject_races_refresh,
};

/// Start of the kit's simulated time.
pub(crate) const T0: i64 = 1_800_000_000;
/// Tasks that refresh one token at once in the concurrency checks.
pub const CONCURRENT_TASKS: usize = 64;
/// Families of one subject in the checks for caps on listing and revocation.
pub const MANY_FAMILIES: usize = 300;

/// Two instances over one fresh, empty storage: the store `make` returns, and `other` over
/// the same storage.
async fn instances<S, F, Fut, G, GFut>(make: &F, other: &G) -> (Arc<S>, Arc<S>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    let a = make().await;
    let b = other(&a).await;
    (Arc::new(a), Arc::new(b))
}

/// Every check of [`TokenStore`], each on a fresh store from `make`; the races run across
/// two instances over the same storage, the second from `other` (see the module docs).
pub async fn run_token_store<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: TokenStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    family_round_trip(&make().await).await;
    create_is_insert_if_absent(&make().await).await;
    compare_and_swap(&make().await).await;
    list_and_revoke_by_subject(&make().await).await;
    subjects_match_exactly(&make().await).await;
    listing_and_revocation_are_not_capped(&make().await).await;
    policy_versions(&make().await).await;
    expiry(&make().await).await;
    let (a, b) = instances(&make, &other).await;
    compare_and_swap_is_atomic_across_threads(a, b).await;
    no_usable_token_at_rest(Arc::new(make().await)).await;
    let (a, b) = instances(&make, &other).await;
    concurrent_refresh_with_grace(a, b).await;
    let (a, b) = instances(&make, &other).await;
    concurrent_refresh_without_grace(a, b).await;
    let (a, b) = instances(&make, &other).await;
    revoke_subject_races_refresh(a, b).await;
}

/// Every check of [`CodeStore`] (races across `make`'s and `other`'s instances).
pub async fn run_code_store<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: CodeStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    codes(&make().await).await;
    let (a, b) = instances(&make, &other).await;
    codes_are_taken_once(a, b).await;
    let (a, b) = instances(&make, &other).await;
    concurrent_code_exchange(a, b).await;
}

/// Every check of [`DeviceStore`] (races across `make`'s and `other`'s instances).
pub async fn run_device_store<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: DeviceStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    device_records(&make().await).await;
    let (a, b) = instances(&make, &other).await;
    device_records_swap_once(a, b).await;
    let (a, b) = instances(&make, &other).await;
    concurrent_device_polls(a, b).await;
}

/// Every check of [`ReplayStore`] (races across `make`'s and `other`'s instances).
pub async fn run_replay_store<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: ReplayStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    replay_ids(&make().await).await;
    let (a, b) = instances(&make, &other).await;
    replay_ids_are_inserted_once(a, b).await;
}

/// Every check of [`ClientStore`] (the race across `make`'s and `other`'s instances).
pub async fn run_client_store<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: ClientStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    clients(&make().await).await;
    let (a, b) = instances(&make, &other).await;
    clients_are_inserted_once(a, b).await;
}

/// Every check of every group but [`ClientStore`]'s ([`run_client_store`]), for a store
/// that implements them all.
pub async fn run_all<S, F, Fut, G, GFut>(make: F, other: G)
where
    S: CodeStore + DeviceStore + ReplayStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    G: Fn(&S) -> GFut,
    GFut: Future<Output = S>,
{
    run_token_store(&make, &other).await;
    run_code_store(&make, &other).await;
    run_device_store(&make, &other).await;
    run_replay_store(&make, &other).await;
}

/// A record with every optional field set and no default value anywhere.
pub(crate) fn record(subject: &str, n: u8) -> FamilyRecord {
    FamilyRecord {
        id: FamilyId::from_bytes([n; 16]),
        subject: subject.into(),
        client_id: "client-\u{e9}".into(),
        scope: "read write".into(),
        tenant: Some("tenant-1".into()),
        device_id: Some("device-\"quoted\"\\".into()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        cert_thumbprint: Some("x5t-\u{1F512}".into()),
        claims: Some(r#"{"role":"admin","tenant_id":"org_987654321"}"#.into()),
        resources: Some("https://api.example.com/ urn:x-\u{e9}:mcp".into()),
        acr: Some("urn:mace:incommon:iap:silver".into()),
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
        access_only: false,
        revoked_access: vec![
            RevokedAccessToken {
                id: [0x11; 16],
                iat: T0 + 1,
                exp: T0 + 901,
            },
            RevokedAccessToken {
                id: [0x22; 16],
                iat: i64::MIN,
                exp: i64::MAX,
            },
        ]
        .into(),
        access_not_before: T0 - 1,
    }
}

/// `record` with every field except `id` and `subject` changed to another value (what a
/// compare-and-swap must persist in full).
pub(crate) fn every_field_changed(r: &FamilyRecord) -> FamilyRecord {
    FamilyRecord {
        id: r.id,
        subject: r.subject.clone(),
        client_id: format!("{}-other", r.client_id).into(),
        scope: format!("{} admin", r.scope).into(),
        tenant: None,
        device_id: Some("\u{1F4FA} living-room TV".into()),
        dpop_jkt: None,
        cert_thumbprint: Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".into()),
        claims: Some(r#"{"role":"viewer"}"#.into()),
        resources: Some("https://tools.example/mcp".into()),
        acr: None,
        auth_time: r.auth_time + 1,
        created_at: r.created_at + 2,
        absolute_expires_at: r.absolute_expires_at + 3,
        last_used_at: r.last_used_at + 4,
        policy: PolicyVersion::new(r.policy.major + 1, r.policy.minor + 1),
        generation: r.generation.wrapping_add(1),
        key_id: r.key_id.wrapping_add(1),
        current_secret_hash: SecretHash([0x5a; 32]),
        rotated_at: r.rotated_at + 5,
        state: FamilyState::Revoked {
            reason: RevocationReason::Administrative,
            at: r.rotated_at + 6,
            operation: OperationId([0xc3; 16]),
        },
        version: r.version.wrapping_add(1),
        access_only: !r.access_only,
        revoked_access: (0..crate::family::MAX_REVOKED_ACCESS_TOKENS)
            .map(|i| RevokedAccessToken {
                id: [u8::try_from(i).unwrap_or(0).wrapping_add(0x80); 16],
                iat: r.created_at + i64::try_from(i).unwrap_or(0),
                exp: r.absolute_expires_at - 1,
            })
            .collect(),
        access_not_before: r.access_not_before + 8,
    }
}

/// Load `id` and require it equal to `expected` through `load_family` and through
/// `list_families` of its subject.
pub(crate) async fn assert_stored<S: TokenStore>(store: &S, expected: &FamilyRecord, what: &str) {
    let loaded = store.load_family(&expected.id).await.unwrap();
    assert_eq!(
        loaded.as_ref(),
        Some(expected),
        "{what}: load_family must return every field as written"
    );
    let listed = store.list_families(&expected.subject).await.unwrap();
    let found: Vec<_> = listed.iter().filter(|f| f.id == expected.id).collect();
    assert_eq!(
        found,
        [expected],
        "{what}: list_families must return the family once, every field as written"
    );
}

//! The family, policy and sweeping contracts of [`TokenStore`], one write at a time.

use super::{MANY_FAMILIES, T0, assert_stored, every_field_changed, record};
use crate::family::{FamilyRecord, FamilyState, OperationId, RevocationReason};
use crate::opaque::FamilyId;
use crate::policy::PolicyVersion;
use crate::store::{CasOutcome, InsertOutcome, TokenStore};

async fn create<S: TokenStore>(store: &S, record: &FamilyRecord) {
    assert_eq!(
        store.create_family(record).await.unwrap(),
        InsertOutcome::Inserted,
        "create_family of a new id"
    );
}

fn id(n: u16, salt: u8) -> FamilyId {
    let mut b = [salt; 16];
    b[..2].copy_from_slice(&n.to_be_bytes());
    FamilyId::from_bytes(b)
}

/// Create and load round-trip every field, through both read methods, with extreme values:
/// `u64` versions past `i64::MAX`, `u32::MAX` generations, the whole `i64` range of times,
/// every revocation reason, absent and present optional fields, Unicode and quotes, empty
/// and listed revoked access tokens, access-only records.
pub async fn family_round_trip<S: TokenStore>(store: &S) {
    let active = record("alice", 1);
    create(store, &active).await;
    assert_stored(store, &active, "create (active)").await;

    let reasons = [
        RevocationReason::ReuseDetected,
        RevocationReason::PolicyChanged,
        RevocationReason::Logout,
        RevocationReason::SignOutEverywhere,
        RevocationReason::TokenRevoked,
        RevocationReason::Administrative,
        RevocationReason::IssueFailed,
        RevocationReason::CodeReplayed,
        RevocationReason::BindingMismatch,
    ];
    for (i, reason) in reasons.into_iter().enumerate() {
        let n = 2 + u8::try_from(i).unwrap();
        let mut r = record("alice", n);
        r.tenant = None;
        r.device_id = None;
        r.dpop_jkt = None;
        r.cert_thumbprint = None;
        r.claims = None;
        r.revoked_access = Box::default();
        r.access_not_before = 0;
        r.access_only = i % 2 == 0;
        r.resources = None;
        r.acr = None;
        // Expired long ago on any clock: listed and loaded all the same.
        r.absolute_expires_at = 1_000_000_000 + i64::from(n);
        r.state = FamilyState::Revoked {
            reason,
            at: T0 + i64::from(n),
            operation: OperationId([n; 16]),
        };
        create(store, &r).await;
        assert_stored(store, &r, "create (revoked, no optional field)").await;
    }

    let mut extreme = record("\u{1F600} \u{e9}e\u{301} \"q\" \\ ' %_", 20);
    extreme.version = u64::MAX;
    extreme.generation = u32::MAX;
    extreme.key_id = u8::MAX;
    extreme.auth_time = i64::MIN;
    extreme.created_at = i64::MIN + 1;
    extreme.last_used_at = -1;
    extreme.rotated_at = 0;
    extreme.absolute_expires_at = i64::MAX;
    extreme.policy = PolicyVersion::new(u32::MAX, u32::MAX);
    extreme.scope = "a".repeat(4096).into();
    extreme.access_not_before = i64::MAX;
    extreme.claims = Some(format!(r#"{{"k":"{}"}}"#, "\u{10FFFF}".repeat(64)).into());
    create(store, &extreme).await;
    assert_stored(store, &extreme, "create (extreme values)").await;

    let mut high_bit = record("alice", 21);
    high_bit.version = 1 << 63;
    high_bit.generation = 1 << 31;
    high_bit.state = FamilyState::Revoked {
        reason: RevocationReason::Logout,
        at: i64::MAX,
        operation: OperationId([0xff; 16]),
    };
    create(store, &high_bit).await;
    assert_stored(store, &high_bit, "create (high bits set)").await;

    assert_eq!(store.load_family(&id(999, 99)).await.unwrap(), None);
}

/// `create_family` is insert-if-absent: a second create with the same id changes nothing.
pub async fn create_is_insert_if_absent<S: TokenStore>(store: &S) {
    let first = record("bob", 1);
    create(store, &first).await;
    let mut clash = every_field_changed(&record("mallory", 1));
    clash.version = 0;
    assert_eq!(
        store.create_family(&clash).await.unwrap(),
        InsertOutcome::Exists,
        "create_family of an existing id"
    );
    assert_stored(store, &first, "after a refused create").await;
    assert!(
        store.list_families("mallory").await.unwrap().is_empty(),
        "a refused create lists nothing"
    );
}

/// Compare-and-swap swaps on the expected version only, persists every field, handles
/// versions past `i64::MAX` and the wrap to 0, and never creates a family.
pub async fn compare_and_swap<S: TokenStore>(store: &S) {
    let r = record("carol", 1);
    create(store, &r).await;
    let next = every_field_changed(&r);
    for wrong in [r.version + 1, r.version.wrapping_sub(1), 0, u64::MAX] {
        assert_eq!(
            store.compare_and_swap_family(wrong, &next).await.unwrap(),
            CasOutcome::Conflict,
            "compare_and_swap_family with a wrong version ({wrong})"
        );
    }
    assert_stored(store, &r, "after conflicting swaps").await;
    assert_eq!(
        store
            .compare_and_swap_family(r.version, &next)
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_stored(store, &next, "after a swap that changed every field").await;
    assert_eq!(
        store.compare_and_swap_family(r.version, &r).await.unwrap(),
        CasOutcome::Conflict,
        "the old version is gone for good"
    );
    // Back again, field by field: a store that keeps any old column fails here.
    let mut back = r.clone();
    back.version = next.version.wrapping_add(1);
    assert_eq!(
        store
            .compare_and_swap_family(next.version, &back)
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_stored(store, &back, "after a second swap").await;
    // The subject too: the engine never moves a family, but a swap writes every field.
    let mut moved = back.clone();
    moved.subject = "carol-moved".into();
    moved.version = back.version.wrapping_add(1);
    assert_eq!(
        store
            .compare_and_swap_family(back.version, &moved)
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_stored(store, &moved, "after a swap that changed the subject").await;
    assert!(
        store
            .list_families("carol")
            .await
            .unwrap()
            .iter()
            .all(|f| f.id != moved.id),
        "a family is listed under its new subject only"
    );

    // Versions with the high bit set, and the wrap from u64::MAX to 0.
    let mut high = record("carol", 2);
    high.version = u64::MAX - 1;
    create(store, &high).await;
    for _ in 0..3 {
        let mut n = high.clone();
        n.generation = n.generation.wrapping_add(1);
        n.version = high.version.wrapping_add(1);
        assert_eq!(
            store
                .compare_and_swap_family(high.version, &n)
                .await
                .unwrap(),
            CasOutcome::Swapped,
            "swap at version {}",
            high.version
        );
        assert_stored(store, &n, "after a swap near u64::MAX").await;
        high = n;
    }
    assert_eq!(high.version, 1);

    let ghost = record("carol", 77);
    assert_eq!(
        store
            .compare_and_swap_family(ghost.version, &ghost)
            .await
            .unwrap(),
        CasOutcome::Conflict,
        "a family that does not exist cannot be swapped into existence"
    );
    assert_eq!(store.load_family(&ghost.id).await.unwrap(), None);
}

fn revoked_by(
    r: &FamilyRecord,
    reason: RevocationReason,
    at: i64,
    op: OperationId,
) -> FamilyRecord {
    let mut r = r.clone();
    r.revoke(reason, at, op);
    r
}

/// Families are listed and revoked by subject: only that subject's, only the active ones,
/// each with exactly the revocation asked for, visible through both reads.
pub async fn list_and_revoke_by_subject<S: TokenStore>(store: &S) {
    let dave: Vec<_> = (1..=3).map(|n| record("dave", n)).collect();
    let erin = record("erin", 4);
    for r in dave.iter().chain([&erin]) {
        create(store, r).await;
    }
    let mut already = record("dave", 5);
    already.state = FamilyState::Revoked {
        reason: RevocationReason::Logout,
        at: T0,
        operation: OperationId([5; 16]),
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

    let op = OperationId([0x77; 16]);
    let n = store
        .revoke_subject("dave", RevocationReason::SignOutEverywhere, T0 + 100, op)
        .await
        .unwrap();
    assert_eq!(
        n, 3,
        "revoke_subject returns how many active families it revoked"
    );
    for r in &dave {
        let expected = revoked_by(r, RevocationReason::SignOutEverywhere, T0 + 100, op);
        assert_stored(store, &expected, "revoke_subject").await;
    }
    assert_stored(
        store,
        &already,
        "an already revoked family keeps its revocation",
    )
    .await;
    assert_stored(store, &erin, "another subject's family is untouched").await;
    assert_eq!(
        store
            .revoke_subject("dave", RevocationReason::Administrative, T0 + 200, op)
            .await
            .unwrap(),
        0,
        "nothing left to revoke"
    );
    assert_stored(store, &already, "a second revoke_subject changes nothing").await;
}

/// Subjects match byte for byte: neighbours that differ only in case, by a prefix or suffix,
/// by SQL `LIKE` or Redis glob wildcards, by whitespace, or by Unicode normalization are other
/// subjects, whichever order they are revoked in.
pub async fn subjects_match_exactly<S: TokenStore>(store: &S) {
    let subjects = [
        "user@example.com",
        "User@example.com",
        "USER@EXAMPLE.COM",
        "user@example.co",
        "user@example.com ",
        " user@example.com",
        "user@example.com.evil",
        "user_example.com",
        "user%",
        "user*",
        "user?example.com",
        "caf\u{e9}",
        "cafe\u{301}",
        "stra\u{df}e",
        "strasse",
        "\u{130}stanbul",
        "i\u{307}stanbul",
        "\u{fb01}le",
        "file",
        "",
    ];
    for (i, s) in subjects.iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        create(store, &record(s, 100 + i)).await;
        create(store, &record(s, 150 + i)).await;
    }
    for (i, s) in subjects.iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        let mut ids: Vec<_> = store
            .list_families(s)
            .await
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [100 + i, 150 + i].map(|n| FamilyId::from_bytes([n; 16])),
            "list_families({s:?}) must match the subject byte for byte"
        );
    }
    // Revoke each subject in turn; only its own two families change.
    let op = OperationId([0x42; 16]);
    for (i, s) in subjects.iter().enumerate() {
        let n = store
            .revoke_subject(s, RevocationReason::Administrative, T0 + 1, op)
            .await
            .unwrap();
        assert_eq!(
            n, 2,
            "revoke_subject({s:?}) must revoke exactly its two families"
        );
        for (j, other) in subjects.iter().enumerate() {
            let j = u8::try_from(j).unwrap();
            for k in [100 + j, 150 + j] {
                let f = store
                    .load_family(&FamilyId::from_bytes([k; 16]))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    f.is_active(),
                    usize::from(j) > i,
                    "after revoke_subject({s:?}), the family of {other:?}"
                );
            }
        }
    }
    // Once more in reverse order, on a new family per subject: a pattern (`user%`, a prefix)
    // matches neighbours listed before it, which the first pass had revoked already.
    for (i, s) in subjects.iter().enumerate() {
        create(store, &record(s, 200 + u8::try_from(i).unwrap())).await;
    }
    for (i, s) in subjects.iter().enumerate().rev() {
        let n = store
            .revoke_subject(s, RevocationReason::Administrative, T0 + 2, op)
            .await
            .unwrap();
        assert_eq!(
            n, 1,
            "revoke_subject({s:?}) must revoke exactly its new family"
        );
        for (j, other) in subjects.iter().enumerate() {
            let k = 200 + u8::try_from(j).unwrap();
            let f = store
                .load_family(&FamilyId::from_bytes([k; 16]))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                f.is_active(),
                j < i,
                "after revoke_subject({s:?}) (reverse order), the family of {other:?}"
            );
        }
    }
}

/// Listing and revocation reach every family of a subject: no cap, no page.
pub async fn listing_and_revocation_are_not_capped<S: TokenStore>(store: &S) {
    let n = u16::try_from(MANY_FAMILIES).unwrap();
    for i in 0..n {
        let mut r = record("frequent-flyer", 0);
        r.id = id(i, 1);
        create(store, &r).await;
    }
    let listed = store.list_families("frequent-flyer").await.unwrap();
    assert_eq!(
        listed.len(),
        MANY_FAMILIES,
        "list_families must return every family"
    );
    let revoked = store
        .revoke_subject(
            "frequent-flyer",
            RevocationReason::SignOutEverywhere,
            T0 + 9,
            OperationId([9; 16]),
        )
        .await
        .unwrap();
    assert_eq!(
        revoked, MANY_FAMILIES as u64,
        "revoke_subject must reach every family"
    );
    for i in 0..n {
        let f = store.load_family(&id(i, 1)).await.unwrap().unwrap();
        assert!(!f.is_active(), "family {i} of {MANY_FAMILIES} left active");
    }
}

/// Policy versions: per exact level (the global level is not the empty tenant), last write
/// wins, removal, extreme values.
pub async fn policy_versions<S: TokenStore>(store: &S) {
    let v = PolicyVersion::new;
    for level in [None, Some("acme"), Some("")] {
        assert_eq!(store.load_policy(level).await.unwrap(), None, "{level:?}");
    }
    store.save_policy(None, Some(v(4, 2))).await.unwrap();
    store
        .save_policy(Some("acme"), Some(v(5, 0)))
        .await
        .unwrap();
    store
        .save_policy(Some("ACME"), Some(v(u32::MAX, u32::MAX)))
        .await
        .unwrap();
    assert_eq!(store.load_policy(None).await.unwrap(), Some(v(4, 2)));
    assert_eq!(
        store.load_policy(Some("acme")).await.unwrap(),
        Some(v(5, 0))
    );
    assert_eq!(
        store.load_policy(Some("ACME")).await.unwrap(),
        Some(v(u32::MAX, u32::MAX)),
        "tenants match byte for byte"
    );
    assert_eq!(
        store.load_policy(Some("")).await.unwrap(),
        None,
        "the empty tenant is not the global level"
    );
    assert_eq!(store.load_policy(Some("acm")).await.unwrap(), None);
    store.save_policy(None, Some(v(3, 0))).await.unwrap();
    assert_eq!(
        store.load_policy(None).await.unwrap(),
        Some(v(3, 0)),
        "last write wins, also downwards"
    );
    store.save_policy(Some("acme"), None).await.unwrap();
    assert_eq!(store.load_policy(Some("acme")).await.unwrap(), None);
    assert_eq!(
        store.load_policy(Some("ACME")).await.unwrap(),
        Some(v(u32::MAX, u32::MAX)),
        "removing one tenant leaves the others"
    );
    assert_eq!(store.load_policy(None).await.unwrap(), Some(v(3, 0)));
}

/// `delete_expired` deletes families past their absolute expiry and nothing else: not a
/// live family, not a revoked one still inside its lifetime (retries and reuse reports read
/// it), not one expiring exactly at `now`... until after it.
pub async fn expiry<S: TokenStore>(store: &S) {
    let mut old = record("frank", 1);
    old.absolute_expires_at = T0 + 10;
    let live = record("frank", 2);
    let mut revoked = record("frank", 3);
    revoked.revoke(RevocationReason::ReuseDetected, T0, OperationId([3; 16]));
    create(store, &old).await;
    create(store, &live).await;
    create(store, &revoked).await;
    assert_eq!(
        store.delete_expired(T0 + 9).await.unwrap(),
        0,
        "nothing expired yet"
    );
    assert_stored(store, &old, "not yet expired").await;
    assert_eq!(store.delete_expired(T0 + 11).await.unwrap(), 1);
    assert_eq!(store.load_family(&old.id).await.unwrap(), None);
    assert_stored(store, &live, "a live family survives the sweep").await;
    assert_stored(
        store,
        &revoked,
        "a revoked family inside its lifetime survives",
    )
    .await;
    let mut ids: Vec<_> = store
        .list_families("frank")
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    ids.sort();
    assert_eq!(ids, [live.id, revoked.id]);
}

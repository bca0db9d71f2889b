//! The capability groups: one-time codes, device records, replay ids, registered clients.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::{CONCURRENT_TASKS, T0};
use crate::store::{
    CasOutcome, ClientRecord, ClientStore, CodeRecord, CodeStore, DeviceRecord, DeviceState,
    DeviceStore, InsertOutcome, ReplayStore,
};

fn code(k: u8, expires_at: i64) -> CodeRecord {
    CodeRecord {
        key: [k; 32],
        client_id: "client-\u{e9}".into(),
        expires_at,
        payload: vec![k, 0, 255, k],
    }
}

/// One-time codes: every field round-trips, insert-if-absent, a take removes, sweeping
/// deletes only expired codes.
pub async fn codes<S: CodeStore>(store: &S) {
    let a = code(1, T0 + 10);
    let b = code(2, T0 + 1000);
    let mut extreme = code(3, i64::MAX);
    extreme.payload = (0..=255).collect();
    for c in [&a, &b, &extreme] {
        assert_eq!(store.insert_code(c).await.unwrap(), InsertOutcome::Inserted);
    }
    let mut clash = code(1, T0 + 5000);
    clash.client_id = "mallory".into();
    assert_eq!(
        store.insert_code(&clash).await.unwrap(),
        InsertOutcome::Exists,
        "insert_code is insert-if-absent"
    );
    assert_eq!(
        store.take_code(&extreme.key).await.unwrap(),
        Some(extreme.clone()),
        "take_code returns every field"
    );
    assert_eq!(
        store.take_code(&extreme.key).await.unwrap(),
        None,
        "a taken code is gone"
    );
    assert_eq!(store.delete_expired(T0 + 9).await.unwrap(), 0);
    assert_eq!(store.delete_expired(T0 + 11).await.unwrap(), 1);
    assert_eq!(
        store.take_code(&a.key).await.unwrap(),
        None,
        "expired code swept"
    );
    assert_eq!(
        store.take_code(&b.key).await.unwrap(),
        Some(b),
        "a live code survives the sweep, unchanged by the refused insert"
    );
}

/// Of many concurrent takes of one code, half on each of two instances, exactly one wins.
pub async fn codes_are_taken_once<S: CodeStore + 'static>(a: Arc<S>, b: Arc<S>) {
    let c = code(7, T0 + 60);
    assert_eq!(a.insert_code(&c).await.unwrap(), InsertOutcome::Inserted);
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let barrier = Arc::clone(&barrier);
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
    assert_eq!(won, [c], "exactly one take returns the code");
}

/// Device records: every field round-trips through both loads, insert-if-absent on key and
/// on user code, compare-and-swap on the version only, sweeping.
pub async fn device_records<S: DeviceStore>(store: &S) {
    let rec = DeviceRecord {
        key: [3; 32],
        user_code: "WDJB-MJHT".into(),
        client_id: "tv".into(),
        expires_at: T0 + 600,
        last_polled_at: i64::MIN,
        state: DeviceState::Pending,
        payload: vec![1, 2, 3],
        version: u64::MAX,
    };
    assert_eq!(
        store.insert_device(&rec).await.unwrap(),
        InsertOutcome::Inserted
    );
    let mut same_user_code = rec.clone();
    same_user_code.key = [4; 32];
    assert_eq!(
        store.insert_device(&same_user_code).await.unwrap(),
        InsertOutcome::Exists,
        "user codes are unique"
    );
    let mut same_key = rec.clone();
    same_key.user_code = "BCDF-GHJK".into();
    assert_eq!(
        store.insert_device(&same_key).await.unwrap(),
        InsertOutcome::Exists,
        "insert_device is insert-if-absent"
    );
    assert_eq!(store.load_device(&[4; 32]).await.unwrap(), None);
    assert_eq!(
        store.load_device_by_user_code("BCDF-GHJK").await.unwrap(),
        None
    );
    assert_eq!(
        store.load_device_by_user_code("wdjb-mjht").await.unwrap(),
        None,
        "user codes match exactly (the engine normalizes them)"
    );
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
    approved.last_polled_at = T0 + 5;
    approved.payload = vec![9; 300];
    approved.version = 0;
    assert_eq!(
        store.compare_and_swap_device(0, &approved).await.unwrap(),
        CasOutcome::Conflict
    );
    assert_eq!(
        store
            .compare_and_swap_device(u64::MAX, &approved)
            .await
            .unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        Some(&approved)
    );
    assert_eq!(
        store
            .load_device_by_user_code("WDJB-MJHT")
            .await
            .unwrap()
            .as_ref(),
        Some(&approved)
    );
    assert_eq!(
        store
            .compare_and_swap_device(u64::MAX, &approved)
            .await
            .unwrap(),
        CasOutcome::Conflict
    );
    // Every state and any payload bytes: a consumed record must never read back approved.
    let mut consumed = approved.clone();
    consumed.state = DeviceState::Consumed;
    consumed.payload = vec![0xff, 0xfe, 0, 0x80];
    consumed.version = 1;
    assert_eq!(
        store.compare_and_swap_device(0, &consumed).await.unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        Some(&consumed)
    );
    assert_eq!(
        store
            .load_device_by_user_code("WDJB-MJHT")
            .await
            .unwrap()
            .as_ref(),
        Some(&consumed)
    );
    let mut ghost = rec.clone();
    ghost.key = [6; 32];
    ghost.user_code = "GHST-GHST".into();
    assert_eq!(
        store
            .compare_and_swap_device(ghost.version, &ghost)
            .await
            .unwrap(),
        CasOutcome::Conflict,
        "a device record that does not exist cannot be swapped into existence"
    );
    assert_eq!(store.load_device(&ghost.key).await.unwrap(), None);
    assert_eq!(
        store.load_device_by_user_code("GHST-GHST").await.unwrap(),
        None
    );
    let mut other = rec.clone();
    other.key = [5; 32];
    other.user_code = "ZZZZ-ZZZZ".into();
    other.expires_at = T0 + 10;
    other.state = DeviceState::Denied;
    assert_eq!(
        store.insert_device(&other).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.load_device(&other.key).await.unwrap().as_ref(),
        Some(&other)
    );
    assert_eq!(store.delete_expired(T0 + 9).await.unwrap(), 0);
    assert_eq!(store.delete_expired(T0 + 11).await.unwrap(), 1);
    assert_eq!(store.load_device(&other.key).await.unwrap(), None);
    assert_eq!(
        store.load_device_by_user_code("ZZZZ-ZZZZ").await.unwrap(),
        None
    );
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        Some(&consumed)
    );
}

/// Of many concurrent swaps of one device record on one version, half on each of two
/// instances, exactly one wins (two pollers must not both turn an approval into tokens).
pub async fn device_records_swap_once<S: DeviceStore + 'static>(a: Arc<S>, b: Arc<S>) {
    let store = a;
    let rec = DeviceRecord {
        key: [7; 32],
        user_code: "RACE-RACE".into(),
        client_id: "tv".into(),
        expires_at: T0 + 600,
        last_polled_at: T0,
        state: DeviceState::Approved,
        payload: vec![],
        version: 3,
    };
    assert_eq!(
        store.insert_device(&rec).await.unwrap(),
        InsertOutcome::Inserted
    );
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let instance = Arc::clone(if i % 2 == 0 { &store } else { &b });
            let (barrier, rec) = (Arc::clone(&barrier), rec.clone());
            tokio::spawn(async move {
                let mut next = rec;
                next.state = DeviceState::Consumed;
                next.payload = u32::try_from(i).unwrap().to_be_bytes().to_vec();
                next.version = 4;
                barrier.wait().await;
                let won = instance.compare_and_swap_device(3, &next).await.unwrap();
                (won == CasOutcome::Swapped).then_some(next)
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        won.extend(t.await.unwrap());
    }
    assert_eq!(won.len(), 1, "exactly one swap on a version wins");
    assert_eq!(
        store.load_device(&rec.key).await.unwrap().as_ref(),
        won.first(),
        "the winner's record is stored"
    );
}

/// Of many concurrent inserts of one replay id, half on each of two instances, exactly one
/// is `Inserted`.
pub async fn replay_ids_are_inserted_once<S: ReplayStore + 'static>(a: Arc<S>, b: Arc<S>) {
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_replay_id(&[6; 32], T0 + 60, T0).await.unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    for t in tasks {
        if t.await.unwrap() == InsertOutcome::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1, "exactly one insert of a replay id wins");
}

/// Replay ids: insert-if-absent until they expire; sweeping.
pub async fn replay_ids<S: ReplayStore>(store: &S) {
    assert_eq!(
        store.insert_replay_id(&[9; 32], T0 + 60, T0).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 60, T0 + 59)
            .await
            .unwrap(),
        InsertOutcome::Exists,
        "a replay id is remembered until it expires"
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
        InsertOutcome::Inserted,
        "an expired replay id may be used again"
    );
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 200, T0 + 100)
            .await
            .unwrap(),
        InsertOutcome::Exists
    );
    assert_eq!(
        store.insert_replay_id(&[7; 32], T0 + 10, T0).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.delete_expired(T0 + 11).await.unwrap(), 1);
    assert_eq!(
        store
            .insert_replay_id(&[9; 32], T0 + 200, T0 + 150)
            .await
            .unwrap(),
        InsertOutcome::Exists,
        "a live replay id survives the sweep"
    );
}

fn registered(id: &str, payload: Vec<u8>) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        issued_at: T0,
        payload,
    }
}

/// Registered clients: every field round-trips (any payload bytes, extreme times, Unicode
/// ids), insert-if-absent, exact byte-wise ids, never swept.
pub async fn clients<S: ClientStore>(store: &S) {
    let a = registered("dyn_Client-\u{e9}", (0..=255).collect());
    let mut b = registered("dyn_client-\u{e9}", vec![0, 0xff, 0xfe, b'{']);
    b.issued_at = i64::MAX;
    let mut c = registered("dyn_Client-e\u{301}", b"{}".to_vec());
    c.issued_at = i64::MIN;
    for r in [&a, &b, &c] {
        assert_eq!(
            store.insert_client(r).await.unwrap(),
            InsertOutcome::Inserted,
            "ids differing in case or normalization are different clients"
        );
    }
    let clash = registered(&a.client_id, b"other".to_vec());
    assert_eq!(
        store.insert_client(&clash).await.unwrap(),
        InsertOutcome::Exists,
        "insert_client is insert-if-absent"
    );
    for r in [&a, &b, &c] {
        assert_eq!(
            store.load_client(&r.client_id).await.unwrap().as_ref(),
            Some(r),
            "load_client returns every field as inserted, nothing overwritten"
        );
    }
    for missing in [
        "dyn_CLIENT-\u{e9}",
        "dyn_Client-",
        "dyn_Client-\u{e9} ",
        "",
        "%",
    ] {
        assert_eq!(
            store.load_client(missing).await.unwrap(),
            None,
            "load_client matches the id exactly: {missing:?}"
        );
    }
    let _ = store.delete_expired(i64::MAX).await.unwrap();
    assert_eq!(
        store.load_client(&b.client_id).await.unwrap().as_ref(),
        Some(&b),
        "registrations are never swept"
    );
}

/// 64 concurrent registrations of one client id across two instances: exactly one wins, and
/// the stored record is the winner's.
pub async fn clients_are_inserted_once<S: ClientStore + 'static>(a: Arc<S>, b: Arc<S>) {
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let record = registered("dyn_raced", vec![u8::try_from(i).unwrap()]);
                barrier.wait().await;
                let outcome = store.insert_client(&record).await.unwrap();
                (outcome, record)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (outcome, record) = t.await.unwrap();
        if outcome == InsertOutcome::Inserted {
            winners.push(record);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one registration of an id wins");
    for store in [&a, &b] {
        assert_eq!(
            store.load_client("dyn_raced").await.unwrap().as_ref(),
            winners.first(),
            "the stored client is the winner's"
        );
    }
}

//! Every branch of [`decide`], with time from a [`ManualClock`]; property tests of the
//! family invariants over random operation sequences against `decide` + `MemoryStore`.

use proptest::prelude::*;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::store::MemoryStore;

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn keys() -> RefreshKeys {
    RefreshKeys::new(RefreshSecret::from_bytes(&[42; 32]).unwrap())
}

use crate::opaque::RefreshSecret;

fn cfg(keys: &RefreshKeys, grace: i64) -> DecideConfig<'_> {
    DecideConfig {
        keys,
        client_id: "app",
        policy: PolicyVersion::new(4, 2),
        reuse_grace_secs: grace,
        idle_ttl_secs: 7 * DAY,
    }
}

fn spec() -> FamilySpec<'static> {
    FamilySpec {
        subject: "user123456",
        client_id: "app",
        scope: "read write",
        tenant: Some("org_987654321"),
        device_id: Some("device_abcdef123456"),
        dpop_jkt: None,
        claims: Some(r#"{"role":"admin"}"#.to_owned()),
        auth_time: T0 - 10,
        policy: PolicyVersion::new(4, 2),
        absolute_ttl_secs: 30 * DAY,
    }
}

/// A family created at the clock's time, its record and generation-0 token.
fn start(keys: &RefreshKeys, clock: &ManualClock) -> (FamilyRecord, RefreshToken) {
    let f = new_family(keys, &spec(), clock.now_unix()).unwrap();
    (f.record, f.token)
}

fn present(keys: &RefreshKeys, t: &RefreshToken) -> PresentedToken {
    keys.parse(t.expose_secret()).unwrap()
}

/// Rotate once; returns the stored record and the successor.
fn rotated(
    keys: &RefreshKeys,
    record: &FamilyRecord,
    t: &RefreshToken,
    now: i64,
    grace: i64,
) -> (FamilyRecord, RefreshToken) {
    match decide(record, &present(keys, t), now, &cfg(keys, grace)) {
        Decision::Rotate { record, token, .. } => (record, token),
        other => panic!("expected a rotation, got {other:?}"),
    }
}

#[test]
fn current_generation_rotates() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    clock.advance(time::Duration::minutes(10));
    let now = clock.now_unix();
    let Decision::Rotate {
        record,
        token,
        policy_upgraded,
    } = decide(&rec, &present(&keys, &t0), now, &cfg(&keys, 0))
    else {
        panic!()
    };
    assert!(!policy_upgraded);
    assert_eq!(record.generation, 1);
    assert_eq!((record.rotated_at, record.last_used_at), (now, now));
    assert_eq!(record.version, rec.version + 1);
    assert_eq!(record.absolute_expires_at, rec.absolute_expires_at);
    let p = present(&keys, &token);
    assert_eq!((p.family, p.generation), (rec.id, 1));
    assert_eq!(record.current_secret_hash.0, hash_secret(&p.secret));
    // The successor is deterministic: deciding again yields the same token.
    let Decision::Rotate { token: again, .. } =
        decide(&rec, &present(&keys, &t0), now, &cfg(&keys, 0))
    else {
        panic!()
    };
    assert_eq!(again, token);
}

#[test]
fn previous_generation_within_grace_gets_the_same_successor() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let (rec1, t1) = rotated(&keys, &rec, &t0, clock.now_unix(), 10);
    clock.advance(time::Duration::seconds(10));
    match decide(
        &rec1,
        &present(&keys, &t0),
        clock.now_unix(),
        &cfg(&keys, 10),
    ) {
        Decision::GraceRetry { token } => assert_eq!(token, t1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn previous_generation_after_grace_is_reuse() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let (rec1, _) = rotated(&keys, &rec, &t0, clock.now_unix(), 10);
    clock.advance(time::Duration::seconds(11));
    match decide(
        &rec1,
        &present(&keys, &t0),
        clock.now_unix(),
        &cfg(&keys, 10),
    ) {
        Decision::Revoke { record, reason } => {
            assert_eq!(reason, RevocationReason::ReuseDetected);
            assert_eq!(
                record.state,
                FamilyState::Revoked {
                    reason,
                    at: clock.now_unix()
                }
            );
            assert_eq!(record.version, rec1.version + 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn previous_generation_without_grace_is_reuse() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let (rec1, _) = rotated(&keys, &rec, &t0, clock.now_unix(), 0);
    let d = decide(
        &rec1,
        &present(&keys, &t0),
        clock.now_unix(),
        &cfg(&keys, 0),
    );
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn older_generations_are_reuse_even_within_grace() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let (rec1, t1) = rotated(&keys, &rec, &t0, clock.now_unix(), 60);
    let (rec2, _) = rotated(&keys, &rec1, &t1, clock.now_unix(), 60);
    let d = decide(
        &rec2,
        &present(&keys, &t0),
        clock.now_unix(),
        &cfg(&keys, 60),
    );
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn revoked_and_expired_families_reject_without_writes() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let mut revoked = rec.clone();
    revoked.revoke(RevocationReason::Logout, T0);
    assert!(matches!(
        decide(&revoked, &present(&keys, &t0), T0 + 1, &cfg(&keys, 0)),
        Decision::Reject(GrantError::Revoked)
    ));
    // Idle: the 7-day window slides from the last use.
    clock.advance(time::Duration::days(7) - time::Duration::seconds(1));
    let (rec1, t1) = rotated(&keys, &rec, &t0, clock.now_unix(), 0);
    clock.advance(time::Duration::days(7));
    let d = decide(
        &rec1,
        &present(&keys, &t1),
        clock.now_unix(),
        &cfg(&keys, 0),
    );
    assert!(
        matches!(d, Decision::Reject(GrantError::IdleExpired)),
        "{d:?}"
    );
    // Absolute: never slides, however recent the last use.
    let mut busy = rec1.clone();
    busy.last_used_at = rec.absolute_expires_at - 1;
    let d = decide(
        &busy,
        &present(&keys, &t1),
        rec.absolute_expires_at,
        &cfg(&keys, 0),
    );
    assert!(
        matches!(d, Decision::Reject(GrantError::AbsoluteExpired)),
        "{d:?}"
    );
    let d = decide(
        &busy,
        &present(&keys, &t1),
        rec.absolute_expires_at - 1,
        &cfg(&keys, 0),
    );
    assert!(
        matches!(d, Decision::Rotate { ref record, .. } if record.absolute_expires_at == rec.absolute_expires_at),
        "{d:?}"
    );
}

#[test]
fn policy_major_bump_revokes_and_minor_bump_upgrades() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let mut major = cfg(&keys, 0);
    major.policy = PolicyVersion::new(5, 0);
    let d = decide(&rec, &present(&keys, &t0), T0 + 1, &major);
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::PolicyChanged,
                ..
            }
        ),
        "{d:?}"
    );
    let mut minor = cfg(&keys, 0);
    minor.policy = PolicyVersion::new(4, 7);
    match decide(&rec, &present(&keys, &t0), T0 + 1, &minor) {
        Decision::Rotate {
            record,
            policy_upgraded,
            ..
        } => {
            assert!(policy_upgraded);
            assert_eq!(record.policy, PolicyVersion::new(4, 7));
        }
        other => panic!("{other:?}"),
    }
    // A grace retry after a major bump does not hand out tokens either.
    let (rec1, _) = rotated(&keys, &rec, &t0, T0 + 1, 30);
    let mut major_grace = cfg(&keys, 30);
    major_grace.policy = PolicyVersion::new(5, 0);
    let d = decide(&rec1, &present(&keys, &t0), T0 + 2, &major_grace);
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::PolicyChanged,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn generation_ahead_is_an_anomaly_without_writes() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, _) = start(&keys, &clock);
    let ahead = keys.mint(0, rec.id, 5, &[1; 32]).unwrap();
    let d = decide(&rec, &present(&keys, &ahead), T0, &cfg(&keys, 0));
    assert!(
        matches!(d, Decision::Reject(GrantError::GenerationAhead)),
        "{d:?}"
    );
}

#[test]
fn another_client_or_a_forked_secret_revokes() {
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, t0) = start(&keys, &clock);
    let mut other = cfg(&keys, 0);
    other.client_id = "other-app";
    let d = decide(&rec, &present(&keys, &t0), T0, &other);
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ),
        "{d:?}"
    );
    // A genuine tag over a secret that is not the current one.
    let fork = keys.mint(0, rec.id, 0, &[9; 32]).unwrap();
    let d = decide(&rec, &present(&keys, &fork), T0, &cfg(&keys, 0));
    assert!(
        matches!(
            d,
            Decision::Revoke {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ),
        "{d:?}"
    );
    // A token of another family never matches this record.
    let (other_rec, _) = start(&keys, &clock);
    let d = decide(&other_rec, &present(&keys, &t0), T0, &cfg(&keys, 0));
    assert!(
        matches!(d, Decision::Reject(GrantError::UnknownFamily)),
        "{d:?}"
    );
}

#[test]
fn a_bad_tag_never_reaches_decide() {
    // The row "bad tag / unknown key id" of the table is enforced by the type: a
    // `PresentedToken` only comes out of `RefreshKeys::parse`, which checks the tag.
    let (keys, clock) = (keys(), ManualClock::new(T0));
    let (rec, _) = start(&keys, &clock);
    let forged = RefreshKeys::new(RefreshSecret::from_bytes(&[1; 32]).unwrap())
        .mint(0, rec.id, 0, &[0; 32])
        .unwrap();
    assert_eq!(
        keys.parse(forged.expose_secret()).unwrap_err(),
        GrantError::InvalidTag
    );
}

#[test]
fn secret_rotation_moves_families_to_the_new_key() {
    let old = keys();
    let clock = ManualClock::new(T0);
    let (rec, t0) = start(&old, &clock);
    let rotated_keys = RefreshKeys::new(RefreshSecret::from_bytes(&[43; 32]).unwrap().with_id(1))
        .with_retiring(RefreshSecret::from_bytes(&[42; 32]).unwrap())
        .unwrap();
    let (rec1, t1) = rotated(&rotated_keys, &rec, &t0, T0 + 1, 30);
    assert_eq!(rec1.key_id, 1);
    assert_eq!(present(&rotated_keys, &t1).key_id, 1);
    // A grace retry re-derives under the key the current generation was minted with.
    match decide(
        &rec1,
        &present(&rotated_keys, &t0),
        T0 + 2,
        &cfg(&rotated_keys, 30),
    ) {
        Decision::GraceRetry { token } => assert_eq!(token, t1),
        other => panic!("{other:?}"),
    }
    let retired = RefreshKeys::new(RefreshSecret::from_bytes(&[43; 32]).unwrap().with_id(1));
    assert!(retired.parse(t0.expose_secret()).is_err());
    assert!(retired.parse(t1.expose_secret()).is_ok());
}

// ---- property tests -------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// Refresh with the newest token we hold.
    Refresh,
    /// Present an older token: `back` generations behind the newest.
    Replay { back: usize },
    /// Revoke every family of the subject.
    Revoke,
    /// Move the clock.
    Advance { secs: i64 },
    /// Raise the policy version.
    Bump { major: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Refresh),
        3 => (1usize..4).prop_map(|back| Op::Replay { back }),
        1 => Just(Op::Revoke),
        3 => prop_oneof![0i64..20, 0i64..(3 * DAY), 0i64..(10 * DAY)].prop_map(|secs| Op::Advance { secs }),
        1 => any::<bool>().prop_map(|major| Op::Bump { major }),
    ]
}

fn block_on<F: core::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn family_invariants_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..60), grace in prop_oneof![Just(0i64), Just(10i64)]) {
        let keys = keys();
        let clock = ManualClock::new(T0);
        let store = MemoryStore::new();
        let fam = new_family(&keys, &spec(), clock.now_unix()).unwrap();
        let id = fam.record.id;
        let absolute = fam.record.absolute_expires_at;
        let initial_size = serde_json::to_vec(&fam.record).unwrap().len();
        assert_eq!(block_on(store.create_family(&fam.record)).unwrap(), crate::store::InsertOutcome::Inserted);
        let mut tokens = vec![fam.token.expose_secret().to_owned()];
        let mut policy = PolicyVersion::new(4, 2);
        let mut dead = false; // revoked (any reason) or expired: nothing may succeed again

        for op in ops {
            let now = clock.now_unix();
            let before = block_on(store.load_family(&id)).unwrap().unwrap();
            let mut config = cfg(&keys, grace);
            config.policy = policy;
            let presented_index = match op {
                Op::Refresh => Some(tokens.len() - 1),
                Op::Replay { back } => tokens.len().checked_sub(1 + back),
                Op::Revoke => {
                    block_on(store.revoke_subject("user123456", RevocationReason::SignOutEverywhere, now)).unwrap();
                    dead = true;
                    None
                }
                Op::Advance { secs } => {
                    clock.advance(time::Duration::seconds(secs));
                    None
                }
                Op::Bump { major } => {
                    policy = if major { PolicyVersion::new(policy.major + 1, 0) } else { PolicyVersion::new(policy.major, policy.minor + 1) };
                    None
                }
            };
            if let Some(i) = presented_index {
                let presented = keys.parse(&tokens[i]).unwrap();
                let result = block_on(refresh_family(&store, &presented, now, &config, |_| policy, |_| Ok(())));
                let newest = tokens.len() - 1;
                match &result {
                    Ok(Refreshed::Rotated { token, record, .. }) => {
                        prop_assert!(!dead, "a dead family rotated");
                        prop_assert_eq!(i, newest, "only the newest token rotates");
                        prop_assert_eq!(record.generation, before.generation + 1);
                        tokens.push(token.expose_secret().to_owned());
                    }
                    Ok(Refreshed::GraceRetry { token, .. }) => {
                        prop_assert!(!dead);
                        prop_assert!(grace > 0);
                        prop_assert_eq!(i + 1, newest, "only current-minus-one retries");
                        prop_assert!(token.expose_secret() == tokens[newest], "a retry returns the existing successor");
                    }
                    Err(RefreshFailure::Revoked(r)) => {
                        prop_assert!(r.reason == RevocationReason::ReuseDetected || r.reason == RevocationReason::PolicyChanged);
                        dead = true;
                    }
                    Err(RefreshFailure::Rejected(e, _)) => {
                        if matches!(e, GrantError::IdleExpired | GrantError::AbsoluteExpired | GrantError::Revoked) {
                            dead = true;
                        }
                    }
                    Err(RefreshFailure::Store(e) | RefreshFailure::Request(e)) => prop_assert!(false, "unexpected {e}"),
                }
                if i + 1 < newest {
                    prop_assert!(result.is_err(), "a token older than current-minus-one succeeded");
                }
            }
            let after = block_on(store.load_family(&id)).unwrap().unwrap();
            // Invariants after every step.
            prop_assert_eq!(after.absolute_expires_at, absolute, "the absolute expiry moved");
            prop_assert_eq!(store.family_count(), 1);
            // Bounded by the state variant and wider numbers, never by the number of rotations.
            prop_assert!(serde_json::to_vec(&after).unwrap().len() <= initial_size + 96, "the record grew");
            if dead {
                for t in &tokens {
                    let p = keys.parse(t).unwrap();
                    let d = decide(&after, &p, clock.now_unix(), &config);
                    prop_assert!(matches!(d, Decision::Reject(_) | Decision::Revoke { .. }), "a token of a dead family is still good: {:?}", d);
                }
            }
            // At most one live generation: of all tokens ever issued, at most one rotates.
            let live = tokens
                .iter()
                .filter(|t| {
                    let p = keys.parse(t).unwrap();
                    matches!(decide(&after, &p, clock.now_unix(), &config), Decision::Rotate { .. })
                })
                .count();
            prop_assert!(live <= 1, "{} live generations", live);
        }
    }
}

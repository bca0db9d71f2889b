//! Every branch of [`decide`], with time from a [`ManualClock`]. (The property test of the
//! family invariants through the store loop is in the engine layer: `engine/tests.rs`.)

use super::*;
use crate::clock::{Clock, ManualClock};

pub(crate) const T0: i64 = 1_800_000_000;
pub(crate) const DAY: i64 = 86_400;
const DEVICE: &str = "device_abcdef123456";

/// The test refresh secret (shared with the engine's property test).
pub(crate) fn keys() -> RefreshKeys {
    RefreshKeys::new(RefreshSecret::from_bytes(&[42; 32]).unwrap())
}

use crate::opaque::RefreshSecret;

/// Client `app`, policy 4.2, idle 7 days, this grace.
pub(crate) fn cfg(keys: &RefreshKeys, grace: i64) -> DecideConfig<'_> {
    DecideConfig {
        keys,
        client_id: "app",
        policy: PolicyVersion::new(4, 2),
        reuse_grace_secs: grace,
        idle_ttl_secs: 7 * DAY,
        // The test family is bound to this device (and to nothing else).
        holder: Holder {
            device_id: Some(DEVICE),
            ..Holder::default()
        },
    }
}

fn spec() -> FamilySpec<'static> {
    FamilySpec {
        subject: "user123456",
        client_id: "app",
        scope: "read write",
        tenant: Some("org_987654321"),
        device_id: Some(DEVICE),
        dpop_jkt: None,
        cert_thumbprint: None,
        claims: Some(r#"{"role":"admin"}"#.to_owned()),
        resources: None,
        acr: None,
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
        Decision::Rotate {
            rotation, token, ..
        } => (rotation.applied(record), token),
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
        rotation,
        token,
        policy_upgraded,
    } = decide(&rec, &present(&keys, &t0), now, &cfg(&keys, 0))
    else {
        panic!()
    };
    let record = rotation.applied(&rec);
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
                    at: clock.now_unix(),
                    operation: OperationId::of_refresh(&present(&keys, &t0), &cfg(&keys, 10)),
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
    revoked.revoke(RevocationReason::Logout, T0, OperationId::default());
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
        matches!(d, Decision::Rotate { ref rotation, .. } if rotation.applied(&busy).absolute_expires_at == rec.absolute_expires_at),
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
            rotation,
            policy_upgraded,
            ..
        } => {
            assert!(policy_upgraded);
            assert_eq!(rotation.applied(&rec).policy, PolicyVersion::new(4, 7));
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

#[test]
fn a_bound_family_revokes_for_a_presenter_without_its_binding() {
    let keys = keys();
    let clock = ManualClock::new(T0);
    let mut fam = new_family(&keys, &spec(), clock.now_unix()).unwrap();
    fam.record.dpop_jkt = Some("jkt-A".into());
    fam.record.cert_thumbprint = Some("cert-A".into());
    let p = present(&keys, &fam.token);
    let good = Holder {
        dpop_jkt: Some("jkt-A"),
        device_id: Some(DEVICE),
        cert_thumbprint: Some("cert-A"),
    };
    let with = |holder: Holder<'static>| DecideConfig {
        holder,
        ..cfg(&keys, 10)
    };
    assert!(matches!(
        decide(&fam.record, &p, T0, &with(good)),
        Decision::Rotate { .. }
    ));
    for bad in [
        Holder {
            dpop_jkt: Some("jkt-B"),
            ..good
        },
        Holder {
            dpop_jkt: None,
            ..good
        },
        Holder {
            device_id: Some("other-device"),
            ..good
        },
        Holder {
            device_id: None,
            ..good
        },
        Holder {
            cert_thumbprint: Some("cert-B"),
            ..good
        },
        Holder {
            cert_thumbprint: None,
            ..good
        },
        Holder {
            dpop_jkt: Some("jkt-A-longer"),
            ..good
        },
    ] {
        match decide(&fam.record, &p, T0, &with(bad)) {
            Decision::Revoke { reason, .. } => {
                assert_eq!(reason, RevocationReason::BindingMismatch, "{bad:?}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // An unbound family accepts any holder.
    let free = new_family(
        &keys,
        &FamilySpec {
            device_id: None,
            ..spec()
        },
        T0,
    )
    .unwrap();
    assert!(matches!(
        decide(
            &free.record,
            &present(&keys, &free.token),
            T0,
            &with(Holder::default())
        ),
        Decision::Rotate { .. }
    ));
}

#[test]
fn revocation_reason_names_are_pinned_and_equal_to_their_serde_names() {
    // These strings are in stores' rows: changing one breaks every stored revocation.
    let pinned = [
        (RevocationReason::ReuseDetected, "ReuseDetected"),
        (RevocationReason::PolicyChanged, "PolicyChanged"),
        (RevocationReason::Logout, "Logout"),
        (RevocationReason::SignOutEverywhere, "SignOutEverywhere"),
        (RevocationReason::TokenRevoked, "TokenRevoked"),
        (RevocationReason::Administrative, "Administrative"),
        (RevocationReason::IssueFailed, "IssueFailed"),
        (RevocationReason::CodeReplayed, "CodeReplayed"),
        (RevocationReason::BindingMismatch, "BindingMismatch"),
    ];
    assert_eq!(
        RevocationReason::ALL.to_vec(),
        pinned.iter().map(|(r, _)| *r).collect::<Vec<_>>()
    );
    for (reason, name) in pinned {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.to_string(), name);
        assert_eq!(RevocationReason::parse(name), Some(reason));
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::Value::String(name.to_owned())
        );
        assert_eq!(
            serde_json::from_value::<RevocationReason>(name.into()).unwrap(),
            reason
        );
        assert!(name.len() <= 32 && name.is_ascii());
        assert_eq!(RevocationReason::parse(&name.to_lowercase()), None);
    }
    assert_eq!(RevocationReason::parse(""), None);
    assert_eq!(RevocationReason::parse("Stolen"), None);
}

//! Property test of the family invariants over random operation sequences, through the
//! engine's refresh loop (load → `decide` → compare-and-swap) over a `MemoryStore`.

use proptest::prelude::*;

use super::refresh::{RefreshFailure, Refreshed, refresh_loop};
use crate::clock::{Clock, ManualClock};
use crate::error::GrantError;
use crate::family::tests::{DAY, T0, cfg, keys};
use crate::family::{
    Decision, FamilyRecord, FamilySpec, OperationId, RevocationReason, decide, new_family,
};
use crate::policy::PolicyVersion;
use crate::store::{MemoryStore, TokenStore};

fn spec() -> FamilySpec<'static> {
    FamilySpec {
        subject: "user123456",
        client_id: "app",
        scope: "read",
        tenant: None,
        device_id: None,
        dpop_jkt: None,
        cert_thumbprint: None,
        claims: None,
        resources: None,
        acr: None,
        auth_time: T0,
        policy: PolicyVersion::new(4, 2),
        absolute_ttl_secs: 30 * DAY,
    }
}

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
                    block_on(store.revoke_subject("user123456", RevocationReason::SignOutEverywhere, now, OperationId::default())).unwrap();
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
                let result = block_on(refresh_loop(&store, &clock, &policy, &presented, &config, |_| Ok(()), |r| r.map_record(FamilyRecord::clone)));
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
                    Err(RefreshFailure::Revoked { reason, .. }) => {
                        prop_assert!(*reason == RevocationReason::ReuseDetected || *reason == RevocationReason::PolicyChanged);
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
            prop_assert!(serde_json::to_vec(&after).unwrap().len() <= initial_size + 192, "the record grew");
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

#[test]
fn the_payload_splices_act_and_application_claims_into_any_claims() {
    use crate::jose::{AccessTokenClaims, RawIds};
    let app = Some(r#"{"role":"admin"}"#);
    let act = Some(r#"{"sub":"agent"}"#);
    let empty = AccessTokenClaims::default();
    let json = |c: &AccessTokenClaims<'_>, act, app| {
        let out = super::access_claims_json(c, RawIds::default(), act, app).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(json(&empty, None, None), "{}");
    assert_eq!(json(&empty, None, app), r#"{"role":"admin"}"#);
    assert_eq!(json(&empty, act, None), r#"{"act":{"sub":"agent"}}"#);
    assert_eq!(
        json(&empty, act, app),
        r#"{"act":{"sub":"agent"},"role":"admin"}"#
    );
    let one = AccessTokenClaims {
        iss: Some("https://as".into()),
        ..AccessTokenClaims::default()
    };
    assert_eq!(
        json(&one, act, app),
        r#"{"iss":"https://as","act":{"sub":"agent"},"role":"admin"}"#
    );
    // An empty application object adds nothing.
    assert_eq!(json(&one, None, Some("{}")), r#"{"iss":"https://as"}"#);
}

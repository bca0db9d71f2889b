//! The refresh-family state machine (`token_engine::family::decide`) under an arbitrary
//! history.
//!
//! A family starts with `__private::new_family` in a `MemoryStore`; the input is a sequence
//! of steps applied through `__private::refresh_family`: refresh the newest token, replay an
//! older one or the one just before the newest, present the newest from another client,
//! present a forged token (a genuine tag over a wrong secret or a generation ahead), advance
//! the time, change the grace (0..=60 s), rotate the refresh secret. After every step
//! `decide` is called on the stored record with every token ever issued (for grace 0, the
//! current grace and 60, from the family's client and from another) and must satisfy:
//! - at most one token `Rotate`s, and it is the newest, presented by the family's client; while
//!   the family is live the newest always does (and gets what `refresh_family` hands out);
//! - once a refresh returned `ReuseDetected`, or the family expired, nothing `Rotate`s or gets
//!   `GraceRetry` (every decision is `Reject`); forged tokens never do either;
//! - `GraceRetry` only for the token just before the newest, only with grace > 0 and inside
//!   the window (on either side of `rotated_at`), and it hands out the newest token again;
//! - what `decide` says is what the refresh loop does, except that the same client presenting
//!   the token whose refresh revoked the family is told `ReuseDetected` again (a retry after
//!   a lost answer), with no write;
//! - `absolute_expires_at` never changes, the record is revoked exactly when reuse was
//!   detected, and its serialized size stays within the initial size + 192 bytes.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use token_engine::family::{
    DecideConfig, Decision, FamilyRecord, FamilyState, OperationId, decide,
};
use token_engine::opaque::PresentedToken;
use token_engine::store::InsertOutcome;
use token_engine::{
    __private, Error, MemoryStore, PolicyVersion, RefreshKeys, RefreshSecret, RefreshToken,
    TokenStore,
};

const T0: i64 = 1_800_000_000;
const IDLE: i64 = 7 * 86_400;
const CLIENT: &str = "app";
const OTHER: &str = "intruder";
const MAX_STEPS: usize = 48;
/// Time steps worth hitting exactly: grace and expiry boundaries.
const DELTAS: [i64; 16] = [
    0,
    1,
    2,
    29,
    30,
    31,
    59,
    60,
    61,
    3_600,
    86_400,
    IDLE - 1,
    IDLE,
    IDLE + 1,
    23 * 86_400,
    30 * 86_400,
];

struct Fixture {
    /// Secret id 0 current.
    before: RefreshKeys,
    /// After a refresh-secret rotation: id 1 current, id 0 retiring.
    after: RefreshKeys,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let secret = |b: u8| RefreshSecret::from_bytes(&[b; 32]).expect("secret");
    Fixture {
        before: RefreshKeys::new(secret(7)),
        after: RefreshKeys::new(secret(8).with_id(1))
            .with_retiring(secret(7))
            .expect("keys"),
    }
});

/// `MemoryStore` futures are always ready.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> u32 {
        let mut v = 0;
        for _ in 0..4 {
            v = (v << 8) | u32::from(self.byte().unwrap_or(0));
        }
        v
    }
}

struct Model {
    /// Every token issued, oldest first, parsed once.
    issued: Vec<(String, PresentedToken)>,
    /// Forged tokens presented so far.
    forged: Vec<PresentedToken>,
    reuse_detected: bool,
    last_used: i64,
    rotated_at: i64,
}

fn newest(m: &Model) -> &str {
    &m.issued.last().expect("one token at least").0
}

fn check(
    keys: &RefreshKeys,
    record: &FamilyRecord,
    initial: &FamilyRecord,
    initial_size: usize,
    m: &Model,
    now: i64,
    grace: i64,
) {
    assert_eq!(record.absolute_expires_at, initial.absolute_expires_at);
    let size = serde_json::to_vec(record).expect("serialize").len();
    // Bounded by the revoked state (reason, time, 16-byte operation id) and wider numbers,
    // never by the number of rotations.
    assert!(
        size <= initial_size + 192,
        "record grew from {initial_size} to {size} bytes"
    );
    let revoked = matches!(record.state, FamilyState::Revoked { .. });
    assert_eq!(
        revoked, m.reuse_detected,
        "revoked exactly when reuse was detected"
    );
    assert_eq!(
        record.generation as usize + 1,
        m.issued.len(),
        "one token per generation"
    );
    assert_eq!(record.last_used_at, m.last_used);
    assert_eq!(record.rotated_at, m.rotated_at);
    let dead = m.reuse_detected
        || now >= record.absolute_expires_at
        || now >= m.last_used.saturating_add(IDLE);
    let n = m.issued.len();
    for g in [0, grace, 60] {
        for client in [CLIENT, OTHER] {
            let cfg = DecideConfig {
                keys,
                client_id: client,
                policy: PolicyVersion::new(1, 0),
                reuse_grace_secs: g,
                idle_ttl_secs: IDLE,
                holder: Default::default(),
            };
            let mut rotations = 0;
            for (i, (text, p)) in m.issued.iter().enumerate() {
                let is_newest = i + 1 == n;
                match decide(record, p, now, &cfg) {
                    Decision::Rotate {
                        rotation, token, ..
                    } => {
                        let next = rotation.applied(record);
                        rotations += 1;
                        assert!(!dead, "dead family rotated (token {i} of {n})");
                        assert!(
                            is_newest && client == CLIENT,
                            "token {i} of {n} rotated by {client}"
                        );
                        assert_eq!(next.generation, record.generation + 1);
                        assert_eq!(next.absolute_expires_at, record.absolute_expires_at);
                        assert_eq!(next.version, record.version.wrapping_add(1));
                        let succ = keys.parse(token.expose_secret()).expect("successor parses");
                        assert_eq!(succ.generation(), next.generation);
                        assert_ne!(token.expose_secret(), text);
                    }
                    Decision::GraceRetry { token } => {
                        assert!(!dead, "dead family granted a retry (token {i} of {n})");
                        assert!(i + 2 == n && client == CLIENT, "retry for token {i} of {n}");
                        assert!(
                            g > 0 && now.abs_diff(m.rotated_at) <= g.unsigned_abs(),
                            "grace {g}"
                        );
                        assert_eq!(token.expose_secret(), newest(m), "retry gave another token");
                    }
                    Decision::Revoke { record: next, .. } => {
                        assert!(!dead, "dead family revoked again (token {i} of {n})");
                        assert!(matches!(next.state, FamilyState::Revoked { .. }));
                        assert_eq!(next.absolute_expires_at, record.absolute_expires_at);
                    }
                    Decision::Reject(e) => {
                        // A live family rotates its newest token for its own client.
                        assert!(
                            dead || !(is_newest && client == CLIENT),
                            "newest rejected: {e:?}"
                        );
                    }
                }
            }
            assert!(rotations <= 1, "{rotations} tokens rotate");
            for p in &m.forged {
                let d = decide(record, p, now, &cfg);
                assert!(
                    !matches!(d, Decision::Rotate { .. } | Decision::GraceRetry { .. }),
                    "forged token accepted: {d:?}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let mut input = Input(data);
    let mut keys = &f.before;
    let mut grace = i64::from(input.byte().unwrap_or(0) % 61);
    let mut now = T0;
    let store = MemoryStore::new();
    let (initial, token) = __private::new_family(keys, "user", CLIENT, now).expect("family");
    let family = initial.id;
    let initial_size = serde_json::to_vec(&initial).expect("serialize").len();
    let created = block_on(store.create_family(&initial)).expect("create");
    assert_eq!(created, InsertOutcome::Inserted);
    let first = keys.parse(token.expose_secret()).expect("parses");
    let mut m = Model {
        issued: vec![(token.expose_secret().to_owned(), first)],
        forged: Vec::new(),
        reuse_detected: false,
        last_used: now,
        rotated_at: 0,
    };
    for _ in 0..MAX_STEPS {
        let Some(op) = input.byte() else { break };
        // Which token to present, from which client; `None`: not a refresh.
        let presented: Option<(RefreshToken, &str)> = match op % 10 {
            0 | 1 => Some((RefreshToken::from_string(newest(&m).to_owned()), CLIENT)),
            2 => {
                let i = usize::from(input.byte().unwrap_or(0)) % m.issued.len();
                Some((RefreshToken::from_string(m.issued[i].0.clone()), CLIENT))
            }
            3 => {
                let i = m.issued.len().saturating_sub(2);
                Some((RefreshToken::from_string(m.issued[i].0.clone()), CLIENT))
            }
            4 => Some((RefreshToken::from_string(newest(&m).to_owned()), OTHER)),
            5 => {
                let current = m.issued.len() as u32 - 1;
                let generation = match input.byte().unwrap_or(0) % 4 {
                    0 => current.saturating_sub(1),
                    1 => current,
                    2 => current + 1,
                    _ => input.u32(),
                };
                let mut secret = [0u8; 32];
                secret[..4].copy_from_slice(&input.u32().to_be_bytes());
                let forged = __private::mint(keys, family, generation, &secret).expect("mint");
                Some((forged, CLIENT))
            }
            6 => {
                let b = input.byte().unwrap_or(0);
                now += if b < 0xc0 {
                    DELTAS[usize::from(b) % DELTAS.len()]
                } else {
                    i64::from(input.u32() % (40 * 86_400))
                };
                None
            }
            7 => {
                grace = i64::from(input.byte().unwrap_or(0) % 61);
                None
            }
            8 => {
                keys = &f.after;
                None
            }
            _ => Some((RefreshToken::from_string(newest(&m).to_owned()), CLIENT)),
        };
        if let Some((token, client)) = presented {
            let text = token.expose_secret();
            let is_forged = !m.issued.iter().any(|(t, _)| t == text);
            let before = block_on(store.load_family(&family))
                .expect("load")
                .expect("stored");
            // What `decide` says on the stored record is what `refresh_family` does.
            let expected = {
                let p = keys
                    .parse(text)
                    .expect("every presented token has a genuine tag");
                let cfg = DecideConfig {
                    keys,
                    client_id: client,
                    policy: PolicyVersion::new(1, 0),
                    reuse_grace_secs: grace,
                    idle_ttl_secs: IDLE,
                    holder: Default::default(),
                };
                decide(&before, &p, now, &cfg)
            };
            let outcome = block_on(__private::refresh_family(
                &store, keys, text, client, now, grace,
            ));
            let after = block_on(store.load_family(&family))
                .expect("load")
                .expect("stored");
            match (expected, outcome) {
                (
                    Decision::Rotate {
                        rotation,
                        token: want,
                        ..
                    },
                    Ok(got),
                ) => {
                    let record = rotation.applied(&before);
                    assert!(
                        !is_forged && text == newest(&m),
                        "a token other than the newest rotated"
                    );
                    assert_eq!(got.expose_secret(), want.expose_secret());
                    assert_eq!(after, record);
                    m.last_used = now;
                    m.rotated_at = now;
                    let p = keys.parse(got.expose_secret()).expect("successor parses");
                    m.issued.push((got.expose_secret().to_owned(), p));
                }
                (Decision::GraceRetry { token: want }, Ok(got)) => {
                    assert!(!is_forged, "forged token retried");
                    assert_eq!(got.expose_secret(), want.expose_secret());
                    assert_eq!(got.expose_secret(), newest(&m));
                    assert_eq!(after, before, "a grace retry wrote");
                }
                (Decision::Revoke { record, .. }, Err(Error::ReuseDetected)) => {
                    assert!(!m.reuse_detected, "revoked twice");
                    assert_eq!(after, record);
                    m.reuse_detected = true;
                }
                (
                    Decision::Reject(token_engine::GrantError::Revoked),
                    Err(Error::ReuseDetected),
                ) => {
                    // The same client presenting the very token whose refresh revoked the
                    // family: a retry after a lost answer, told again, nothing written.
                    let p = keys.parse(text).expect("genuine tag");
                    let cfg = DecideConfig {
                        keys,
                        client_id: client,
                        policy: PolicyVersion::new(1, 0),
                        reuse_grace_secs: grace,
                        idle_ttl_secs: IDLE,
                        holder: Default::default(),
                    };
                    assert!(
                        matches!(before.state, FamilyState::Revoked { operation, .. }
                            if operation == OperationId::of_refresh(&p, &cfg)),
                        "a repeat report for another request's revocation"
                    );
                    assert_eq!(after, before, "a repeat wrote");
                }
                (Decision::Reject(want), Err(Error::InvalidGrant(got))) => {
                    assert_eq!(got, want);
                    assert_eq!(after, before, "a rejection wrote: {got:?}");
                }
                (d, o) => panic!("decide said {d:?}, refresh_family did {o:?}"),
            }
            if is_forged && let Ok(p) = keys.parse(text) {
                m.forged.push(p);
            }
        }
        let record = block_on(store.load_family(&family))
            .expect("load")
            .expect("stored");
        check(keys, &record, &initial, initial_size, &m, now, grace);
    }
});

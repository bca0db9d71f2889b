//! The `Engine` facade (`MemoryStore`, `ManualClock`, HS256, `reuse_grace` 0..=60 s from the
//! input) driven by an arbitrary operation sequence, against a model of every session.
//!
//! Operations: issue a session (two clients, two subjects), refresh with the newest token,
//! replay an older token or the one just before the newest, refresh from the other client,
//! optionally asking for a narrower or a wider scope, advance the clock (up to 40 days), bump
//! the policy major or minor, `revoke` (refresh or access token, own or other client),
//! `sign_out_everywhere`, `sessions`, `introspect` (every refresh token of a session and an
//! access token) and `verify_with_revocation`. Nothing may panic, and:
//! - every refresh outcome is the one the decision table predicts; in particular a session
//!   that saw `ReuseDetected`, `ReauthenticationRequired`, revocation, sign-out or expiry
//!   (or whose policy major is stale) never refreshes successfully again; the same client
//!   presenting the same token that revoked a session is told the same again (a retry after
//!   a lost answer), anyone else is told it is revoked;
//! - `revoke` and `sign_out_everywhere` report what the store did, also when an earlier call
//!   of the same request did it (the same token; `sign_out_everywhere_idempotent` with the
//!   same subject and key within 5 minutes), and a plain `sign_out_everywhere` counts only
//!   what it ended itself;
//! - at most one refresh token per session is introspected as active: the newest, and only
//!   while the session is live;
//! - an access token accepted by `verify_with_revocation` (or introspected as active) belongs
//!   to a live session, carries its `sid`, subject and client, and is not expired; a live
//!   session's unexpired access token is accepted.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use time::Duration;
use token_engine::{
    Algorithm, Client, Engine, Error, GrantError, IssueRequest, ManualClock, MemoryStore,
    PolicyVersion, RefreshRequest, RefreshSecret, RevocationOutcome, SigningKey,
};

const T0: i64 = 1_800_000_000;
const ACCESS_TTL: i64 = 15 * 60;
const LEEWAY: i64 = 30;
const IDLE: i64 = 7 * 86_400;
const ABSOLUTE: i64 = 30 * 86_400;
const MAX_OPS: usize = 64;
const MAX_SESSIONS: usize = 6;
const SUBJECTS: [&str; 2] = ["alice", "bob"];
/// Clock steps worth hitting exactly: grace, access-token and family expiry boundaries.
const DELTAS: [i64; 16] = [
    1,
    2,
    30,
    59,
    60,
    61,
    ACCESS_TTL - 1,
    ACCESS_TTL + LEEWAY - 1,
    ACCESS_TTL + LEEWAY,
    3_600,
    86_400,
    IDLE - 1,
    IDLE,
    IDLE + 1,
    23 * 86_400,
    40 * 86_400,
];

static CLIENTS: LazyLock<[Client; 2]> = LazyLock::new(|| {
    [
        Client::new("app").allow_scopes(["read", "write"]),
        Client::new("other").allow_scopes(["read", "write"]),
    ]
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
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}

/// Which request revoked a session: a retry of it is told again what it did.
#[derive(Clone, PartialEq)]
enum RevokedBy {
    /// A refresh presenting this token from this client; `reauth` for a policy bump.
    Refresh {
        token: String,
        client: usize,
        reauth: bool,
    },
    /// `revoke` of this token.
    Revoke(String),
    /// `sign_out_everywhere` at this time, with this idempotency key (`None`: the plain call).
    SignOut(i64, Option<u8>),
}

struct Access {
    token: String,
    iat: i64,
    pv_major: u32,
}

/// What the engine must believe about one session.
struct Session {
    client: usize,
    subject: usize,
    sid: String,
    /// Every refresh token handed out, oldest first (grace retries add none).
    refresh: Vec<String>,
    access: Vec<Access>,
    /// Revoked in the store (reuse, re-authentication, revoke, sign-out).
    revoked: bool,
    /// By which request.
    revoked_by: Option<RevokedBy>,
    /// Ever dead (revoked, expired or stale): must never refresh again.
    dead: bool,
    created: i64,
    last_used: i64,
    rotated_at: i64,
    policy: PolicyVersion,
}

impl Session {
    fn expires_at(&self) -> i64 {
        (self.created + ABSOLUTE).min(self.last_used + IDLE)
    }
    /// Live for the store (`FamilyRecord::is_live`).
    fn live(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at()
    }
    fn stale(&self, global: PolicyVersion) -> bool {
        global.major > self.policy.major
    }
}

struct World {
    engine: Engine<MemoryStore>,
    clock: ManualClock,
    now: i64,
    grace: i64,
    sessions: Vec<Session>,
}

impl World {
    fn global(&self) -> PolicyVersion {
        block_on(self.engine.policy_version(None)).expect("policy")
    }

    fn set_global(&self, v: PolicyVersion) {
        block_on(self.engine.set_policy(None, Some(v))).expect("set policy");
    }

    fn mark_dead(&mut self) {
        let (now, global) = (self.now, self.global());
        for s in &mut self.sessions {
            if !s.live(now) || s.stale(global) {
                s.dead = true;
            }
        }
    }

    /// Check an access token's verification against the model.
    fn check_access(&self, s: &Session, a: &Access) {
        let result = block_on(self.engine.verify_with_revocation(&a.token));
        let fresh = self.now < a.iat + ACCESS_TTL + LEEWAY;
        let expected = s.live(self.now) && a.pv_major >= self.global().major && fresh;
        match result {
            Ok(claims) => {
                assert!(
                    expected,
                    "accepted: live {} stale pv {} fresh {fresh}",
                    s.live(self.now),
                    a.pv_major
                );
                assert_eq!(claims.sid.as_deref(), Some(&*s.sid));
                assert_eq!(claims.sub.as_deref(), Some(SUBJECTS[s.subject]));
                assert_eq!(claims.client_id.as_deref(), Some(CLIENTS[s.client].id()));
            }
            Err(Error::InvalidToken(e)) => {
                assert!(!expected, "live session's token rejected: {e:?}")
            }
            Err(e) => panic!("verify_with_revocation: {e:?}"),
        }
        let active = block_on(self.engine.introspect(&a.token))
            .expect("introspect")
            .active;
        assert_eq!(active, expected, "introspection of an access token");
    }
}

fn issue(w: &mut World, b: u8) {
    if w.sessions.len() == MAX_SESSIONS {
        return;
    }
    let (client, subject) = (usize::from(b & 1), usize::from((b >> 1) & 1));
    let r = block_on(
        w.engine
            .issue(&CLIENTS[client], IssueRequest::new(SUBJECTS[subject])),
    )
    .expect("issue");
    let refresh = r
        .refresh_token
        .expect("a refresh token")
        .expose_secret()
        .to_owned();
    let claims = w
        .engine
        .verifier()
        .verify(&r.access_token)
        .expect("fresh access token verifies");
    let policy = w.global();
    assert_eq!(claims.pv, Some(policy));
    w.sessions.push(Session {
        client,
        subject,
        sid: claims.sid.expect("sid").into_owned(),
        refresh: vec![refresh],
        access: vec![Access {
            token: r.access_token,
            iat: w.now,
            pv_major: policy.major,
        }],
        revoked: false,
        revoked_by: None,
        dead: false,
        created: w.now,
        last_used: w.now,
        rotated_at: 0,
        policy,
    });
}

/// Present token `index` of session `si` from client `client`, asking for `scope`.
fn refresh(w: &mut World, si: usize, index: usize, client: usize, scope: u8) {
    let (now, grace, global) = (w.now, w.grace, w.global());
    let s = &w.sessions[si];
    let n = s.refresh.len();
    let (req, widened) = match scope % 4 {
        0 | 1 => (RefreshRequest::default(), false),
        2 => (RefreshRequest::default().scope("read"), false),
        _ => (RefreshRequest::default().scope("read admin"), true),
    };
    // The decision table, in order.
    enum Want {
        Rotate,
        Retry,
        Reject,
        Reuse,
        Reauth,
    }
    let presented = s.refresh[index].clone();
    let repeat = move |reauth| {
        Some(RevokedBy::Refresh {
            token: presented.clone(),
            client,
            reauth,
        })
    };
    let want = if s.revoked && s.revoked_by == repeat(false) {
        Want::Reuse
    } else if s.revoked && s.revoked_by == repeat(true) {
        Want::Reauth
    } else if s.revoked || now >= s.created + ABSOLUTE || now >= s.last_used + IDLE {
        Want::Reject
    } else if client != s.client {
        Want::Reuse
    } else if index + 1 == n {
        if s.stale(global) {
            Want::Reauth
        } else {
            Want::Rotate
        }
    } else if index + 2 == n && grace > 0 && now.abs_diff(s.rotated_at) <= grace.unsigned_abs() {
        if s.stale(global) {
            Want::Reauth
        } else {
            Want::Retry
        }
    } else {
        Want::Reuse
    };
    let was_dead = s.dead;
    let result = block_on(w.engine.refresh(&CLIENTS[client], &s.refresh[index], req));
    let s = &mut w.sessions[si];
    if let Ok(r) = &result {
        assert!(!was_dead, "a dead session refreshed");
        assert!(!widened, "a widened scope was granted");
        assert_eq!(
            r.scope.as_deref(),
            Some(if scope % 4 == 2 { "read" } else { "read write" })
        );
    }
    match (want, result) {
        (Want::Rotate | Want::Retry, Err(Error::InvalidScope)) if widened => {}
        (Want::Rotate, Ok(r)) => {
            let rt = r
                .refresh_token
                .expect("a refresh token")
                .expose_secret()
                .to_owned();
            assert!(
                !s.refresh.contains(&rt),
                "a rotation handed out an old token"
            );
            s.refresh.push(rt);
            s.last_used = now;
            s.rotated_at = now;
            s.policy = s.policy.max(global);
            s.access.push(Access {
                token: r.access_token,
                iat: now,
                pv_major: s.policy.major,
            });
        }
        (Want::Retry, Ok(r)) => {
            let rt = r.refresh_token.expect("a refresh token");
            assert_eq!(
                rt.expose_secret(),
                s.refresh[n - 1],
                "a retry handed out another token"
            );
            s.access.push(Access {
                token: r.access_token,
                iat: now,
                pv_major: s.policy.major,
            });
        }
        (
            Want::Reject,
            Err(Error::InvalidGrant(
                GrantError::Revoked | GrantError::IdleExpired | GrantError::AbsoluteExpired,
            )),
        ) => {}
        (Want::Reuse, Err(Error::ReuseDetected)) => {
            if !s.revoked {
                s.revoked = true;
                s.revoked_by = repeat(false);
            }
        }
        (Want::Reauth, Err(Error::ReauthenticationRequired)) => {
            if !s.revoked {
                s.revoked = true;
                s.revoked_by = repeat(true);
            }
        }
        (want, got) => {
            let want = match want {
                Want::Rotate => "rotate",
                Want::Retry => "grace retry",
                Want::Reject => "reject",
                Want::Reuse => "reuse detected",
                Want::Reauth => "reauthentication",
            };
            panic!("token {index} of {n} from client {client}: expected {want}, got {got:?}");
        }
    }
    if s.access.len() > 8 {
        s.access.remove(0);
    }
}

fn revoke(w: &mut World, si: usize, b: u8) {
    let now = w.now;
    let s = &w.sessions[si];
    let client = if b & 1 == 0 { s.client } else { 1 - s.client };
    let token = if b & 2 == 0 {
        s.refresh[usize::from(b >> 2) % s.refresh.len()].clone()
    } else {
        s.access[usize::from(b >> 2) % s.access.len()].token.clone()
    };
    let outcome = block_on(w.engine.revoke(&CLIENTS[client], &token));
    let s = &mut w.sessions[si];
    let by = RevokedBy::Revoke(token);
    let again = s.revoked_by.as_ref() == Some(&by);
    match outcome {
        Err(Error::UnauthorizedClient) => assert_ne!(client, s.client),
        Ok(RevocationOutcome::Revoked { .. }) => {
            assert!(
                client == s.client && (s.live(now) || again),
                "revoked: live {} again {again}",
                s.live(now)
            );
            if !s.revoked {
                s.revoked = true;
                s.revoked_by = Some(by);
            }
        }
        Ok(RevocationOutcome::AlreadyInactive { .. }) => {
            assert!(client == s.client && !s.live(now) && !again);
        }
        other => panic!("revoke: {other:?}"),
    }
}

fn sign_out(w: &mut World, subject: usize, key: Option<u8>) {
    let (now, global) = (w.now, w.global());
    // Sessions this sign-out ends now, and those an earlier sign-out of the same subject with
    // the same idempotency key ended within the retry window (a retry after a lost answer
    // counts them again); in both cases only sessions that were live then and are not ended
    // by the policy.
    let ended_by_this = |s: &Session| match s.revoked_by {
        _ if s.stale(global) => false,
        None => now < s.expires_at(),
        Some(RevokedBy::SignOut(at, Some(k))) if key == Some(k) => {
            now.abs_diff(at) <= 300 && at < s.expires_at()
        }
        Some(_) => false,
    };
    let want = w
        .sessions
        .iter()
        .filter(|s| s.subject == subject && ended_by_this(s))
        .count();
    let ended = match key {
        None => block_on(w.engine.sign_out_everywhere(SUBJECTS[subject])),
        Some(k) => block_on(
            w.engine
                .sign_out_everywhere_idempotent(SUBJECTS[subject], &[k]),
        ),
    }
    .expect("sign out");
    assert_eq!(ended, want as u64);
    for s in w.sessions.iter_mut().filter(|s| s.subject == subject) {
        if !s.revoked {
            s.revoked = true;
            s.revoked_by = Some(RevokedBy::SignOut(now, key));
        }
    }
}

fn sessions(w: &World, subject: usize) {
    let listed = block_on(w.engine.sessions(SUBJECTS[subject])).expect("sessions");
    let mut got: Vec<String> = listed.iter().map(|s| s.family.to_string()).collect();
    let mut want: Vec<String> = w
        .sessions
        .iter()
        .filter(|s| s.subject == subject && s.live(w.now) && !s.stale(w.global()))
        .map(|s| s.sid.clone())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "live sessions of {}", SUBJECTS[subject]);
}

fn introspect(w: &World, si: usize, b: u8) {
    let s = &w.sessions[si];
    let mut active = 0;
    for (i, t) in s.refresh.iter().enumerate() {
        let r = block_on(w.engine.introspect(t)).expect("introspect");
        let expected = i + 1 == s.refresh.len() && s.live(w.now) && !s.stale(w.global());
        assert_eq!(
            r.active,
            expected,
            "refresh token {i} of {}",
            s.refresh.len()
        );
        if r.active {
            active += 1;
            assert_eq!(r.sub.as_deref(), Some(SUBJECTS[s.subject]));
            assert_eq!(r.client_id.as_deref(), Some(CLIENTS[s.client].id()));
            assert_eq!(r.exp, Some(s.expires_at()));
            assert_eq!(r.token_type.as_deref(), Some("refresh_token"));
        }
    }
    assert!(
        active <= 1,
        "{active} refresh tokens of one session are active"
    );
    w.check_access(s, &s.access[usize::from(b) % s.access.len()]);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let grace = i64::from(input.byte() % 61);
    let clock = ManualClock::new(T0);
    let key = SigningKey::hmac(Algorithm::HS256, &[7; 32])
        .expect("key")
        .with_kid("hs");
    let engine = Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(key)
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).expect("secret"))
        .reuse_grace(Duration::seconds(grace))
        .clock(clock.clone())
        .build(MemoryStore::new())
        .expect("engine");
    let mut w = World {
        engine,
        clock,
        now: T0,
        grace,
        sessions: Vec::new(),
    };
    issue(&mut w, 0);
    for _ in 0..MAX_OPS {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte();
        let b = input.byte();
        let si = usize::from(b) % w.sessions.len();
        let n = w.sessions[si].refresh.len();
        let own = w.sessions[si].client;
        match op % 13 {
            0 => issue(&mut w, b >> 3),
            1 | 2 => refresh(&mut w, si, n - 1, own, b >> 3),
            3 => refresh(&mut w, si, usize::from(input.byte()) % n, own, b >> 3),
            4 => refresh(&mut w, si, n.saturating_sub(2), own, b >> 3),
            5 => refresh(&mut w, si, n - 1, 1 - own, b >> 3),
            6 => {
                let d = input.byte();
                let delta = if d < 0xc0 {
                    DELTAS[usize::from(d) % DELTAS.len()]
                } else {
                    i64::from(input.u32() % (40 * 86_400)) + 1
                };
                w.now += delta;
                w.clock.set(w.now);
            }
            7 => {
                let g = w.global();
                w.set_global(PolicyVersion::new(g.major + 1, 0));
            }
            8 => {
                let g = w.global();
                w.set_global(PolicyVersion::new(g.major, g.minor + 1));
            }
            9 => revoke(&mut w, si, b >> 3),
            10 => sign_out(&mut w, usize::from(b >> 3) & 1, Some(b >> 4 & 3).filter(|&k| k > 0)),
            11 => introspect(&w, si, b >> 3),
            _ => {
                sessions(&w, usize::from(b >> 3) & 1);
                let s = &w.sessions[si];
                w.check_access(s, s.access.last().expect("an access token"));
            }
        }
        w.mark_dead();
    }
});

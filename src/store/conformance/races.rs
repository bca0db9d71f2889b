//! Checks that drive real engines over the store: what is at rest after a rotation, and the
//! races of the deployment the crate is for (several engines, clocks a second apart).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Barrier;

use super::{CONCURRENT_TASKS, T0};
use crate::client::{Client, IssueRequest, RefreshRequest};
use crate::clock::ManualClock;
use crate::engine::Engine;
use crate::error::{Error, GrantError};
use crate::event::{CollectingSink, Event};
use crate::family::{FamilyState, OperationId, RevocationReason};
use crate::jose::{Algorithm, SigningKey};
use crate::opaque::{RefreshKeys, RefreshSecret, RefreshToken};
use crate::store::TokenStore;

const SECRET: [u8; 32] = [42; 32];

fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

/// One app server: an engine over the shared store with its own clock and event sink.
struct Server<S> {
    engine: Engine<Arc<S>>,
    clock: ManualClock,
    events: Arc<CollectingSink>,
}

fn server<S: TokenStore>(store: &Arc<S>, now: i64, grace: i64) -> Server<S> {
    let clock = ManualClock::new(now);
    let events = Arc::new(CollectingSink::new());
    let engine = Engine::builder()
        .issuer("https://as.example")
        .audience("https://api.example")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&SECRET).unwrap())
        .reuse_grace(time::Duration::seconds(grace))
        .clock(clock.clone())
        .events(Arc::clone(&events))
        .build(Arc::clone(store))
        .unwrap();
    Server {
        engine,
        clock,
        events,
    }
}

/// Two app servers whose clocks are one second apart.
fn two_servers<S: TokenStore>(store: &Arc<S>, grace: i64) -> [Server<S>; 2] {
    [server(store, T0, grace), server(store, T0 + 1, grace)]
}

async fn login<S: TokenStore>(s: &Server<S>, subject: &str) -> RefreshToken {
    s.engine
        .issue(&client(), IssueRequest::new(subject))
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

/// What the store holds never contains a usable token: not the token text, not its secret,
/// not the secret's base64url, for the first and a rotated generation.
pub async fn no_usable_token_at_rest<S: TokenStore + 'static>(store: Arc<S>) {
    let [a, _] = two_servers(&store, 0);
    let first = login(&a, "at-rest").await;
    let next = a
        .engine
        .refresh(&client(), first.expose_secret(), RefreshRequest::default())
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let keys = RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap());
    let family = keys.parse(first.expose_secret()).unwrap().family();
    let stored = store.load_family(&family).await.unwrap().unwrap();
    let listed = store.list_families("at-rest").await.unwrap();
    let json = serde_json::to_string(&(&stored, &listed)).unwrap();
    let debug = format!("{stored:?} {listed:?}");
    for token in [&first, &next] {
        let p = keys.parse(token.expose_secret()).unwrap();
        let mut secret_b64 = String::new();
        crate::jose::b64_encode_to(&p.secret[..], &mut secret_b64);
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

/// 64 concurrent refreshes of one token, split between two engines whose clocks are a second
/// apart. Returns each result and every event of both engines.
async fn race<S: TokenStore + 'static>(
    store: &Arc<S>,
    grace: i64,
) -> (
    Vec<Result<RefreshToken, Error>>,
    Vec<Event>,
    Vec<Event>,
    RefreshToken,
) {
    let servers = Arc::new(two_servers(store, grace));
    let token = Arc::new(login(&servers[0], "racer").await);
    servers[0].clock.set(T0 + 5);
    servers[1].clock.set(T0 + 6);
    servers[0].events.take();
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let (servers, token, barrier) = (
                Arc::clone(&servers),
                Arc::clone(&token),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                servers[i % 2]
                    .engine
                    .refresh(&client(), token.expose_secret(), RefreshRequest::default())
                    .await
                    .map(|r| r.refresh_token.unwrap())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    let token = RefreshToken::from_string(token.expose_secret().to_owned());
    (
        out,
        servers[0].events.take(),
        servers[1].events.take(),
        token,
    )
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// Grace on: exactly one rotation wins, every other request (on either engine, whichever
/// clock it reads) gets the very same successor, and the family is not forked.
pub async fn concurrent_refresh_with_grace<S: TokenStore + 'static>(store: Arc<S>) {
    assert_multi_thread();
    let (results, ea, eb, token) = race(&store, 30).await;
    let events: Vec<_> = ea.into_iter().chain(eb).collect();
    let tokens: Vec<_> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("with grace every concurrent refresh succeeds: {e:?}"))
        })
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "every request gets the winner's successor"
    );
    assert_eq!(
        count(&events, |e| matches!(e, Event::Refreshed { .. })),
        1,
        "exactly one rotation wins"
    );
    assert_eq!(
        count(&events, |e| matches!(e, Event::GraceRetryServed { .. })),
        CONCURRENT_TASKS - 1
    );
    let family = RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(token.expose_secret())
        .unwrap()
        .family();
    let stored = store.load_family(&family).await.unwrap().unwrap();
    assert_eq!(
        (stored.generation, stored.state),
        (1, FamilyState::Active),
        "no fork"
    );
}

/// Grace off: exactly one rotation wins, the concurrent duplicates are reuse and revoke the
/// family once (the other detections are reported as possible repeats), never a fork.
pub async fn concurrent_refresh_without_grace<S: TokenStore + 'static>(store: Arc<S>) {
    assert_multi_thread();
    let (results, ea, eb, token) = race(&store, 0).await;
    let events: Vec<_> = ea.into_iter().chain(eb).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "exactly one rotation wins"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(r, Error::ReuseDetected), "{r:?}");
    }
    let first_reports = |e: &Event| {
        matches!(
            e,
            Event::FamilyRevoked {
                possible_repeat: false,
                ..
            }
        )
    };
    assert_eq!(
        count(&events, first_reports),
        1,
        "the family is revoked once"
    );
    let family = RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(token.expose_secret())
        .unwrap()
        .family();
    let stored = store.load_family(&family).await.unwrap().unwrap();
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

/// Families of one subject kept busy by refresh loops on two engines
/// while `revoke_subject` runs: afterwards every family is revoked (through both reads) and
/// every later refresh fails. A store that revokes by compare-and-swap against a snapshot
/// skips the families rotated in between, and fails here.
pub async fn revoke_subject_races_refresh<S: TokenStore + 'static>(store: Arc<S>) {
    const FAMILIES: usize = 8;
    const MAX_REFRESHES: usize = 300;
    assert_multi_thread();
    let servers = Arc::new(two_servers(&store, 0));
    let mut tokens = Vec::new();
    for _ in 0..FAMILIES {
        tokens.push(login(&servers[0], "busy").await);
    }
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, first)| {
            let (servers, done) = (Arc::clone(&servers), Arc::clone(&done));
            tokio::spawn(async move {
                let mut current = first;
                for n in 0..MAX_REFRESHES {
                    let s = &servers[(i + n) % 2];
                    match s
                        .engine
                        .refresh(
                            &client(),
                            current.expose_secret(),
                            RefreshRequest::default(),
                        )
                        .await
                    {
                        Ok(r) => current = r.refresh_token.unwrap(),
                        Err(Error::InvalidGrant(GrantError::Revoked)) => break,
                        Err(e) => panic!("refresh during revoke_subject: {e:?}"),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                current
            })
        })
        .collect();
    // Let the loops get going (or end, if they fail: their panic is the report).
    while done.load(Ordering::Relaxed) < FAMILIES * 4 && !tasks.iter().all(|t| t.is_finished()) {
        tokio::task::yield_now().await;
    }
    store
        .revoke_subject(
            "busy",
            RevocationReason::SignOutEverywhere,
            T0 + 1,
            OperationId([0xbb; 16]),
        )
        .await
        .unwrap();
    let mut last = Vec::new();
    for t in tasks {
        last.push(t.await.unwrap());
    }
    let listed = store.list_families("busy").await.unwrap();
    assert_eq!(listed.len(), FAMILIES);
    for f in &listed {
        assert!(
            !f.is_active(),
            "a family rotated while revoke_subject ran was left active (list_families)"
        );
        let loaded = store.load_family(&f.id).await.unwrap().unwrap();
        assert!(
            !loaded.is_active(),
            "a family rotated while revoke_subject ran was left active (load_family)"
        );
    }
    let keys = RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap());
    for token in &last {
        let p = keys.parse(token.expose_secret()).unwrap();
        let f = store.load_family(&p.family()).await.unwrap().unwrap();
        assert_eq!(
            f.generation,
            p.generation(),
            "revoke_subject changes only state and version: a rotation committed before it stays"
        );
        for s in servers.iter() {
            let r = s
                .engine
                .refresh(&client(), token.expose_secret(), RefreshRequest::default())
                .await;
            assert!(
                matches!(r, Err(Error::InvalidGrant(GrantError::Revoked))),
                "a refresh after revoke_subject must fail: {r:?}"
            );
        }
    }
}

fn assert_multi_thread() {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    assert_eq!(
        flavor,
        tokio::runtime::RuntimeFlavor::MultiThread,
        "the concurrency checks need #[tokio::test(flavor = \"multi_thread\")]"
    );
}

/// 64 concurrent exchanges of one authorization code, split between two engines over the
/// store: tokens exactly once.
pub async fn concurrent_code_exchange<S: crate::store::CodeStore + 'static>(store: Arc<S>) {
    assert_multi_thread();
    let servers = Arc::new(two_servers(&store, 0));
    let app = client().redirect_uri("https://app.example/cb");
    let verifier = crate::pkce::CodeVerifier::generate().unwrap();
    let code = servers[0]
        .engine
        .authorize(
            &app,
            crate::engine::AuthorizeRequest::new("racer")
                .pkce(verifier.s256_challenge().as_str(), Some("S256")),
        )
        .await
        .unwrap();
    let (code, verifier): (Arc<str>, Arc<str>) =
        (code.expose_code().into(), verifier.expose_secret().into());
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let (servers, code, verifier, barrier, app) = (
                Arc::clone(&servers),
                Arc::clone(&code),
                Arc::clone(&verifier),
                Arc::clone(&barrier),
                app.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                servers[i % 2]
                    .engine
                    .exchange_code(&app, &code, None, Some(&verifier), Default::default())
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::InvalidGrant(GrantError::InvalidCode | GrantError::CodeReplayed)) => {}
            Err(e) => panic!("concurrent code exchange: {e:?}"),
        }
    }
    assert_eq!(won, 1, "one authorization code yields tokens exactly once");
}

/// 64 concurrent polls of one approved device code, split between two engines over the
/// store: tokens exactly once.
pub async fn concurrent_device_polls<S: crate::store::DeviceStore + 'static>(store: Arc<S>) {
    use crate::client::GrantType;
    assert_multi_thread();
    let servers = Arc::new(two_servers(&store, 0));
    let tv = client().grant_types([GrantType::DeviceCode]);
    let start = servers[0]
        .engine
        .start_device_authorization(&tv, None, "https://as.example/device")
        .await
        .unwrap();
    servers[1]
        .engine
        .approve_device(
            &start.user_code,
            "racer",
            &crate::engine::MemoryLimiter::default(),
            "kit",
        )
        .await
        .unwrap();
    let code: Arc<str> = start.device_code.into();
    let barrier = Arc::new(Barrier::new(CONCURRENT_TASKS));
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|i| {
            let (servers, code, barrier, tv) = (
                Arc::clone(&servers),
                Arc::clone(&code),
                Arc::clone(&barrier),
                tv.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                servers[i % 2]
                    .engine
                    .poll_device(&tv, &code, Default::default())
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::SlowDown | Error::InvalidGrant(GrantError::InvalidCode)) => {}
            Err(e) => panic!("concurrent device poll: {e:?}"),
        }
    }
    assert_eq!(
        won, 1,
        "one approved device code yields tokens exactly once"
    );
}

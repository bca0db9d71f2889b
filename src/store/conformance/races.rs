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

/// Two app servers whose clocks are one second apart, each over its own instance of the
/// store (`a` and `b`: two handles over the same storage, as two processes would have).
fn two_servers<S: TokenStore>(a: &Arc<S>, b: &Arc<S>, grace: i64) -> [Server<S>; 2] {
    [server(a, T0, grace), server(b, T0 + 1, grace)]
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
    let a = server(&store, T0, 0);
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

/// 64 concurrent refreshes of one token, split between two engines (each over its own
/// instance) whose clocks are a second apart. Returns each result and every event of both
/// engines.
async fn race<S: TokenStore + 'static>(
    a: &Arc<S>,
    b: &Arc<S>,
    grace: i64,
) -> (
    Vec<Result<RefreshToken, Error>>,
    Vec<Event>,
    Vec<Event>,
    RefreshToken,
) {
    let servers = Arc::new(two_servers(a, b, grace));
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
/// clock it reads) gets the very same successor, and the family is not forked. `a` and `b`
/// are two instances over the same storage.
pub async fn concurrent_refresh_with_grace<S: TokenStore + 'static>(a: Arc<S>, b: Arc<S>) {
    assert_multi_thread();
    let store = a;
    let (results, ea, eb, token) = race(&store, &b, 30).await;
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
/// family once (the other detections are reported as possible repeats), never a fork. `a`
/// and `b` are two instances over the same storage.
pub async fn concurrent_refresh_without_grace<S: TokenStore + 'static>(a: Arc<S>, b: Arc<S>) {
    assert_multi_thread();
    let store = a;
    let (results, ea, eb, token) = race(&store, &b, 0).await;
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
/// while `revoke_subject` runs (on the second instance `b`): afterwards every family is
/// revoked (through both reads, on both instances) and every later refresh fails. A store
/// that revokes by compare-and-swap against a snapshot skips the families rotated in
/// between, and fails here.
pub async fn revoke_subject_races_refresh<S: TokenStore + 'static>(a: Arc<S>, b: Arc<S>) {
    const FAMILIES: usize = 8;
    const MAX_REFRESHES: usize = 300;
    assert_multi_thread();
    let store = a;
    let servers = Arc::new(two_servers(&store, &b, 0));
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
    b.revoke_subject(
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
        for instance in [&store, &b] {
            let loaded = instance.load_family(&f.id).await.unwrap().unwrap();
            assert!(
                !loaded.is_active(),
                "a family rotated while revoke_subject ran was left active (load_family)"
            );
        }
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

/// 64 concurrent exchanges of one authorization code, split between two engines over two
/// instances of the store: tokens exactly once.
pub async fn concurrent_code_exchange<S: crate::store::CodeStore + 'static>(a: Arc<S>, b: Arc<S>) {
    assert_multi_thread();
    let servers = Arc::new(two_servers(&a, &b, 0));
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

/// 64 concurrent polls of one approved device code, split between two engines over two
/// instances of the store: tokens exactly once.
pub async fn concurrent_device_polls<S: crate::store::DeviceStore + 'static>(a: Arc<S>, b: Arc<S>) {
    use crate::client::GrantType;
    assert_multi_thread();
    let servers = Arc::new(two_servers(&a, &b, 0));
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

/// OS threads hammering one family with compare-and-swap.
const CAS_THREADS: usize = 4;
/// Swaps each thread attempts at least, and how long the threads keep going at least (a
/// fast store gets many more attempts than a slow one in the same time; a slow one still
/// gets this many).
const CAS_MIN_ATTEMPTS: usize = 300;
const CAS_MIN_TIME: std::time::Duration = std::time::Duration::from_millis(300);
/// The most a thread keeps going, whatever the store's speed.
const CAS_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Compare-and-swap on raw store handles, raced on 4 OS threads (each polling its own loop,
/// half of them over `a`, half over `b`): load, swap from the loaded version to the next,
/// over and over, at least 300 times and for 300 ms per thread. Two swaps from one version must never both succeed, and
/// the family's final version must count exactly the swaps that won.
///
/// Unlike the engine races, nothing here yields between a store's read and its write, so a
/// swap that reads, compares and then writes without atomicity is caught even when it has
/// no `.await` in between (the threads run truly in parallel): a lock inside one store
/// object does not help, since `b` is another instance.
pub async fn compare_and_swap_is_atomic_across_threads<S: TokenStore + 'static>(
    a: Arc<S>,
    b: Arc<S>,
) {
    use crate::store::CasOutcome;
    let mut first = super::record("cas-threads", 0x5c);
    first.version = 1_000;
    assert_eq!(
        a.create_family(&first).await.unwrap(),
        crate::store::InsertOutcome::Inserted
    );
    let id = first.id;
    let start = Arc::new(std::sync::Barrier::new(CAS_THREADS));
    let threads: Vec<_> = (0..CAS_THREADS)
        .map(|t| {
            let store = Arc::clone(if t % 2 == 0 { &a } else { &b });
            let start = Arc::clone(&start);
            // Each thread polls its own loop (`Handle::block_on` from a thread outside the
            // runtime), while what the store spawns (connection drivers) lands on the
            // caller's runtime and outlives the thread.
            let runtime = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                runtime.block_on(async move {
                    let mut won = Vec::new();
                    start.wait();
                    let begun = std::time::Instant::now();
                    let mut attempts = 0usize;
                    while (attempts < CAS_MIN_ATTEMPTS || begun.elapsed() < CAS_MIN_TIME)
                        && begun.elapsed() < CAS_MAX_TIME
                    {
                        attempts += 1;
                        let current = store.load_family(&id).await.unwrap().unwrap();
                        let mut next = current.clone();
                        next.version = current.version + 1;
                        next.last_used_at = i64::try_from(t * 10_000_000 + attempts).unwrap();
                        let swap = store.compare_and_swap_family(current.version, &next);
                        if swap.await.unwrap() == CasOutcome::Swapped {
                            won.push(current.version);
                        }
                    }
                    won
                })
            })
        })
        .collect();
    let wins = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect::<Vec<u64>>()
    })
    .await
    .unwrap();
    let mut versions = wins.clone();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions.len(),
        wins.len(),
        "two compare-and-swaps from one version both succeeded ({} of {} swaps from a \
         version another swap had already taken): the swap is not atomic across instances",
        wins.len() - versions.len(),
        wins.len()
    );
    let stored = a.load_family(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.version,
        first.version + wins.len() as u64,
        "the final version counts exactly the swaps that won"
    );
    assert!(!wins.is_empty(), "no swap ever won");
}

//! First two checks that need the cluster to themselves: every node's scripts flushed, and a
//! connection dropped while its `WAIT` waits (the `WAIT` answers for that write only).
//! Then failovers under refresh load, measured: (a) a manual `CLUSTER FAILOVER` on a replica;
//! (b) a primary killed (`kill -9`, the process `.ci/with-redis-cluster` started, by its pid),
//! once with writes acknowledged by the primary alone and once with `WAIT 1` after each
//! write ([`Durability::WaitForReplica`]). Each prints what it measured; the assertions are
//! what the design guarantees (see the crate docs and the README's "Choosing a store").
//!
//! One test, phases in order, because each changes the cluster (a failover swaps roles; a
//! killed node is restarted with `REDIS_CLUSTER_START_NODE` and rejoins as a replica, and the
//! phase waits until every primary has a replica again). Run it in its own cluster:
//! `.ci/with-redis-cluster cargo test -p token-engine-redis --test failover -- --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use token_engine::event::CollectingSink;
use token_engine::store::{InsertOutcome, ReplayStore};
use token_engine::{
    Algorithm, Client, Clock, Engine, Error, FamilyId, IssueRequest, RefreshKeys, RefreshRequest,
    RefreshSecret, RefreshToken, SigningKey, SystemClock, TokenStore,
};
use token_engine_redis::redis;
use token_engine_redis::{Durability, RedisOptions, RedisStore};

const SECRET: [u8; 32] = [42; 32];
/// Sessions refreshing in loops during each phase.
const SESSIONS: usize = 24;
/// Pause between a loop's refreshes (a busy client), and after a failed one.
const PAUSE: Duration = Duration::from_millis(5);
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Every phase must recover within this.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

/// The cluster from `.ci/with-redis-cluster`.
struct Cluster {
    urls: Vec<String>,
    dir: String,
    start_node: String,
}

fn cluster() -> Option<Cluster> {
    let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") else {
        assert!(
            std::env::var_os("TOKEN_ENGINE_REDIS_REQUIRED").is_none(),
            "TOKEN_ENGINE_REDIS_REQUIRED is set but REDIS_CLUSTER_URLS is not"
        );
        eprintln!(
            "SKIPPED failovers: REDIS_CLUSTER_URLS is not set (run it with \
             `.ci/with-redis-cluster cargo test -p token-engine-redis --test failover`)"
        );
        return None;
    };
    Some(Cluster {
        urls: urls.split(',').map(str::to_owned).collect(),
        dir: std::env::var("REDIS_CLUSTER_DIR").expect("REDIS_CLUSTER_DIR"),
        start_node: std::env::var("REDIS_CLUSTER_START_NODE").expect("REDIS_CLUSTER_START_NODE"),
    })
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

async fn node(port: u16) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timeout")))?
}

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug)]
struct NodeInfo {
    id: String,
    port: u16,
    primary: bool,
    failed: bool,
    primary_id: String,
    slots: Vec<(u16, u16)>,
}

async fn topology(c: &Cluster) -> Vec<NodeInfo> {
    for url in &c.urls {
        let Ok(mut conn) = node(port_of(url)).await else {
            continue;
        };
        let Ok(text) = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async::<String>(&mut conn)
            .await
        else {
            continue;
        };
        return text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let port = f[1].split('@').next().unwrap().rsplit(':').next().unwrap();
                NodeInfo {
                    id: f[0].to_owned(),
                    port: port.parse().unwrap(),
                    primary: f[2].contains("master"),
                    failed: f[2].contains("fail"),
                    primary_id: f[3].to_owned(),
                    slots: f[8..]
                        .iter()
                        .filter(|s| !s.starts_with('['))
                        .map(|s| match s.split_once('-') {
                            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                            None => (s.parse().unwrap(), s.parse().unwrap()),
                        })
                        .collect(),
                }
            })
            .collect();
    }
    panic!("no node answers CLUSTER NODES");
}

/// Until every node answers `cluster_state:ok`, every primary has a replica whose link is
/// up, and all agree on the topology; how long it took.
async fn wait_healthy(c: &Cluster) -> Duration {
    let begun = Instant::now();
    loop {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the cluster did not heal"
        );
        let mut ok = true;
        for url in &c.urls {
            let info = match node(port_of(url)).await {
                Ok(mut conn) => redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async::<String>(&mut conn)
                    .await
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            ok &= info.contains("cluster_state:ok");
        }
        let nodes = topology(c).await;
        let primaries: Vec<_> = nodes.iter().filter(|n| n.primary && !n.failed).collect();
        ok &= primaries.len() == 3 && nodes.iter().all(|n| !n.failed);
        for p in &primaries {
            let replica = nodes.iter().find(|n| n.primary_id == p.id);
            ok &= match replica {
                Some(r) => match node(r.port).await {
                    Ok(mut conn) => redis::cmd("INFO")
                        .arg("replication")
                        .query_async::<String>(&mut conn)
                        .await
                        .unwrap_or_default()
                        .contains("master_link_status:up"),
                    Err(_) => false,
                },
                None => false,
            };
        }
        if ok {
            return begun.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The port of the primary that owns `slot`.
fn owner(nodes: &[NodeInfo], slot: u16) -> u16 {
    nodes
        .iter()
        .find(|n| n.primary && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
        .map(|n| n.port)
        .expect("a primary for every slot")
}

fn family_key(ns: &str, id: &FamilyId) -> String {
    let hex: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("{ns}:f:{{{hex}}}")
}

fn engine(store: RedisStore) -> Engine<RedisStore> {
    // The system clock and the default grace (5 s), as deployed.
    Engine::builder()
        .issuer("https://as.example")
        .audience("https://api.example")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&SECRET).unwrap())
        .events(Arc::new(CollectingSink::new()))
        .build(store)
        .unwrap()
}

/// What one session's refresh loop saw.
#[derive(Default)]
struct Session {
    /// Every refresh token the client held, by generation (index 0: the login's).
    tokens: Vec<RefreshToken>,
    /// `Error::Store` answers (retried with the same token), with when.
    store_errors: Vec<Instant>,
    /// The error that ended the session, if one did.
    ended: Option<String>,
    /// Whether the ending error was reported as reuse (theft).
    theft: bool,
    /// Successful refreshes, with when.
    successes: Vec<Instant>,
    /// Other errors (neither `Error::Store` nor ending the session).
    other: Vec<String>,
}

/// What a phase measured.
struct Measured {
    store_errors: usize,
    other_errors: usize,
    lost_rotations: u64,
    failed_sessions: BTreeMap<String, usize>,
    theft_reports: usize,
    old_tokens_usable_again: usize,
    revoked: usize,
    /// Sessions whose store is one rotation ahead of the client: the rotation committed but
    /// its answer was an error (with `WAIT`: the write was not acknowledged by a replica).
    unanswered: usize,
    /// Of those, how many the client's retry with its token then served (the same
    /// successor, a grace retry), and how many it ended as reuse.
    unanswered_served: usize,
    unanswered_reuse: usize,
    /// Sessions whose store is more than one rotation ahead of its client: a fork.
    forked: usize,
    /// From the event to the last first-success-after-an-error of a session.
    recovery: Duration,
    /// Sessions answered `Error::Store` that neither ended nor refreshed again after their
    /// last error: never recovered (the phase ran out of time with them still failing).
    unrecovered: usize,
    refreshes: usize,
}

/// Run `SESSIONS` refresh loops over two engines (own connections) while `event` happens
/// (it returns when it was done, and the instant it struck); stop `settle` after the last
/// loop recovered or ended.
async fn phase<E, Fut>(c: &Cluster, name: &str, durability: Durability, event: E) -> Measured
where
    E: FnOnce(Vec<u16>) -> Fut,
    Fut: std::future::Future<Output = Instant>,
{
    let ns = format!("failover-{name}-{}", std::process::id());
    let options = RedisOptions::default()
        .namespace(&ns)
        .durability(durability);
    let engines = Arc::new([
        engine(RedisStore::connect(&c.urls, options.clone()).await.unwrap()),
        engine(RedisStore::connect(&c.urls, options).await.unwrap()),
    ]);
    let mut firsts = Vec::new();
    for i in 0..SESSIONS {
        let t = engines[i % 2]
            .issue(&client(), IssueRequest::new(format!("user-{i}")))
            .await
            .unwrap()
            .refresh_token
            .unwrap();
        firsts.push(t);
    }
    let keys = RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap());
    let families: Vec<FamilyId> = firsts
        .iter()
        .map(|t| keys.parse(t.expose_secret()).unwrap().family())
        .collect();
    // Which primary holds each family now.
    let nodes = topology(c).await;
    let mut conn = node(nodes.iter().find(|n| n.primary).unwrap().port)
        .await
        .unwrap();
    let mut owners = Vec::new();
    for f in &families {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(family_key(&ns, f))
            .query_async(&mut conn)
            .await
            .unwrap();
        owners.push(owner(&nodes, slot));
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Each loop's state: 0 its last refresh succeeded, 1 it failed with `Error::Store`, 2 the
    // session ended.
    let states: Arc<Vec<AtomicU8>> = Arc::new((0..SESSIONS).map(|_| AtomicU8::new(0)).collect());
    let loops: Vec<_> = firsts
        .into_iter()
        .enumerate()
        .map(|(i, first)| {
            let (engines, stop, states) =
                (Arc::clone(&engines), Arc::clone(&stop), Arc::clone(&states));
            tokio::spawn(async move {
                let mut s = Session {
                    tokens: vec![first],
                    ..Session::default()
                };
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let current = s.tokens.last().unwrap().expose_secret().to_owned();
                    let r = engines[n % 2]
                        .refresh(&client(), &current, RefreshRequest::default())
                        .await;
                    match r {
                        Ok(r) => {
                            states[i].store(0, Ordering::Relaxed);
                            s.successes.push(Instant::now());
                            let next = r.refresh_token.unwrap();
                            if next.expose_secret() != current {
                                s.tokens.push(next);
                            }
                            tokio::time::sleep(PAUSE).await;
                        }
                        Err(Error::Store(_)) => {
                            states[i].store(1, Ordering::Relaxed);
                            s.store_errors.push(Instant::now());
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                        Err(e @ (Error::ReuseDetected | Error::InvalidGrant(_))) => {
                            s.theft = matches!(e, Error::ReuseDetected);
                            s.ended = Some(format!("{e:?}"));
                            states[i].store(2, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            s.other.push(format!("{e:?}"));
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
                s
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    let struck = event(owners.clone()).await;
    // Run until every session refreshes again (or has ended), at least 2 s after the event.
    let begun = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let settled = states.iter().all(|s| s.load(Ordering::Relaxed) != 1);
        if (settled && begun.elapsed() > Duration::from_secs(2)) || begun.elapsed() > RECOVERY_BOUND
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sessions = Vec::new();
    for l in loops {
        sessions.push(l.await.unwrap());
    }

    // Measure, once the cluster is whole again (every primary with a replica).
    wait_healthy(c).await;
    let mut m = Measured {
        store_errors: 0,
        other_errors: 0,
        lost_rotations: 0,
        failed_sessions: BTreeMap::new(),
        theft_reports: 0,
        old_tokens_usable_again: 0,
        revoked: 0,
        unanswered: 0,
        unanswered_served: 0,
        unanswered_reuse: 0,
        forked: 0,
        recovery: Duration::ZERO,
        unrecovered: 0,
        refreshes: 0,
    };
    for (s, family) in sessions.iter().zip(&families) {
        m.store_errors += s.store_errors.len();
        m.other_errors += s.other.len();
        m.refreshes += s.successes.len();
        if let Some(e) = &s.ended {
            *m.failed_sessions.entry(e.clone()).or_default() += 1;
            m.theft_reports += usize::from(s.theft);
        }
        // Recovery: from the event to this session's first success after its last error.
        // A session that ended counts as settled (its ending error is reported above).
        if let Some(last_err) = s.store_errors.last() {
            match s.successes.iter().find(|t| *t > last_err) {
                Some(ok) => m.recovery = m.recovery.max(ok.saturating_duration_since(struck)),
                None if s.ended.is_none() => m.unrecovered += 1,
                None => {}
            }
        }
        let stored = engines[0]
            .store()
            .load_family(family)
            .await
            .unwrap()
            .unwrap();
        let client_gen = u32::try_from(s.tokens.len() - 1).unwrap();
        m.revoked += usize::from(!stored.is_active());
        if stored.generation < client_gen {
            m.lost_rotations += u64::from(client_gen - stored.generation);
            // The token the client had rotated away, which the store holds as current.
            let old = &s.tokens[usize::try_from(stored.generation).unwrap()];
            if engines[1]
                .refresh(&client(), old.expose_secret(), RefreshRequest::default())
                .await
                .is_ok()
            {
                m.old_tokens_usable_again += 1;
            }
        } else if stored.generation == client_gen + 1 && s.ended.is_none() {
            m.unanswered += 1;
            let current = s.tokens.last().unwrap();
            let mut retry = Err(Error::ReuseDetected);
            for _ in 0..40 {
                retry = engines[1]
                    .refresh(
                        &client(),
                        current.expose_secret(),
                        RefreshRequest::default(),
                    )
                    .await;
                if !matches!(retry, Err(Error::Store(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            match retry {
                Ok(r) => {
                    let next = r.refresh_token.unwrap();
                    let g = keys.parse(next.expose_secret()).unwrap().generation();
                    assert_eq!(g, stored.generation, "the retry gets the stored successor");
                    m.unanswered_served += 1;
                }
                Err(Error::ReuseDetected) => m.unanswered_reuse += 1,
                Err(e) => panic!("retry of an unanswered rotation: {e:?}"),
            }
        } else if stored.generation > client_gen + 1 {
            m.forked += 1;
        }
    }
    println!(
        "failover {name} ({durability:?}): {SESSIONS} sessions, {} refreshes; Error::Store \
         answers {}; other errors {}; rotations lost {}; sessions ended {:?} (reported as \
         theft: {}); families revoked {}; old refresh tokens usable again {}; rotations \
         committed but answered with an error {} (the retry then served {}, ended as reuse {}); \
         forks {}; recovered {:.2?} after the event (sessions never recovered: {})",
        m.refreshes,
        m.store_errors,
        m.other_errors,
        m.lost_rotations,
        m.failed_sessions,
        m.theft_reports,
        m.revoked,
        m.old_tokens_usable_again,
        m.unanswered,
        m.unanswered_served,
        m.unanswered_reuse,
        m.forked,
        m.recovery,
        m.unrecovered
    );
    m
}

/// Send `signal` to the node on `port` (by the pid `.ci/with-redis-cluster` recorded).
fn signal(c: &Cluster, port: u16, signal: &str) -> String {
    let pid = std::fs::read_to_string(format!("{}/{port}/pid", c.dir)).unwrap();
    let pid = pid.trim().to_owned();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
    pid
}

/// Kill the primary that holds the most of the sessions' families (`kill -9`, by its pid),
/// restart it `down` later (it rejoins as a replica), and return when it was killed. With
/// `lag`, its replica is stopped (`SIGSTOP`) that long before the kill and resumed right
/// after it, and the primary drops its link to it (`CLIENT KILL TYPE replica`): the writes
/// of that time reach the primary only, as with a replica that fell behind.
async fn kill_a_primary(c: &Cluster, owners: &[u16], down: Duration, lag: Duration) -> Instant {
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for o in owners {
        *counts.entry(*o).or_default() += 1;
    }
    let (&victim, _) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    let nodes = topology(c).await;
    let id = &nodes.iter().find(|n| n.port == victim).unwrap().id;
    let replica = nodes.iter().find(|n| &n.primary_id == id).unwrap().port;
    if !lag.is_zero() {
        // Stop the replica, then have the primary drop its link: whatever the primary writes
        // from here on reaches it alone (as when a replica fell behind or its link broke).
        signal(c, replica, "-STOP");
        let mut conn = node(victim).await.unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .query_async(&mut conn)
            .await
            .unwrap();
        tokio::time::sleep(lag).await;
    }
    let pid = signal(c, victim, "-9");
    let struck = Instant::now();
    if !lag.is_zero() {
        signal(c, replica, "-CONT");
    }
    println!(
        "killed the primary on port {victim} (pid {pid}), holding {} sessions; its replica {replica} \
         {}",
        counts[&victim],
        if lag.is_zero() {
            "in step".to_owned()
        } else {
            format!("stopped for {lag:?} before")
        }
    );
    let start = c.start_node.clone();
    tokio::spawn(async move {
        tokio::time::sleep(down).await;
        let status = tokio::process::Command::new(&start)
            .arg(victim.to_string())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "restart node {victim}");
    });
    struck
}

/// Every node forgets its scripts (`SCRIPT FLUSH`, as a restarted or new node has none): the
/// store sends a script again, in both durability modes (with `WAIT`, the write and its `WAIT`
/// are sent again together). Here rather than in `tests/cluster`, whose tests run at once and
/// would see each other's scripts go.
async fn scripts_flushed(c: &Cluster) {
    let now = SystemClock.now_unix();
    let wait = Durability::WaitForReplica {
        timeout: Duration::from_secs(2),
    };
    for durability in [Durability::Primary, wait] {
        let ns = format!("failover-scripts-{durability:?}-{}", std::process::id())
            .replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "");
        let options = RedisOptions::default()
            .namespace(&ns)
            .durability(durability);
        let store = RedisStore::connect(&c.urls, options).await.unwrap();
        for id in 0..8u8 {
            let mut conn = store.connection();
            let () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut conn)
                .await
                .unwrap();
            let first = store.insert_replay_id(&[id; 32], now + 60, now).await;
            assert_eq!(first.unwrap(), InsertOutcome::Inserted, "{durability:?}");
            let again = store.insert_replay_id(&[id; 32], now + 60, now).await;
            assert_eq!(again.unwrap(), InsertOutcome::Exists, "{durability:?}");
        }
    }
    println!("scripts flushed: every write sent its script again");
}

/// A connection dropped while its `WAIT` waits (the replica stopped, the primary dropping that
/// client): the client library re-sends what was in flight on a new connection, where a lone
/// `WAIT` (that connection wrote nothing) is answered at once by any replica still linked, so
/// the write was reported replicated (`Inserted`). The store sends each write with its `WAIT`
/// in one pipeline: the re-sent pair makes the write again (it finds the id: `Exists`), or
/// times out while the client library rebuilds the connection (its waits grow with each
/// drop), and never reports the first write replicated on another connection's word.
async fn dropped_wait(c: &Cluster) {
    let ns = format!("failover-dropped-wait-{}", std::process::id());
    // Under the client's response timeout (2 s), long enough to find the blocked `WAIT` on a
    // loaded machine.
    let wait = Durability::WaitForReplica {
        timeout: Duration::from_millis(1500),
    };
    let options = RedisOptions::default().namespace(&ns).durability(wait);
    let store = RedisStore::connect(&c.urls, options).await.unwrap();
    let now = SystemClock.now_unix();
    let mut answers = Vec::new();
    for i in 0..8u8 {
        let id = [i.wrapping_mul(31).wrapping_add(7); 32];
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{ns}:r:{{{hex}}}");
        let nodes = topology(c).await;
        let mut any = node(nodes.iter().find(|n| n.primary).unwrap().port)
            .await
            .unwrap();
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut any)
            .await
            .unwrap();
        let primary = owner(&nodes, slot);
        let primary_id = &nodes.iter().find(|n| n.port == primary).unwrap().id;
        let replica = nodes
            .iter()
            .find(|n| &n.primary_id == primary_id)
            .unwrap()
            .port;

        // First a write of another id on that primary (retried until the store answers): the
        // store's connection to it is up again (an earlier round dropped one; the client
        // library rebuilds it after a wait), the node has the script (`scripts_flushed`
        // left some without it). Without it, a pipeline whose script the node lacked (`NOSCRIPT`, so the write did
        // not run) could still block in its `WAIT`, for the index entry the same call had
        // just written on that connection: a blocked `WAIT` would not mean the write ran.
        let mut sibling = [0u8; 32];
        for j in 0u16.. {
            sibling[..2].copy_from_slice(&j.to_be_bytes());
            sibling[2] = i;
            let hex: String = sibling.iter().map(|b| format!("{b:02x}")).collect();
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(format!("{ns}:r:{{{hex}}}"))
                .query_async(&mut any)
                .await
                .unwrap();
            if owner(&nodes, slot) == primary {
                break;
            }
        }
        let deadline = Instant::now() + RECOVERY_BOUND;
        while let Err(e) = store.insert_replay_id(&sibling, now + 600, now).await {
            assert!(Instant::now() < deadline, "no write through {primary}: {e}");
            tokio::time::sleep(RETRY_PAUSE).await;
        }

        // The replica stopped, the write sent; while its `WAIT` blocks (flag `b`: that is
        // the write's own connection, and with the script loaded the write ran before it),
        // the primary drops that client, not its replica.
        signal(c, replica, "-STOP");
        let write = tokio::spawn({
            let store = store.clone();
            async move { store.insert_replay_id(&id, now + 600, now).await }
        });
        let mut admin = node(primary).await.unwrap();
        let mut waiting: Vec<String> = Vec::new();
        let mut clients = String::new();
        while waiting.is_empty() && !write.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            clients = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut admin)
                .await
                .unwrap();
            waiting = clients
                .lines()
                .filter(|l| {
                    let mut fields = l.split(' ');
                    fields.clone().any(|f| f == "cmd=wait")
                        && fields.any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('b')))
                })
                .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
                .map(str::to_owned)
                .collect();
        }
        for client_id in &waiting {
            let _: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(client_id)
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        let answer = write.await.unwrap();
        signal(c, replica, "-CONT");
        assert_eq!(
            waiting.len(),
            1,
            "round {i}: one connection blocked in its `WAIT`: {clients}"
        );
        assert!(
            !matches!(answer, Ok(InsertOutcome::Inserted)),
            "a write no replica acknowledged is not reported written: {answer:?}"
        );
        answers.push(format!("{answer:?}"));
        // The write did reach the primary (its `WAIT` blocked on its connection): the id is
        // there (once the replica is back).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.insert_replay_id(&id, now + 600, now).await.unwrap(),
            InsertOutcome::Exists,
            "round {i}: the dropped write answered {answer:?}"
        );
    }
    println!(
        "dropped WAIT: 8 writes whose connection the primary dropped while they waited for \
         the stopped replica answered {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failovers() {
    let Some(c) = cluster() else {
        return;
    };
    wait_healthy(&c).await;

    // (0) Scripts forgotten by every node; a write's `WAIT` answers for that write only on
    // the write's connection.
    scripts_flushed(&c).await;
    dropped_wait(&c).await;
    println!("healthy again after {:.2?}", wait_healthy(&c).await);

    // (a) A manual failover: graceful, the replica takes over once it has every write.
    let a = phase(&c, "manual", Durability::Primary, |owners| {
        let c = &c;
        async move {
            let nodes = topology(c).await;
            let busiest = owners
                .iter()
                .max_by_key(|p| owners.iter().filter(|o| o == p).count())
                .unwrap();
            let primary = nodes.iter().find(|n| n.port == *busiest).unwrap();
            let replica = nodes.iter().find(|n| n.primary_id == primary.id).unwrap();
            let mut conn = node(replica.port).await.unwrap();
            let () = redis::cmd("CLUSTER")
                .arg("FAILOVER")
                .query_async(&mut conn)
                .await
                .unwrap();
            let struck = Instant::now();
            println!(
                "CLUSTER FAILOVER sent to replica {} of primary {}",
                replica.port, primary.port
            );
            struck
        }
    })
    .await;
    assert_eq!(
        a.other_errors, 0,
        "only Error::Store reaches a client during a manual failover"
    );
    assert!(
        a.failed_sessions.is_empty(),
        "no session ends: {:?}",
        a.failed_sessions
    );
    assert_eq!(a.unrecovered, 0, "every session refreshes again");
    assert_eq!(a.revoked, 0, "nothing revoked");
    assert_eq!(a.lost_rotations, 0, "no rotation lost");
    assert_eq!(a.forked, 0, "no fork");
    assert_eq!(a.unanswered_reuse, 0, "nothing taken for reuse");
    println!("healthy again after {:.2?}", wait_healthy(&c).await);

    // (b) A primary killed, writes acknowledged by the primary alone: its replica in step
    // (on loopback it is a fraction of a millisecond behind), then lagging a second.
    let down = Duration::from_secs(6);
    let lag = Duration::from_secs(4);
    let b = phase(&c, "kill-async", Durability::Primary, |owners| {
        let c = &c;
        async move { kill_a_primary(c, &owners, down, Duration::ZERO).await }
    })
    .await;
    println!("healthy again after {:.2?}", wait_healthy(&c).await);
    let bl = phase(&c, "kill-async-lagging", Durability::Primary, |owners| {
        let c = &c;
        async move { kill_a_primary(c, &owners, down, lag).await }
    })
    .await;
    println!("healthy again after {:.2?}", wait_healthy(&c).await);

    // (b) The same with WAIT 1 after each write, the replica lagging.
    let wait = Durability::WaitForReplica {
        timeout: Duration::from_millis(500),
    };
    let w = phase(&c, "kill-wait-lagging", wait, |owners| {
        let c = &c;
        async move { kill_a_primary(c, &owners, down, lag).await }
    })
    .await;
    println!("healthy again after {:.2?}", wait_healthy(&c).await);

    // What the design guarantees, in both modes: the store never holds a rotation its
    // client did not get (no fork), the sessions recover within the bound, and the only
    // errors are typed (a lost rotation shows as a generation ahead of the family, never
    // as anything but an `InvalidGrant` or a reuse).
    for m in [&b, &bl, &w] {
        assert_eq!(m.forked, 0, "no fork");
        assert!(
            m.recovery < RECOVERY_BOUND,
            "recovered within {RECOVERY_BOUND:?}"
        );
        assert_eq!(
            m.unrecovered, 0,
            "every session answered Error::Store refreshes again or ends"
        );
        assert_eq!(
            m.other_errors, 0,
            "only Error::Store while the cluster fails over"
        );
    }
    // With WAIT 1 and one replica per primary, the promoted replica acknowledged every
    // write whose refresh succeeded: no acknowledged rotation is lost, no old token returns.
    assert_eq!(w.lost_rotations, 0, "WAIT 1: no acknowledged rotation lost");
    assert_eq!(
        w.old_tokens_usable_again, 0,
        "WAIT 1: no old token usable again"
    );
}

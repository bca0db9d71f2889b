//! `Engine::refresh` over PostgreSQL, loopback: the round trip of a whole refresh (parse and
//! MAC check, load, decide, compare-and-swap, access token), median and p99 over 10,000
//! refreshes by one client, then 32 concurrent clients on distinct families (throughput), and
//! the SQL statements per refresh.
//!
//! Run: `.ci/with-postgres cargo bench -p token-engine-postgres --bench pg_refresh` (a
//! throwaway PostgreSQL 15), or with `DATABASE_URL` pointing at a server where you may create
//! a database. `-- --test`: a short run that only checks it works (CI).
//!
//! Durability: by default every connection runs with `synchronous_commit = on` (each
//! rotation waits for its WAL flush, so the figures follow the disk's flush time).
//! `TOKEN_ENGINE_PG_SYNCHRONOUS_COMMIT=off` runs the single-client and 32-client
//! measurements with `synchronous_commit = off` instead (a crash may lose the last
//! rotations); with `on` (the default) a third, single-client run with `off` follows for
//! comparison.
//!
//! Statements are counted twice: by the store methods the engine calls (each method of
//! `PgStore` is exactly one statement), and, when the server has `pg_stat_statements` loaded
//! (`.ci/with-postgres` does), by the server itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use token_engine::store::OperationId;
use token_engine::store::{CasOutcome, FamilyRecord, InsertOutcome, TokenStore};
use token_engine::{
    Algorithm, Client, Engine, FamilyId, IssueRequest, PolicyVersion, RefreshRequest,
    RefreshSecret, RefreshToken, RevocationReason, SigningKey,
};
use token_engine_postgres::{PgStore, PgStoreError};
use tokio_postgres::{Config, NoTls};

const CLIENTS: usize = 32;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let refreshes: usize = if quick { 320 } else { 10_000 };
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("pg_refresh: SKIPPED (DATABASE_URL is not set)");
        return;
    };
    let admin_config: Config = url.parse().expect("DATABASE_URL");
    let admin = connect(&admin_config).await;
    let name = format!("te_bench_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .await
        .unwrap();
    let mut config = admin_config.clone();
    config.dbname(&name);
    let db = connect(&config).await;
    let stats = db
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .is_ok()
        && db
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await
            .is_ok();
    let version: String = db
        .query_one("SHOW server_version", &[])
        .await
        .unwrap()
        .get(0);
    let synchronous = match std::env::var("TOKEN_ENGINE_PG_SYNCHRONOUS_COMMIT").as_deref() {
        Err(_) | Ok("on") => true,
        Ok("off") => false,
        Ok(other) => panic!("TOKEN_ENGINE_PG_SYNCHRONOUS_COMMIT must be on or off, not {other:?}"),
    };
    let mut measured = config.clone();
    measured.options(if synchronous {
        "-c synchronous_commit=on"
    } else {
        "-c synchronous_commit=off"
    });
    println!(
        "pg_refresh: PostgreSQL {version}, loopback, {} refreshes per run, {} tokio workers, \
         synchronous_commit {}{}",
        refreshes,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if synchronous {
            "on (a durable commit per rotation: the figures follow the disk's flush time)"
        } else {
            "off (TOKEN_ENGINE_PG_SYNCHRONOUS_COMMIT=off: no wait for the WAL flush; a crash \
             may lose the last rotations)"
        },
        if quick { " [--test: a short run]" } else { "" },
    );

    let store = PgStore::connect(measured, NoTls, CLIENTS).unwrap();
    store.migrate().await.unwrap();
    let counted = Counting::new(store);
    let engine = build_engine(counted.clone());

    single_client(&engine, &counted, &db, stats, refreshes, "single client").await;
    concurrent_clients(&engine, &counted, &db, stats, refreshes).await;

    if !synchronous {
        drop((engine, counted, db));
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
        return;
    }
    // For comparison only: the same single client without waiting for the WAL flush of
    // each commit (not a recommendation: a crash may then lose a rotation).
    let mut async_commit = config.clone();
    async_commit.options("-c synchronous_commit=off");
    let store = Counting::new(PgStore::connect(async_commit, NoTls, CLIENTS).unwrap());
    let engine = build_engine(store.clone());
    single_client(
        &engine,
        &store,
        &db,
        stats,
        refreshes,
        "single client, synchronous_commit off (comparison)",
    )
    .await;

    drop((engine, counted, db));
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

fn build_engine(store: Counting) -> Engine<Counting> {
    // The defaults (grace 5 s, policy versions re-read every 5 s), the system clock, HS256
    // access tokens (the cheapest signature: the store's share shows).
    Engine::builder()
        .issuer("https://as.example")
        .audience("https://api.example")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&[42; 32]).unwrap())
        .build(store)
        .unwrap()
}

fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

async fn login(engine: &Engine<Counting>, subject: &str) -> RefreshToken {
    engine
        .issue(&client(), IssueRequest::new(subject))
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

async fn refresh(engine: &Engine<Counting>, token: &RefreshToken) -> RefreshToken {
    engine
        .refresh(&client(), token.expose_secret(), RefreshRequest::default())
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

async fn single_client(
    engine: &Engine<Counting>,
    store: &Counting,
    db: &tokio_postgres::Client,
    stats: bool,
    n: usize,
    label: &str,
) {
    let mut token = login(engine, "solo").await;
    for _ in 0..200 {
        token = refresh(engine, &token).await; // warm-up: connections, prepared statements
    }
    reset(store, db, stats).await;
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        token = refresh(engine, &token).await;
        latencies.push(t.elapsed());
    }
    let wall = start.elapsed();
    report(label, &mut latencies, wall);
    statements(store, db, stats, n, wall).await;
}

async fn concurrent_clients(
    engine: &Engine<Counting>,
    store: &Counting,
    db: &tokio_postgres::Client,
    stats: bool,
    n: usize,
) {
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        tokens.push(login(engine, &format!("user-{i}")).await);
    }
    // Warm-up, concurrently: every connection of the pool made, its statements prepared.
    let warm: Vec<_> = tokens
        .into_iter()
        .map(|mut token| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    token = refresh(&engine, &token).await;
                }
                token
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in warm {
        tokens.push(t.await.unwrap());
    }
    reset(store, db, stats).await;
    let per_client = n / CLIENTS;
    let start = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|mut token| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    token = refresh(&engine, &token).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    report(
        &format!("{CLIENTS} concurrent clients, distinct families"),
        &mut latencies,
        wall,
    );
    statements(store, db, stats, per_client * CLIENTS, wall).await;
}

fn report(label: &str, latencies: &mut [Duration], wall: Duration) {
    latencies.sort();
    let n = latencies.len();
    let rank = |q: f64| latencies[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let mean = latencies.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    println!(
        "pg_refresh: {label}: {n} refreshes, median {:.0} µs, p99 {:.0} µs, mean {:.0} µs, \
         max {:.0} µs; {:.0} refreshes/s",
        us(rank(0.5)),
        us(rank(0.99)),
        us(mean),
        us(latencies[n - 1]),
        n as f64 / wall.as_secs_f64(),
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn reset(store: &Counting, db: &tokio_postgres::Client, stats: bool) {
    store.reset();
    if stats {
        db.batch_execute("SELECT pg_stat_statements_reset()")
            .await
            .unwrap();
    }
}

async fn statements(
    store: &Counting,
    db: &tokio_postgres::Client,
    stats: bool,
    n: usize,
    wall: Duration,
) {
    let per = |c: u64| c as f64 / n as f64;
    let c = store.counts();
    println!(
        "pg_refresh:   store calls per refresh: load_family {:.4}, compare_and_swap_family \
         {:.4}, load_policy {:.4} ({} in {:.1} s), other {:.4}",
        per(c.load),
        per(c.swap),
        per(c.policy),
        c.policy,
        wall.as_secs_f64(),
        per(c.other),
    );
    if !stats {
        println!("pg_refresh:   (pg_stat_statements not loaded: no server-side count)");
        return;
    }
    let rows = db
        .query(
            "SELECT calls, mean_exec_time, query FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND query NOT ILIKE '%pg_stat_statements%' ORDER BY calls DESC",
            &[],
        )
        .await
        .unwrap();
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(0)).sum();
    println!(
        "pg_refresh:   server (pg_stat_statements): {:.4} statements per refresh",
        per(u64::try_from(total).unwrap())
    );
    for r in rows {
        let calls: i64 = r.get(0);
        let mean_ms: f64 = r.get(1);
        let query: String = r.get(2);
        println!(
            "pg_refresh:     {:.4} per refresh, {:.0} µs in the server each: {}",
            calls as f64 / n as f64,
            mean_ms * 1000.0,
            label(&query),
        );
    }
}

/// `UPDATE token_families WHERE id = $1 AND version = $26`: the verb, the table and the
/// condition of a statement, without its column lists.
fn label(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let verb = words.first().copied().unwrap_or("");
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1).copied())
    };
    let table = after("FROM")
        .or_else(|| after("UPDATE"))
        .or_else(|| after("INTO"))
        .unwrap_or("");
    let condition = query.find(" WHERE ").map_or("", |i| &query[i..]);
    format!("{verb} {table}{condition}")
}

/// The store, counting the calls the engine makes (each `PgStore` method is one statement).
#[derive(Clone)]
struct Counting {
    inner: PgStore,
    counts: Arc<[AtomicU64; 4]>,
}

struct Counts {
    load: u64,
    swap: u64,
    policy: u64,
    other: u64,
}

const LOAD: usize = 0;
const SWAP: usize = 1;
const POLICY: usize = 2;
const OTHER: usize = 3;

impl Counting {
    fn new(inner: PgStore) -> Self {
        Self {
            inner,
            counts: Arc::new(Default::default()),
        }
    }

    fn count(&self, i: usize) {
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn counts(&self) -> Counts {
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        Counts {
            load: c(LOAD),
            swap: c(SWAP),
            policy: c(POLICY),
            other: c(OTHER),
        }
    }
}

impl TokenStore for Counting {
    type Error = PgStoreError;

    async fn create_family(&self, r: &FamilyRecord) -> Result<InsertOutcome, PgStoreError> {
        self.count(OTHER);
        self.inner.create_family(r).await
    }
    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, PgStoreError> {
        self.count(LOAD);
        self.inner.load_family(id).await
    }
    async fn compare_and_swap_family(
        &self,
        v: u64,
        r: &FamilyRecord,
    ) -> Result<CasOutcome, PgStoreError> {
        self.count(SWAP);
        self.inner.compare_and_swap_family(v, r).await
    }
    async fn list_families(&self, s: &str) -> Result<Vec<FamilyRecord>, PgStoreError> {
        self.count(OTHER);
        self.inner.list_families(s).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        reason: RevocationReason,
        at: i64,
        op: OperationId,
    ) -> Result<u64, PgStoreError> {
        self.count(OTHER);
        self.inner.revoke_subject(s, reason, at, op).await
    }
    async fn load_policy(&self, t: Option<&str>) -> Result<Option<PolicyVersion>, PgStoreError> {
        self.count(POLICY);
        self.inner.load_policy(t).await
    }
    async fn save_policy(
        &self,
        t: Option<&str>,
        v: Option<PolicyVersion>,
    ) -> Result<(), PgStoreError> {
        self.count(OTHER);
        self.inner.save_policy(t, v).await
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, PgStoreError> {
        self.count(OTHER);
        self.inner.delete_expired(now).await
    }
}

async fn connect(config: &Config) -> tokio_postgres::Client {
    let (client, conn) = config.connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

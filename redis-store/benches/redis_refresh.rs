//! `Engine::refresh` over Redis Cluster, loopback: the round trip of a whole refresh (parse
//! and MAC check, load, decide, compare-and-swap, access token), median and p99 over 10,000
//! refreshes by one client, then 32 concurrent clients on distinct families (throughput), the
//! commands per refresh (from `INFO commandstats` on every primary, before and after), and
//! the memory a session takes (`used_memory` of the primaries, before and after 10,000
//! logins, and `MEMORY USAGE` of one family's hash). Then the single client again with
//! `Durability::WaitForReplica` (`WAIT 1` behind each write and each family read, in the
//! same pipeline), for comparison.
//!
//! `INFO commandstats` counts the commands a script runs as well: a refresh's two round
//! trips (`HGETALL`, `EVALSHA`) show as five commands (the swap script's `HMGET`, `HSET`, and
//! `HDEL` of the optional fields the record leaves absent, such as a tenant).
//!
//! Run: `.ci/with-redis-cluster cargo bench -p token-engine-redis --bench redis_refresh` (a
//! throwaway six-node cluster), or with `REDIS_CLUSTER_URLS` pointing at a cluster where you
//! may write under a fresh namespace. `-- --test`: a short run that only checks it works (CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use token_engine::{
    Algorithm, Client, Engine, IssueRequest, RefreshKeys, RefreshRequest, RefreshSecret,
    RefreshToken, SigningKey,
};
use token_engine_redis::redis;
use token_engine_redis::{Durability, RedisOptions, RedisStore};

const CLIENTS: usize = 32;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let refreshes: usize = if quick { 320 } else { 10_000 };
    let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") else {
        println!("redis_refresh: SKIPPED (REDIS_CLUSTER_URLS is not set)");
        return;
    };
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let primaries = primaries(&urls).await;
    let version = info(&primaries[0], "server")
        .await
        .get("redis_version")
        .cloned()
        .unwrap_or_default();
    println!(
        "redis_refresh: Redis {version} cluster ({} primaries, each with a replica), loopback, \
         {refreshes} refreshes per run, {} tokio workers, no persistence (replication only){}",
        primaries.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if quick { " [--test: a short run]" } else { "" },
    );
    let ns = format!("bench-{}", std::process::id());
    let options = RedisOptions::default().namespace(&ns);
    let store = RedisStore::connect(&urls, options.clone()).await.unwrap();
    let engine = build_engine(store.clone());

    memory(&engine, &store, &primaries, refreshes).await;
    single_client(&engine, &primaries, refreshes, "single client").await;
    concurrent_clients(&engine, &primaries, refreshes).await;

    let wait = options.durability(Durability::WaitForReplica {
        timeout: Duration::from_millis(500),
    });
    let engine = build_engine(RedisStore::connect(&urls, wait).await.unwrap());
    single_client(
        &engine,
        &primaries,
        refreshes,
        "single client, WAIT 1 after each write and family read (comparison)",
    )
    .await;
}

fn build_engine(store: RedisStore) -> Engine<RedisStore> {
    // As pg_refresh: the defaults, the system clock, HS256 access tokens.
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

async fn login(engine: &Engine<RedisStore>, subject: &str) -> RefreshToken {
    engine
        .issue(&client(), IssueRequest::new(subject))
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

async fn refresh(engine: &Engine<RedisStore>, token: &RefreshToken) -> RefreshToken {
    engine
        .refresh(&client(), token.expose_secret(), RefreshRequest::default())
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

async fn node(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn primaries(urls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for url in urls {
        if info(url, "replication")
            .await
            .get("role")
            .map(String::as_str)
            == Some("master")
        {
            out.push(url.clone());
        }
    }
    out
}

/// `INFO section` of one node as a map.
async fn info(url: &str, section: &str) -> BTreeMap<String, String> {
    let mut c = node(url).await;
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut c)
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Calls per command, summed over the primaries.
async fn command_calls(primaries: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for p in primaries {
        for (k, v) in info(p, "commandstats").await {
            let Some(cmd) = k.strip_prefix("cmdstat_") else {
                continue;
            };
            let calls = v
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0);
            *out.entry(cmd.to_owned()).or_default() += calls;
        }
    }
    out
}

/// The commands of `n` refreshes: the delta of `before`, without the bench's own `INFO`s.
async fn commands(primaries: &[String], before: &BTreeMap<String, u64>, n: usize) {
    let after = command_calls(primaries).await;
    let mut total = 0;
    let mut parts = Vec::new();
    for (cmd, calls) in &after {
        // The bench's own INFO, and replication traffic (a replica's REPLCONF ACK).
        if cmd == "info" || cmd == "replconf" {
            continue;
        }
        let d = calls - before.get(cmd).copied().unwrap_or(0);
        if d > 0 {
            total += d;
            parts.push(format!("{cmd} {:.4}", d as f64 / n as f64));
        }
    }
    println!(
        "redis_refresh:   server (INFO commandstats, primaries; a script's own calls count \
         too): {:.4} commands per refresh: {}",
        total as f64 / n as f64,
        parts.join(", ")
    );
}

async fn single_client(engine: &Engine<RedisStore>, primaries: &[String], n: usize, label: &str) {
    let mut token = login(engine, "solo").await;
    for _ in 0..200 {
        token = refresh(engine, &token).await; // warm-up: connections, scripts loaded
    }
    let before = command_calls(primaries).await;
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        token = refresh(engine, &token).await;
        latencies.push(t.elapsed());
    }
    let wall = start.elapsed();
    report(label, &mut latencies, wall);
    commands(primaries, &before, n).await;
}

async fn concurrent_clients(engine: &Engine<RedisStore>, primaries: &[String], n: usize) {
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        tokens.push(login(engine, &format!("user-{i}")).await);
    }
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
    let before = command_calls(primaries).await;
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
    commands(primaries, &before, per_client * CLIENTS).await;
}

/// What a session costs in memory: `n` logins (and one refresh each, so the record has its
/// usual contents), the primaries' `used_memory` before and after, and one family's hash.
async fn memory(engine: &Engine<RedisStore>, store: &RedisStore, primaries: &[String], n: usize) {
    let used = || async {
        let mut total = 0u64;
        for p in primaries {
            total += info(p, "memory").await["used_memory"]
                .parse::<u64>()
                .unwrap();
        }
        total
    };
    let before = used().await;
    let mut last = None;
    for i in 0..n {
        let t = login(engine, &format!("user-{i:08}@example.com")).await;
        last = Some(refresh(engine, &t).await);
    }
    let after = used().await;
    let keys = RefreshKeys::new(RefreshSecret::from_bytes(&[42; 32]).unwrap());
    let family = keys.parse(last.unwrap().expose_secret()).unwrap().family();
    let hex: String = family
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("{}:f:{{{hex}}}", store.namespace());
    let mut conn = store.connection();
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    println!(
        "redis_refresh: memory per session: {:.0} bytes on the primaries (used_memory over {n} \
         logins: family hash, subject index entry, expiry index entry; as much again on the \
         replicas); one family's hash: MEMORY USAGE {usage} bytes, encoding {encoding}",
        after.saturating_sub(before) as f64 / n as f64
    );
}

fn report(label: &str, latencies: &mut [Duration], wall: Duration) {
    latencies.sort();
    let n = latencies.len();
    let rank = |q: f64| latencies[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let mean = latencies.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    println!(
        "redis_refresh: {label}: {n} refreshes, median {:.0} µs, p99 {:.0} µs, mean {:.0} µs, \
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

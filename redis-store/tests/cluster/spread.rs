//! A key set spread over every primary: families keyed by uniform random ids land on all
//! three, and refreshes work on each.

use std::collections::HashMap;

use token_engine::{RefreshRequest, TokenStore};
use token_engine_redis::RedisOptions;
use token_engine_redis::redis::{self, AsyncCommands};

use crate::common::*;

/// A direct (non-cluster) connection to one node.
pub async fn node(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The primaries: URL of each node whose `ROLE` is `master`.
pub async fn primaries(urls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for url in urls {
        let mut c = node(url).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
        if matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
            out.push(url.clone());
        }
    }
    out
}

/// The slot ranges each primary owns, from `CLUSTER SLOTS`: (first, last, port).
async fn slot_owners(url: &str) -> Vec<(i64, i64, i64)> {
    let mut c = node(url).await;
    let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut c)
        .await
        .unwrap();
    let int = |v: &redis::Value| match v {
        redis::Value::Int(i) => *i,
        other => panic!("CLUSTER SLOTS: {other:?}"),
    };
    slots
        .iter()
        .map(|range| {
            let redis::Value::Array(primary) = &range[2] else {
                panic!("CLUSTER SLOTS: {range:?}");
            };
            (int(&range[0]), int(&range[1]), int(&primary[1]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn families_spread_over_every_primary() {
    const FAMILIES: usize = 300;
    let Some(urls) = cluster("families_spread_over_every_primary") else {
        return;
    };
    let ns = fresh_namespace("spread");
    let s = server(
        store_in(&urls, RedisOptions::default().namespace(&ns)).await,
        T0,
        5,
    );
    let mut tokens = Vec::new();
    for i in 0..FAMILIES {
        tokens.push(login(&s, &format!("user-{i}")).await);
    }
    // Where each family key lives: its slot (CLUSTER KEYSLOT), and that slot's primary.
    let owners = slot_owners(&urls[0]).await;
    let mut c = node(&urls[0]).await;
    let mut per_primary: HashMap<i64, usize> = HashMap::new();
    for t in &tokens {
        let id = family_of(t);
        let hex: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{ns}:f:{{{hex}}}");
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let port = owners
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, p)| *p)
            .expect("every slot has a primary");
        *per_primary.entry(port).or_default() += 1;
    }
    println!("families per primary (port: count): {per_primary:?}");
    assert_eq!(per_primary.len(), 3, "families on every primary");
    for (&port, &n) in &per_primary {
        assert!(
            n >= FAMILIES / 6,
            "primary {port} holds only {n} of {FAMILIES}"
        );
    }
    // Each primary really holds them: SCAN on each for the namespace's family keys.
    let mut scanned = 0;
    for url in primaries(&urls).await {
        let mut c = node(&url).await;
        let keys: Vec<String> = {
            let mut it: redis::AsyncIter<String> = c.scan_match(format!("{ns}:f:*")).await.unwrap();
            let mut v = Vec::new();
            while let Some(k) = it.next_item().await {
                v.push(k.unwrap());
            }
            v
        };
        assert!(!keys.is_empty(), "no family on primary {url}");
        scanned += keys.len();
    }
    assert_eq!(scanned, FAMILIES);
    // A refresh of every family works, whichever primary holds it.
    for t in &tokens {
        s.engine
            .refresh(&client(), t.expose_secret(), RefreshRequest::default())
            .await
            .unwrap();
        let f = s
            .engine
            .store()
            .load_family(&family_of(t))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.generation, 1);
    }
}

//! Failures are errors that say what the server said; a stored value the store did not
//! write is refused, not misread.

use token_engine::TokenStore;
use token_engine_redis::RedisOptions;
use token_engine_redis::redis::AsyncCommands;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_errors_show_the_servers_message() {
    let Some(urls) = cluster("server_errors_show_the_servers_message") else {
        return;
    };
    let ns = fresh_namespace("errors");
    let store = store_in(&urls, RedisOptions::default().namespace(&ns)).await;
    // The global policy key holding a hash, not a string: the server refuses the GET.
    let mut conn = store.connection();
    let _: i64 = conn.hset(format!("{ns}:p:g"), "x", "y").await.unwrap();
    let e = store.load_policy(None).await.unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("WRONGTYPE"), "{shown}");
    // A policy version that is not `major.minor`: refused as corrupt.
    let _: () = conn.set(format!("{ns}:p:t:74"), "four").await.unwrap();
    let e = store.load_policy(Some("t")).await.unwrap_err();
    assert!(e.to_string().contains("malformed"), "{e}");
}

#[tokio::test]
async fn no_server_is_an_error() {
    // A loopback port nobody listens on (the discard port).
    let r =
        token_engine_redis::RedisStore::connect(&["redis://127.0.0.1:9"], RedisOptions::default())
            .await;
    assert!(r.is_err());
}

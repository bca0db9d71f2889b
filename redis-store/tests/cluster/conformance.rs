//! The whole conformance kit, every group, each check on a fresh namespace; its races run
//! across two stores with their own cluster connections over that namespace.

use token_engine_redis::RedisOptions;

use crate::common::{cluster, fresh_store, store_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_kit() {
    let Some(urls) = cluster("conformance_kit") else {
        return;
    };
    let other = |s: &token_engine_redis::RedisStore| {
        let options = RedisOptions::default().namespace(s.namespace());
        let urls = urls.clone();
        async move { store_in(&urls, options).await }
    };
    token_engine::store::conformance::run_all(|| fresh_store(&urls, "kit"), &other).await;
    token_engine::store::conformance::run_client_store(|| fresh_store(&urls, "kit"), other).await;
}

/// The same with `WAIT 1` after each write (and each family read).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_kit_waiting_for_a_replica() {
    let Some(urls) = cluster("conformance_kit_waiting_for_a_replica") else {
        return;
    };
    let wait = token_engine_redis::Durability::WaitForReplica {
        timeout: std::time::Duration::from_secs(2),
    };
    let make = || {
        let options = RedisOptions::default()
            .namespace(crate::common::fresh_namespace("kit-wait"))
            .durability(wait);
        store_in(&urls, options)
    };
    let other = |s: &token_engine_redis::RedisStore| {
        let options = RedisOptions::default()
            .namespace(s.namespace())
            .durability(wait);
        let urls = urls.clone();
        async move { store_in(&urls, options).await }
    };
    token_engine::store::conformance::run_all(make, other).await;
}

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
    token_engine::store::conformance::run_all(|| fresh_store(&urls, "kit"), other).await;
}

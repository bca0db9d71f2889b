//! `MemoryStore` passes the conformance kit.

use token_engine::MemoryStore;
use token_engine::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_kit() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refresh_is_stable_over_many_races() {
    // The race is timing-dependent: run it many times on fresh stores.
    for _ in 0..20 {
        conformance::concurrent_refresh_with_grace(std::sync::Arc::new(MemoryStore::new())).await;
        conformance::concurrent_refresh_without_grace(std::sync::Arc::new(MemoryStore::new()))
            .await;
    }
}

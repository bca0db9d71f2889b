//! `MemoryStore` passes the conformance kit.

use token_engine::MemoryStore;
use token_engine::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_kit() {
    // A clone shares the store's state: the kit's second instance over the same storage.
    let other = |s: &MemoryStore| {
        let s = s.clone();
        async move { s }
    };
    conformance::run_all(|| async { MemoryStore::new() }, other).await;
    conformance::run_client_store(|| async { MemoryStore::new() }, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refresh_is_stable_over_many_races() {
    // The race is timing-dependent: run it many times on fresh stores.
    for _ in 0..20 {
        let a = std::sync::Arc::new(MemoryStore::new());
        let b = std::sync::Arc::new((*a).clone());
        conformance::concurrent_refresh_with_grace(a, b).await;
        let a = std::sync::Arc::new(MemoryStore::new());
        let b = std::sync::Arc::new((*a).clone());
        conformance::concurrent_refresh_without_grace(a, b).await;
    }
}

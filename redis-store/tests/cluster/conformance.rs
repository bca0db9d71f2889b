//! The whole conformance kit, every group, each check on a fresh namespace.

use crate::common::{cluster, fresh_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_kit() {
    let Some(urls) = cluster("conformance_kit") else {
        return;
    };
    token_engine::store::conformance::run_all(|| fresh_store(&urls, "kit")).await;
}

//! The whole conformance kit, every group, each check on a fresh schema; its races run
//! across two stores with their own pools over that schema.

use crate::common::database;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_kit() {
    let Some(db) = database("kit").await else {
        return;
    };
    token_engine::store::conformance::run_all(|| db.fresh_store(), |_| db.same_schema_store())
        .await;
    token_engine::store::conformance::run_client_store(
        || db.fresh_store(),
        |_| db.same_schema_store(),
    )
    .await;
    db.drop().await;
}

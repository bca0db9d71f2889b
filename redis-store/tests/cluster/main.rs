//! The Redis Cluster store against a real cluster (`REDIS_CLUSTER_URLS`), one binary. Each
//! store gets a namespace of its own, so the tests run in parallel on one cluster. Without
//! `REDIS_CLUSTER_URLS` every test says it was skipped and passes; with
//! `TOKEN_ENGINE_REDIS_REQUIRED` set (CI) a missing cluster fails instead.
//!
//! `.ci/with-redis-cluster cargo test -p token-engine-redis` runs them against a throwaway
//! six-node cluster.

// Test code: a panic is a test failure, which is what these lints would prevent elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod conformance;
mod errors;
mod instances;
mod spread;

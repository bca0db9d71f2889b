//! The PostgreSQL store against a real server (`DATABASE_URL`), one binary. Each test makes
//! its own database (and a schema per store), so the tests run in parallel and leave
//! nothing behind when they pass. Without `DATABASE_URL` every test says it was skipped and
//! passes; with `TOKEN_ENGINE_PG_REQUIRED` set (CI) a missing `DATABASE_URL` fails instead.
//!
//! `.ci/with-postgres cargo test -p token-engine-postgres` runs them against a throwaway
//! PostgreSQL 15.

// Test code: a panic is a test failure, which is what these lints would prevent elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod agents;
mod common;
mod conformance;
mod failures;
mod instances;
mod limiter;
mod proxy;
mod reference;
mod schema;

//! Test-vector runners: RFC examples and Wycheproof files, run through the public API.
//!
//! The data lives in `tests/data/` (copied with its licences; see `tests/data/README.md`).
//! Every runner counts what it ran and prints the counts with `eprintln!` (see them with
//! `cargo test --test vectors -- --nocapture`). Labels are followed exactly, except for the
//! cases in the exception lists of `wycheproof_jws`, each asserted to behave as documented.

// Test code: panicking on bad test data, and indexing into known-good vectors, is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod vectors {
    pub mod common;
    mod rfc;
    mod wycheproof_jws;
    mod wycheproof_sig;
}

//! Integration tests of the JOSE layer: key import and hygiene, named attack tests, the
//! verifier end to end, key rotation, RFC conformance of the parsers (`interop`) and their
//! properties (`spelling`).

// Test code: a panic is a test failure, which is what these lints would prevent elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attacks;
mod backend;
mod cache;
mod common;
mod interop;
mod keys;
mod rotation;
mod spelling;
mod verify;

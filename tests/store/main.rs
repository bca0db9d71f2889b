//! Refresh-token families end to end on the store: the conformance kit on `MemoryStore`,
//! the rotation state machine through `decide`, property tests, and the security tests.

// Test code: a panic is a test failure, which is what these lints would prevent elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod broken;
mod conformance;
mod kit_mutations;
mod security;

//! Nothing to use here: this package holds token-engine's server examples (`axum_backend`,
//! `resource_server`, `authorization_server`, run from the repository root with
//! `cargo run --example <name>`), their interop tests, and the README's doc tests.

/// The README's examples, compiled and run as doc tests so the README stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

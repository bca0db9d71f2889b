//! Integration tests of the `Engine` facade, end to end on `MemoryStore` with a manual clock
//! and a collecting event sink: issue, expiry, refresh and rotation, reuse detection and the
//! grace retry, revocation, policy versions, introspection, sessions, events, the wire JSON,
//! builder validation, and sharing one engine between clones.

// Test code: a panic is a test failure, which is what these lints would prevent elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_metadata;
mod code_grant;
mod common;
mod config;
mod device_flow;
mod docs;
mod endpoints;
mod events;
mod exchange_and_id;
mod expiry;
mod faults;
mod instances;
mod introspection;
mod issue;
mod par;
mod policy;
mod reference;
mod refresh;
mod registration;
mod resources;
mod reuse;
mod revocation;
mod sender_constrained;
mod serialization;
mod sessions;
mod shared;
mod token_endpoint;

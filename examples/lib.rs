//! Nothing here: this package exists for its examples, `quickstart` and `keygen` (run them
//! from the repository root with `cargo run --example <name>`).

//! Nothing here: this package exists for its benches (`cargo bench` at the repository root).

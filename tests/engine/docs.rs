//! The `Engine` page's task table is how a reader finds a method among the many impl blocks
//! rustdoc lists by file: every public method of `Engine` must be in it.

use std::path::Path;

/// The public methods declared in `impl ... Engine<...> { .. }` blocks of `source`.
fn engine_methods(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_engine = false;
    for line in source.lines() {
        if line.starts_with("impl") {
            in_engine = line.contains(" Engine<") && line.ends_with('{') && !line.contains(" for ");
        } else if line.starts_with('}') {
            in_engine = false;
        } else if in_engine {
            let rest = line
                .strip_prefix("    pub async fn ")
                .or_else(|| line.strip_prefix("    pub fn "));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn every_public_engine_method_is_in_the_task_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let engine = std::fs::read_to_string(src.join("engine.rs")).unwrap();
    let table = &engine[..engine.find("pub struct Engine<S>").unwrap()];
    let mut files = vec![src.join("engine.rs")];
    for entry in std::fs::read_dir(src.join("engine")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut methods = Vec::new();
    for file in &files {
        methods.extend(engine_methods(&std::fs::read_to_string(file).unwrap()));
    }
    // The parser must see the methods it is meant to see.
    for known in [
        "builder",
        "issue",
        "refresh",
        "token_endpoint",
        "registration_endpoint",
    ] {
        assert!(methods.iter().any(|m| m == known), "{known} not found");
    }
    let missing: Vec<&String> = methods
        .iter()
        .filter(|m| {
            !table.contains(&format!("(Engine::{m})")) && !table.contains(&format!("`Engine::{m}`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "public Engine methods missing from the task table in src/engine.rs: {missing:?}"
    );
}

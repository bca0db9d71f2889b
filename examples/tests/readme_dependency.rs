//! The README tells an adopter how to depend on the crate in a way that resolves today: the
//! crate is not on crates.io, so every `token-engine = ...` line in the README's code blocks
//! must name a `path` or `git` source, never a registry version alone (`token-engine =
//! "0.1"` did not resolve, issue 21 item 1).

use std::path::Path;

/// The value of every `token-engine = ...` dependency line inside the README's fenced code
/// blocks (a leading `#` comment marker stripped, so a commented alternative is checked too).
fn dependency_values(readme: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim_start().trim_start_matches('#').trim_start();
        if let Some(rest) = line.strip_prefix("token-engine") {
            // `token-engine-postgres = ...` and the like are other packages.
            if let Some(value) = rest.trim_start().strip_prefix('=') {
                values.push(value.trim().to_owned());
            }
        }
    }
    values
}

/// A dependency value that resolves without a registry: an inline table with `path` or `git`.
fn names_a_source(value: &str) -> bool {
    value.starts_with('{') && (value.contains("path =") || value.contains("git ="))
}

#[test]
fn every_dependency_line_in_the_readme_names_a_path_or_git_source() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!readme.is_empty(), "cannot read {}", path.display());
    let values = dependency_values(&readme);
    assert!(
        !values.is_empty(),
        "the README shows no `token-engine = ...` dependency line"
    );
    let unresolvable: Vec<&String> = values.iter().filter(|v| !names_a_source(v)).collect();
    assert!(
        unresolvable.is_empty(),
        "the crate is not on crates.io, so these README dependency lines do not resolve: \
         {unresolvable:?}"
    );
}

#[test]
fn the_check_refuses_a_registry_version() {
    let readme = "```toml\ntoken-engine = \"0.1\"\n\
                  token-engine = { version = \"0.1\", features = [\"fips\"] }\n\
                  token-engine-postgres = \"0.1\"\n```\n\
                  Outside a block: `token-engine = \"0.1\"` does not resolve.\n";
    let values = dependency_values(readme);
    assert_eq!(values.len(), 2, "{values:?}");
    assert!(values.iter().all(|v| !names_a_source(v)));
    assert!(names_a_source(r#"{ path = "../token-engine" }"#));
    assert!(names_a_source(
        r#"{ git = "<your mirror>", rev = "<commit>" }"#
    ));
}

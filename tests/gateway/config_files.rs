//! Every example config and data file in the repository loads and validates.

use std::path::Path;
use switchboard::config::{DEFAULT_CONFIG, load_str};

#[test]
fn the_embedded_default_config_is_valid() {
    let config = load_str("default", DEFAULT_CONFIG, None, Path::new(".")).unwrap();
    assert!(
        config.listen.ip().is_loopback(),
        "the default must stay on loopback"
    );
    assert!(
        config.keys.iter().all(|k| k.loopback_only),
        "the default key is public: loopback only"
    );
}

#[test]
fn every_example_config_in_the_repository_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in ["examples", "tests/e2e", "."] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let is_config = name.ends_with(".toml")
                && name != "Cargo.toml"
                && name != "clippy.toml"
                && name != "rustfmt.toml";
            if !is_config {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Keys and URLs referenced from the environment are set for the
            // check.
            let placeholder = "hash = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\" # ";
            let text = text
                .replace("value_env = ", placeholder)
                .replace("\nkey_env = ", &format!("\n{placeholder}"))
                .replace(
                    "redis_url_env = ",
                    "redis_url = \"redis://127.0.0.1:6379/0\" # ",
                );
            let text = dedupe_hashes(&text);
            load_str(
                &path.display().to_string(),
                &text,
                None,
                path.parent().unwrap(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked >= 1, "no example config found");
}

/// Make every placeholder hash distinct, as the loader rejects duplicate keys.
fn dedupe_hashes(text: &str) -> String {
    let mut n = 0;
    text.lines()
        .map(|line| {
            if line.starts_with("hash = \"sha256:0000") {
                n += 1;
                format!("hash = \"sha256:{n:064x}\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

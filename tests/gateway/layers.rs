//! The walls between areas. Every top-level module of `src/` has a layer; a
//! module may import (`crate::…`) only from a lower layer, so no import circle
//! can span two areas. The layers, lowest first, are the picture in
//! ARCHITECTURE.md. Test code (`#[cfg(test)]` modules) may import anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. Modules on one line may not import each other.
const LAYERS: &[&[&str]] = &[
    // Shapes every area shares.
    &["shapes", "test_support"],
    &["error", "catalog", "tls", "shared_redis"],
    &["cost", "api"],
    &["tokens"],
    &["seams", "metrics"],
    // Areas, each above what it uses.
    &["auth", "provider"],
    &["routing"],
    &["quota"],
    &[
        "cache",
        "stored_responses",
        "prompts",
        "request_log",
        "traces",
    ],
    &["guardrails"],
    &["openapi"],
    &["mcp"],
    // What composes the areas.
    &["config"],
    &["data_files", "directory", "readiness", "telemetry"],
    &["gateway"],
    &["admin"],
    &["reload", "pipeline", "ui"],
    &["http"],
    &["server"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files that are test modules (`#[cfg(test)] mod name;` in their parent).
fn test_modules(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let declared =
        regex::Regex::new(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod ([a-z_0-9]+);")
            .expect("pattern");
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read source");
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let base = if name == "mod.rs" || name == "lib.rs" {
            file.parent().expect("parent").to_path_buf()
        } else {
            file.with_extension("")
        };
        for found in declared.captures_iter(&text) {
            out.insert(base.join(format!("{}.rs", &found[1])));
            out.insert(base.join(&found[1]));
        }
    }
    out
}

/// Every (importer, imported) pair of top-level modules, with the files.
fn imports(src: &Path) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let tests = test_modules(&files);
    let path_in_crate = regex::Regex::new(r"crate::([a-z_0-9]+)").expect("pattern");
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        if tests.iter().any(|t| file.starts_with(t)) {
            continue;
        }
        let relative = file.strip_prefix(src).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a module")
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        // Inline test modules come last in a file.
        let product = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in product.lines() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for found in path_in_crate.captures_iter(line) {
                let imported = found[1].to_owned();
                if imported != top {
                    out.entry((top.clone(), imported))
                        .or_default()
                        .insert(relative.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn imports_run_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for ((from, to), files) in imports(&src) {
        let (Some(lower), Some(upper)) = (layer_of(&to), layer_of(&from)) else {
            problems.push(format!(
                "`{from}` or `{to}` has no layer: add it to LAYERS ({files:?})"
            ));
            continue;
        };
        if lower >= upper {
            problems.push(format!(
                "`{from}` imports `{to}`, which is not below it: {files:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_has_one_layer() {
    let mut seen = BTreeSet::new();
    for module in LAYERS.iter().flat_map(|layer| layer.iter()) {
        assert!(seen.insert(*module), "`{module}` is on two layers");
    }
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read lib.rs");
    for line in lib.lines() {
        if let Some(name) = line.trim().strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(seen.contains(name), "`{name}` has no layer in LAYERS");
        }
    }
}

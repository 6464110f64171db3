//! Checks of the data folders `switchboard validate` covers besides the
//! config: `providers/`, `guardrails/` (schema in `guardrails::pack`) and `prompts/`.

use crate::catalog::{Catalog, read_toml_dir};
use crate::shapes::ConfigError;
use std::path::Path;

/// Every problem in the data folders under `root`.
pub fn check_all(root: &Path) -> Vec<ConfigError> {
    let mut errors = Catalog::check_dir(&root.join("providers"));
    crate::guardrails::pack::check_dir(&root.join("guardrails"), &mut errors);
    check_dir(
        &root.join("prompts"),
        &mut errors,
        crate::prompts::check_text,
    );
    errors
}

fn check_dir(
    dir: &Path,
    errors: &mut Vec<ConfigError>,
    check: fn(&str, &str, &str) -> Vec<(String, String)>,
) {
    for (path, text) in read_toml_dir(dir, errors) {
        let name = path.display().to_string();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let problems = check(&name, stem, &text);
        if !problems.is_empty() {
            errors.push(ConfigError {
                source_name: name,
                problems,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_repositorys_data_files_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let errors = super::check_all(root);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{}", text.join("\n"));
    }

    #[test]
    fn bad_prompts_are_reported_with_paths() {
        // Rule packs: see `guardrails::pack` tests.
        let problems = crate::prompts::check_text(
            "x.toml",
            "x",
            "name = \"x\"\nversion = 1\ndescription = \"d\"\ntemplate = \"{{ oops\"",
        );
        assert_eq!(problems[0].0, "template");
    }
}

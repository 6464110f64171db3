//! Checks of the data folders `switchboard validate` covers besides the
//! config: `providers/`, `guardrails/` (schema in `guardrails::pack`) and `prompts/`.

use crate::catalog::{Catalog, read_toml_dir};
use crate::shapes::{ConfigError, decode_toml as load_decode};
use serde::Deserialize;
use std::path::Path;

/// A prompt template, as written in `prompts/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptTemplate {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// A minijinja template.
    pub template: String,
    #[serde(default)]
    pub arguments: Vec<String>,
}

/// Every problem in the data folders under `root`.
pub fn check_all(root: &Path) -> Vec<ConfigError> {
    let mut errors = Catalog::check_dir(&root.join("providers"));
    crate::guardrails::pack::check_dir(&root.join("guardrails"), &mut errors);
    check_dir(&root.join("prompts"), &mut errors, check_prompt);
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

fn decode_problems<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
) -> Result<T, Vec<(String, String)>> {
    load_decode(name, text).map_err(|error| error.problems)
}

fn check_prompt(name: &str, stem: &str, text: &str) -> Vec<(String, String)> {
    let prompt: PromptTemplate = match decode_problems(name, text) {
        Ok(prompt) => prompt,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    if prompt.name != stem {
        problems.push((
            "name".into(),
            format!("`{}` must equal the file name `{stem}`", prompt.name),
        ));
    }
    let mut env = minijinja::Environment::new();
    if let Err(error) = env.add_template("prompt", &prompt.template) {
        problems.push(("template".into(), error.to_string()));
    }
    problems
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
        let problems = super::check_prompt(
            "x.toml",
            "x",
            "name = \"x\"\nversion = 1\ndescription = \"d\"\ntemplate = \"{{ oops\"",
        );
        assert_eq!(problems[0].0, "template");
    }
}

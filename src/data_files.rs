//! Checks of the data folders `switchboard validate` covers besides the
//! config: `providers/`, `guardrails/` and `prompts/`.

use crate::catalog::{Catalog, read_toml_dir};
use crate::config::{ConfigError, load_decode};
use serde::Deserialize;
use std::path::Path;

/// A guardrail rule pack, as written in `guardrails/<id>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Pack id; must equal the file name.
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// `regex` or `keywords`.
    pub engine: String,
    /// Any of `input`, `output`, `tool_arguments`, `tool_result`.
    pub phases: Vec<String>,
    /// `block`, `redact` or `flag`.
    pub action: String,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
}

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
    check_dir(&root.join("guardrails"), &mut errors, check_pack);
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

fn check_pack(name: &str, stem: &str, text: &str) -> Vec<(String, String)> {
    let pack: RulePack = match decode_problems(name, text) {
        Ok(pack) => pack,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    if pack.id != stem {
        problems.push((
            "id".into(),
            format!("`{}` must equal the file name `{stem}`", pack.id),
        ));
    }
    for (index, rule) in pack.rules.iter().enumerate() {
        let at = |field: &str| format!("rules[{index}].{field}");
        if !matches!(rule.engine.as_str(), "regex" | "keywords") {
            problems.push((
                at("engine"),
                format!("`{}` is not `regex` or `keywords`", rule.engine),
            ));
        }
        if !matches!(rule.action.as_str(), "block" | "redact" | "flag") {
            problems.push((
                at("action"),
                format!("`{}` is not `block`, `redact` or `flag`", rule.action),
            ));
        }
        for phase in &rule.phases {
            if !matches!(
                phase.as_str(),
                "input" | "output" | "tool_arguments" | "tool_result"
            ) {
                problems.push((at("phases"), format!("unknown phase `{phase}`")));
            }
        }
        for (pattern_index, pattern) in rule.patterns.iter().enumerate() {
            if let Err(error) = regex::Regex::new(pattern) {
                problems.push((
                    format!("rules[{index}].patterns[{pattern_index}]"),
                    error.to_string(),
                ));
            }
        }
    }
    problems
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
    fn bad_packs_and_prompts_are_reported_with_paths() {
        let problems = super::check_pack(
            "p.toml",
            "p",
            "id = \"p\"\ndescription = \"d\"\n[[rules]]\nid = \"r\"\nengine = \"regex\"\nphases = [\"input\"]\naction = \"zap\"\npatterns = [\"(\"]",
        );
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["rules[0].action", "rules[0].patterns[0]"]);
        let problems = super::check_prompt(
            "x.toml",
            "x",
            "name = \"x\"\nversion = 1\ndescription = \"d\"\ntemplate = \"{{ oops\"",
        );
        assert_eq!(problems[0].0, "template");
    }
}

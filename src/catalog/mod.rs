//! Provider data: the files in `providers/`, embedded at build time and
//! optionally extended from a directory on disk. One file per provider; a new
//! OpenAI-compatible vendor is a new file and no code.

mod spec;

pub use spec::{AuthScheme, ModelKind, ModelSpec, Price, ProviderSpec, Tokenizer, Wire};

use crate::shapes::ConfigError;
use include_dir::{Dir, include_dir};
use std::collections::BTreeMap;
use std::path::Path;

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/providers");

/// All known providers by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub providers: BTreeMap<String, ProviderSpec>,
}

impl Catalog {
    /// The built-in provider files, then those in `dir` (which replace
    /// built-in files of the same id).
    pub fn load(dir: Option<&Path>) -> Result<Self, Vec<ConfigError>> {
        let mut catalog = Self::default();
        let mut errors = Vec::new();
        for file in EMBEDDED.files() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let name = format!("providers/{}", path.display());
            match file.contents_utf8() {
                Some(text) => catalog.add(&name, path, text, &mut errors),
                None => errors.push(ConfigError::single(&name, "", "not UTF-8")),
            }
        }
        if let Some(dir) = dir {
            for (path, text) in read_toml_dir(dir, &mut errors) {
                catalog.add(&path.display().to_string(), &path, &text, &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }

    /// Check every provider file in a directory, as `switchboard validate` does.
    pub fn check_dir(dir: &Path) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut catalog = Self::default();
        for (path, text) in read_toml_dir(dir, &mut errors) {
            catalog.add(&path.display().to_string(), &path, &text, &mut errors);
        }
        errors
    }

    fn add(&mut self, name: &str, path: &Path, text: &str, errors: &mut Vec<ConfigError>) {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match spec::parse(name, stem, text) {
            Ok(spec) => {
                self.providers.insert(spec.id.clone(), spec);
            }
            Err(error) => errors.push(error),
        }
    }

    pub fn get(&self, id: &str) -> Option<&ProviderSpec> {
        self.providers.get(id)
    }
}

/// The `.toml` files of a directory, sorted by name.
pub fn read_toml_dir(
    dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<(std::path::PathBuf, String)> {
    let name = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(ConfigError::single(
                &name,
                "",
                format!("cannot read: {error}"),
            ));
            return Vec::new();
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Some((path, text)),
            Err(error) => {
                errors.push(ConfigError::single(
                    &path.display().to_string(),
                    "",
                    format!("cannot read: {error}"),
                ));
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_providers_load() {
        let catalog = Catalog::load(None).expect("built-in provider files are valid");
        for id in [
            "openai", "mock", "groq", "mistral", "deepseek", "ollama", "vllm",
        ] {
            assert!(catalog.get(id).is_some(), "missing provider {id}");
        }
        let openai = catalog.get("openai").unwrap();
        assert_eq!(openai.wire, Wire::Openai);
        assert!(openai.models.contains_key("gpt-4o-mini"));
        // Which providers serve the Responses API themselves is data.
        let native: Vec<&str> = ["openai", "azure", "azure-deployments", "groq", "anthropic"]
            .into_iter()
            .filter(|id| catalog.get(id).is_some_and(|spec| spec.responses_api))
            .collect();
        assert_eq!(native, ["openai", "azure"]);
    }

    #[test]
    fn only_an_openai_wire_serves_the_responses_api() {
        let text = r#"
id = "x"
name = "X"
wire = "anthropic"
base_url = "https://x.example"
auth = "none"
responses_api = true
"#;
        let error = spec::parse("x.toml", "x", text).unwrap_err();
        assert_eq!(error.problems.len(), 1, "{:?}", error.problems);
        assert_eq!(error.problems[0].0, "responses_api");
        let openai = text.replace("anthropic", "openai");
        assert!(spec::parse("x.toml", "x", &openai).unwrap().responses_api);
    }
}

//! Prompt templates: `prompts/*.toml` (built in) and `[server] prompts_dir`
//! (added, or replacing a built-in one of the same name and version), each a
//! named, versioned minijinja template with typed, documented variables.
//! Rendered for the Responses API's `prompt` parameter and the chat
//! extension of the same name; checked by `switchboard validate`, which
//! renders every template with its declared defaults. Every render is
//! counted (`switchboard_prompt_renders_total{prompt, version, outcome}`)
//! with label values from the loaded templates only; the config reload
//! reads the templates again (`reload.rs`).

use crate::catalog::read_toml_dir;
use crate::shapes::{ConfigError, decode_toml};
use include_dir::{Dir, include_dir};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/prompts");

/// A prompt template, as written in a `prompts/` file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    /// The prompt's id; its file's name starts with it (`summarize.toml`,
    /// `summarize-v2.toml`).
    pub name: String,
    /// Versions of one name live side by side; a request without a version
    /// gets the highest.
    pub version: u32,
    pub description: String,
    /// The role of the message the template renders: `system` (default),
    /// `developer` or `user`.
    #[serde(default = "default_role")]
    pub role: String,
    /// A minijinja template; a variable it uses but nobody set is an error.
    pub template: String,
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// One typed, documented variable of a template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    /// `string` (default), `integer`, `number` or `boolean`.
    #[serde(default = "default_kind", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    /// Used when the request does not set the variable; without one the
    /// variable is required.
    #[serde(default)]
    pub default: Option<toml::Value>,
}

fn default_role() -> String {
    "system".into()
}

fn default_kind() -> String {
    "string".into()
}

/// Why a prompt could not be rendered for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderError {
    /// No such prompt, or no such version of it.
    NotFound(String),
    /// A variable missing, unknown or of the wrong type; `param` names it.
    Invalid { message: String, param: String },
}

/// The label value for a prompt or version no loaded template has: what a
/// client names is never a label value.
pub const UNKNOWN: &str = "(unknown)";

/// `switchboard_prompt_renders_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RenderLabels {
    /// A loaded template's name, or `UNKNOWN`.
    pub prompt: String,
    /// The version rendered (the highest when the request names none), or
    /// `UNKNOWN`.
    pub version: String,
    /// `ok`, `not_found` or `invalid`.
    pub outcome: &'static str,
}

/// Renders by template and outcome. One family for the gateway's life: a
/// reload hands it to the templates it loads.
pub type PromptRenders = Family<RenderLabels, Counter>;

/// Every prompt, by name and version.
#[derive(Debug, Default)]
pub struct Prompts {
    by_name: BTreeMap<String, BTreeMap<u32, Arc<Prompt>>>,
    renders: PromptRenders,
}

fn matches_kind(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => false,
    }
}

/// The problems of one prompt file (`stem` is its file name without `.toml`).
fn check(prompt: &Prompt, stem: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !stem.starts_with(&prompt.name) || prompt.name.is_empty() {
        problems.push((
            "name".into(),
            format!("`{}`: the file's name must start with it", prompt.name),
        ));
    }
    if !["system", "developer", "user"].contains(&prompt.role.as_str()) {
        problems.push(("role".into(), "must be system, developer or user".into()));
    }
    let mut sample = Map::new();
    for (i, variable) in prompt.variables.iter().enumerate() {
        let at = format!("variables[{i}]");
        let placeholder = match variable.kind.as_str() {
            "string" => Value::from("text"),
            "integer" | "number" => Value::from(1),
            "boolean" => Value::from(true),
            other => {
                problems.push((
                    format!("{at}.type"),
                    format!("`{other}`: use string, integer, number or boolean"),
                ));
                continue;
            }
        };
        let value = match &variable.default {
            Some(default) => {
                let value = serde_json::to_value(default).unwrap_or(Value::Null);
                if !matches_kind(&variable.kind, &value) {
                    problems.push((
                        format!("{at}.default"),
                        format!("is not of type {}", variable.kind),
                    ));
                }
                value
            }
            None => placeholder,
        };
        sample.insert(variable.name.clone(), value);
    }
    if let Err(error) = render_text(&prompt.template, &sample) {
        let line = error
            .line()
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        problems.push(("template".into(), format!("{error}{line}")));
    }
    problems
}

fn render_text(template: &str, variables: &Map<String, Value>) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(template, variables)
}

/// Check one file's text, as `switchboard validate` does.
pub fn check_text(name: &str, stem: &str, text: &str) -> Vec<(String, String)> {
    match decode_toml::<Prompt>(name, text) {
        Ok(prompt) => check(&prompt, stem),
        Err(error) => error.problems,
    }
}

impl Prompts {
    /// The built-in prompts, then those in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self, Vec<ConfigError>> {
        let mut prompts = Self::default();
        let mut errors = Vec::new();
        let mut add = |name: String, path: &Path, text: &str, errors: &mut Vec<ConfigError>| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            match decode_toml::<Prompt>(&name, text) {
                Ok(prompt) => {
                    let problems = check(&prompt, stem);
                    if problems.is_empty() {
                        prompts
                            .by_name
                            .entry(prompt.name.clone())
                            .or_default()
                            .insert(prompt.version, Arc::new(prompt));
                    } else {
                        errors.push(ConfigError {
                            source_name: name,
                            problems,
                        });
                    }
                }
                Err(error) => errors.push(error),
            }
        };
        for file in EMBEDDED.files() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) == Some("toml")
                && let Some(text) = file.contents_utf8()
            {
                add(
                    format!("prompts/{}", path.display()),
                    path,
                    text,
                    &mut errors,
                );
            }
        }
        if let Some(dir) = dir {
            for (path, text) in read_toml_dir(dir, &mut errors) {
                add(path.display().to_string(), &path, &text, &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(prompts)
        } else {
            Err(errors)
        }
    }

    /// Count renders into `renders` (the gateway's registered family).
    #[must_use]
    pub fn with_renders(mut self, renders: PromptRenders) -> Self {
        self.renders = renders;
        self
    }

    /// Whether `other` holds the same templates (a reload that changed none
    /// tells no MCP client the list changed).
    pub fn same_templates(&self, other: &Self) -> bool {
        self.by_name == other.by_name
    }

    /// The family renders are counted in, for the templates a reload loads.
    pub fn renders(&self) -> &PromptRenders {
        &self.renders
    }

    /// Count one render of `id` at `version` (as the request named them):
    /// labelled by the loaded template they resolve to, else `UNKNOWN`.
    fn count(&self, id: Option<&str>, version: Option<&str>, outcome: &'static str) {
        let known = id.and_then(|id| self.by_name.get_key_value(id));
        let (prompt, version) = match known {
            None => (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
            Some((name, versions)) => {
                let resolved = match version {
                    None => versions.keys().next_back().copied(),
                    Some(text) => text.parse().ok().filter(|v| versions.contains_key(v)),
                };
                let version = resolved.map_or_else(|| UNKNOWN.to_owned(), |v| v.to_string());
                (name.clone(), version)
            }
        };
        self.renders
            .get_or_create(&RenderLabels {
                prompt,
                version,
                outcome,
            })
            .inc();
    }

    /// Render prompt `id` (at `version`, or the highest) with `variables`:
    /// its role, its text, and the version used. Counted.
    pub fn render(
        &self,
        id: &str,
        version: Option<&str>,
        variables: &Map<String, Value>,
    ) -> Result<(Arc<Prompt>, String), RenderError> {
        let rendered = self.render_uncounted(id, version, variables);
        let outcome = match &rendered {
            Ok(_) => "ok",
            Err(RenderError::NotFound(_)) => "not_found",
            Err(RenderError::Invalid { .. }) => "invalid",
        };
        self.count(Some(id), version, outcome);
        rendered
    }

    fn render_uncounted(
        &self,
        id: &str,
        version: Option<&str>,
        variables: &Map<String, Value>,
    ) -> Result<(Arc<Prompt>, String), RenderError> {
        let versions = self
            .by_name
            .get(id)
            .ok_or_else(|| RenderError::NotFound(format!("Prompt '{id}' not found.")))?;
        let prompt = match version {
            None => versions.values().next_back(),
            Some(version) => version.parse::<u32>().ok().and_then(|v| versions.get(&v)),
        }
        .ok_or_else(|| {
            RenderError::NotFound(format!(
                "Prompt '{id}' has no version '{}'.",
                version.unwrap_or_default()
            ))
        })?;
        let invalid = |name: &str, message: String| RenderError::Invalid {
            message,
            param: format!("prompt.variables.{name}"),
        };
        if let Some(unknown) = variables
            .keys()
            .find(|name| !prompt.variables.iter().any(|v| &v.name == *name))
        {
            return Err(invalid(
                unknown,
                format!("Prompt '{id}' has no variable '{unknown}'."),
            ));
        }
        let mut values = Map::new();
        for variable in &prompt.variables {
            let value = match (variables.get(&variable.name), &variable.default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => serde_json::to_value(default).unwrap_or(Value::Null),
                (None, None) => {
                    return Err(invalid(
                        &variable.name,
                        format!("Missing prompt variable: '{}'.", variable.name),
                    ));
                }
            };
            if !matches_kind(&variable.kind, &value) {
                return Err(invalid(
                    &variable.name,
                    format!(
                        "Prompt variable '{}' must be of type {}.",
                        variable.name, variable.kind
                    ),
                ));
            }
            values.insert(variable.name.clone(), value);
        }
        let text =
            render_text(&prompt.template, &values).map_err(|error| RenderError::Invalid {
                message: format!("Prompt '{id}' could not be rendered: {error}"),
                param: "prompt".into(),
            })?;
        Ok((prompt.clone(), text.trim().to_owned()))
    }

    /// The highest version of every prompt, by name.
    pub fn latest(&self) -> impl Iterator<Item = &Arc<Prompt>> {
        self.by_name
            .values()
            .filter_map(|versions| versions.values().next_back())
    }

    /// Render the highest version of `id` with MCP's string arguments, each
    /// read as its variable's type (`"5"` for an integer).
    pub fn render_strings(
        &self,
        id: &str,
        arguments: &Map<String, Value>,
    ) -> Result<(Arc<Prompt>, String), RenderError> {
        let declared = self.by_name.get(id).and_then(|v| v.values().next_back());
        let typed: Map<String, Value> = arguments
            .iter()
            .map(|(name, value)| {
                let kind = declared
                    .and_then(|p| p.variables.iter().find(|v| &v.name == name))
                    .map_or("string", |v| v.kind.as_str());
                let parsed = match (kind, value.as_str()) {
                    ("integer" | "number" | "boolean", Some(text)) => {
                        serde_json::from_str(text).unwrap_or_else(|_| value.clone())
                    }
                    _ => value.clone(),
                };
                (name.clone(), parsed)
            })
            .collect();
        self.render(id, None, &typed)
    }

    /// The `{"id", "version", "variables"}` parameter of a request, rendered
    /// into the chat message it stands for.
    pub fn message(&self, parameter: &Value) -> Result<(Value, String), RenderError> {
        // A parameter refused before rendering is counted here, one that
        // reaches `render` there.
        let invalid = |message: &str, param: &str| {
            self.count(parameter.get("id").and_then(Value::as_str), None, "invalid");
            RenderError::Invalid {
                message: message.into(),
                param: param.into(),
            }
        };
        let id = parameter
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Missing required parameter: 'prompt.id'.", "prompt.id"))?;
        let version = match parameter.get("version") {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) => Some(v.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(invalid(
                    "`prompt.version` must be a string",
                    "prompt.version",
                ));
            }
        };
        let empty = Map::new();
        let variables = match parameter.get("variables") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(invalid(
                    "`prompt.variables` must be an object",
                    "prompt.variables",
                ));
            }
        };
        let (prompt, text) = self.render(id, version.as_deref(), variables)?;
        let label = format!("{}@{}", prompt.name, prompt.version);
        Ok((
            serde_json::json!({"role": prompt.role, "content": text}),
            label,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prompts() -> Prompts {
        Prompts::load(None).expect("the built-in prompts load")
    }

    #[test]
    fn variables_are_typed_defaulted_and_named_when_wrong() {
        let prompts = prompts();
        let vars = |v: Value| v.as_object().unwrap().clone();
        let (prompt, text) = prompts
            .render(
                "summarize",
                None,
                &vars(json!({"text": "The sky is blue."})),
            )
            .unwrap();
        assert_eq!(prompt.version, 1);
        assert!(text.contains("in 3 bullet points"), "{text}");
        assert!(text.ends_with("The sky is blue."), "{text}");
        let error = |v: Value| {
            prompts
                .render("summarize", Some("1"), &vars(v))
                .unwrap_err()
        };
        assert_eq!(
            error(json!({})),
            RenderError::Invalid {
                message: "Missing prompt variable: 'text'.".into(),
                param: "prompt.variables.text".into()
            }
        );
        assert!(matches!(error(json!({"text": "x", "bullets": "five"})),
            RenderError::Invalid { param, .. } if param == "prompt.variables.bullets"));
        assert!(matches!(error(json!({"text": "x", "tone": "dry"})),
            RenderError::Invalid { param, .. } if param == "prompt.variables.tone"));
        assert!(matches!(
            prompts.render("summarize", Some("9"), &Map::new()),
            Err(RenderError::NotFound(_))
        ));
        assert!(matches!(
            prompts.render("nope", None, &Map::new()),
            Err(RenderError::NotFound(_))
        ));
    }

    #[test]
    fn renders_are_counted_by_loaded_template_only() {
        let prompts = prompts();
        let vars = |v: Value| v.as_object().unwrap().clone();
        let count = |prompt: &str, version: &str, outcome: &'static str| {
            prompts
                .renders()
                .get_or_create(&RenderLabels {
                    prompt: prompt.into(),
                    version: version.into(),
                    outcome,
                })
                .get()
        };
        prompts
            .render("summarize", None, &vars(json!({"text": "x"})))
            .unwrap();
        prompts
            .render("summarize", Some("1"), &Map::new())
            .unwrap_err();
        prompts
            .render("summarize", Some("9"), &Map::new())
            .unwrap_err();
        prompts
            .render("client-text", Some("1"), &Map::new())
            .unwrap_err();
        prompts
            .message(&json!({"id": "x-y-z", "variables": 3}))
            .unwrap_err();
        prompts.message(&json!({"variables": {}})).unwrap_err();
        assert_eq!(count("summarize", "1", "ok"), 1);
        assert_eq!(count("summarize", "1", "invalid"), 1);
        assert_eq!(count("summarize", UNKNOWN, "not_found"), 1);
        assert_eq!(count(UNKNOWN, UNKNOWN, "not_found"), 1);
        assert_eq!(count(UNKNOWN, UNKNOWN, "invalid"), 2);
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("prompt_renders", "", prompts.renders().clone());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            !text.contains("client-text") && !text.contains("x-y-z"),
            "{text}"
        );
    }

    #[test]
    fn validate_renders_with_defaults_and_names_the_line() {
        let bad = "name = \"p\"\nversion = 1\ndescription = \"d\"\ntemplate = \"\"\"\nline one\n{{ missing }}\n\"\"\"\n";
        let problems = check_text("p.toml", "p", bad);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("line 2"), "{problems:?}");
        let typed = "name = \"p\"\nversion = 1\ndescription = \"d\"\ntemplate = \"{{ n }}\"\n[[variables]]\nname = \"n\"\ntype = \"integer\"\ndefault = \"x\"\n";
        let problems = check_text("p.toml", "p", typed);
        assert_eq!(problems[0].0, "variables[0].default", "{problems:?}");
    }
}

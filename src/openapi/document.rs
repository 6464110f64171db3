//! Reading an OpenAPI document: JSON or YAML text in, `$ref`s resolved within the
//! document, recursion cut at a fixed depth.

use serde_json::{Map, Value};

/// How deep `$ref`s are followed inside one schema: a recursive type
/// (a tree node holding nodes) stops there as "any value".
const MAX_REF_DEPTH: usize = 6;

/// A document that cannot be used, with the JSON pointer at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentError {
    /// JSON pointer into the document (`""` for the whole document).
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.pointer, self.message)
        }
    }
}

fn error(pointer: &str, message: impl Into<String>) -> DocumentError {
    DocumentError {
        pointer: pointer.to_owned(),
        message: message.into(),
    }
}

/// A YAML value as JSON: keys that YAML reads as numbers or booleans
/// (`200:` under `responses`) become the strings OpenAPI means.
fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .map(|s| s.trim_end().to_owned())
                            .unwrap_or_default(),
                    };
                    (key, yaml_to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

/// Parse an OpenAPI 3.x document (JSON, or YAML) and check the parts the
/// gateway relies on: the version and the `paths` object.
pub fn parse_document(text: &str) -> Result<Value, DocumentError> {
    let document: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| error("", format!("not a JSON OpenAPI document: {e}")))?
    } else {
        serde_norway::from_str::<serde_norway::Value>(text)
            .map(yaml_to_json)
            .map_err(|e| error("", format!("not a YAML OpenAPI document: {e}")))?
    };
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or_else(|| error("/openapi", "missing: only OpenAPI 3.0 and 3.1 are read"))?;
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(error(
            "/openapi",
            format!("version {version}: only OpenAPI 3.0 and 3.1 are read"),
        ));
    }
    match document.get("paths") {
        Some(Value::Object(_)) => Ok(document),
        Some(_) => Err(error("/paths", "must be an object")),
        None => Err(error("/paths", "missing")),
    }
}

/// Follow a local reference (`#/components/schemas/Pet`).
fn lookup<'a>(root: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("`{reference}`: only references inside the document are read"))?;
    root.pointer(pointer)
        .ok_or_else(|| format!("`{reference}` points at nothing"))
}

/// `value` with every `$ref` replaced by what it points at, recursively, at
/// most `MAX_REF_DEPTH` references deep (deeper, or back into a reference
/// already being expanded, becomes `{}`: any value). `at` is `value`'s
/// pointer, for errors.
pub fn resolve_refs(root: &Value, value: &Value, at: &str) -> Result<Value, DocumentError> {
    let mut stack = Vec::new();
    resolve(root, value, at, &mut stack)
}

fn resolve(
    root: &Value,
    value: &Value,
    at: &str,
    stack: &mut Vec<String>,
) -> Result<Value, DocumentError> {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                if stack.iter().any(|r| r == reference) || stack.len() >= MAX_REF_DEPTH {
                    return Ok(Value::Object(Map::new()));
                }
                let target = lookup(root, reference)
                    .map_err(|message| error(&format!("{at}/$ref"), message))?;
                stack.push(reference.to_owned());
                let resolved = resolve(root, target, reference.trim_start_matches('#'), stack);
                stack.pop();
                let mut resolved = resolved?;
                // 3.1 allows siblings beside `$ref` (a description, say).
                if let Value::Object(out) = &mut resolved {
                    for (key, sibling) in map.iter().filter(|(k, _)| *k != "$ref") {
                        out.insert(
                            key.clone(),
                            resolve(root, sibling, &format!("{at}/{key}"), stack)?,
                        );
                    }
                }
                return Ok(resolved);
            }
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.insert(key.clone(), resolve(root, item, &pointer, stack)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| resolve(root, item, &format!("{at}/{i}"), stack))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

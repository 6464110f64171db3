//! Each operation of a document as a tool: a name valid for function
//! calling, a description, and one input schema for its parameters and body.

use super::document::{DocumentError, resolve_refs};
use globset::GlobSet;
use serde_json::{Map, Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Longest tool name most function-calling APIs accept.
const MAX_NAME: usize = 64;
/// Longest description kept: the model reads it with every request.
const MAX_DESCRIPTION: usize = 2048;
/// Largest answer schema offered with a tool: clients may hold it for every
/// tool; a larger one is left out (the answer still comes back as text).
const MAX_OUTPUT_SCHEMA: usize = 32 * 1024;
/// The input property that carries the JSON request body.
pub const BODY: &str = "body";

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
    /// Query arrays: `a=1&a=2` (true, the default) or `a=1,2`.
    pub explode: bool,
}

/// One operation, ready to be listed and called.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The tool's name.
    pub name: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template, e.g. `/users/{user_id}`.
    pub path: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    /// Whether the operation takes a JSON body, and whether it must.
    pub body: Option<bool>,
    pub input_schema: Map<String, Value>,
    /// The JSON schema of a successful answer, when it is an object.
    pub output_schema: Option<Map<String, Value>>,
}

/// Which operations become tools.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// When not empty, only operations with one of these tags.
    pub include_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    /// When not empty, only operations whose path matches.
    pub include_paths: Option<GlobSet>,
    /// When not empty, only these operations (by `operationId` or tool name).
    pub include_operations: Vec<String>,
    pub exclude_operations: Vec<String>,
}

impl Filter {
    fn admits(&self, id: Option<&str>, name: &str, path: &str, tags: &[String]) -> bool {
        let named = |list: &[String]| list.iter().any(|o| Some(o.as_str()) == id || o == name);
        (self.include_tags.is_empty() || tags.iter().any(|t| self.include_tags.contains(t)))
            && !tags.iter().any(|t| self.exclude_tags.contains(t))
            && self
                .include_paths
                .as_ref()
                .is_none_or(|globs| globs.is_empty() || globs.is_match(path))
            && (self.include_operations.is_empty() || named(&self.include_operations))
            && !named(&self.exclude_operations)
    }
}

/// A tool name from an operation id, or from the method and path: letters,
/// digits, `_` and `-` only, at most 64 characters.
pub fn tool_name(id: Option<&str>, method: &str, path: &str) -> String {
    let raw = match id {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => format!("{method}_{path}"),
    };
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let name = name.trim_matches('_');
    let name: String = name.chars().take(MAX_NAME).collect();
    if name.is_empty() {
        "operation".into()
    } else {
        name
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema says it, everywhere in a
/// schema, so arguments are checked as the description means.
fn nullable_as_type(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(kind)) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([kind, "null"]));
            }
            map.values_mut().for_each(nullable_as_type);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_as_type),
        _ => {}
    }
}

fn json_content(content: Option<&Value>) -> Option<&Value> {
    let content = content?.as_object()?;
    content
        .iter()
        .find(|(media, _)| *media == "application/json")
        .or_else(|| content.iter().find(|(media, _)| media.ends_with("+json")))
        .map(|(_, media)| media)
}

fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or("").trim()
}

fn description(operation: &Value) -> String {
    let (summary, details) = (
        text(operation.get("summary")),
        text(operation.get("description")),
    );
    let mut out = match (summary.is_empty(), details.is_empty()) {
        (false, false) if details.starts_with(summary) => details.to_owned(),
        (false, false) => format!("{summary}\n\n{details}"),
        (false, true) => summary.to_owned(),
        _ => details.to_owned(),
    };
    if out.len() > MAX_DESCRIPTION {
        let mut cut = MAX_DESCRIPTION;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Every operation of `document` the filter admits, as tools; operations
/// that cannot be mapped are skipped, each with a warning naming it.
pub fn operations(
    document: &Value,
    filter: &Filter,
) -> Result<(Vec<Operation>, Vec<String>), DocumentError> {
    let mut out: Vec<Operation> = Vec::new();
    let mut warnings = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Ok((out, warnings));
    };
    for (path, item) in paths {
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let item_at = format!("/paths/{escaped}");
        let item = resolve_refs(document, item, &item_at)?;
        let shared = item.get("parameters").cloned().unwrap_or(json!([]));
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = format!("{item_at}/{method}");
            let id = operation.get("operationId").and_then(Value::as_str);
            let name = tool_name(id, method, path);
            let tags: Vec<String> = operation
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if !filter.admits(id, &name, path, &tags) {
                continue;
            }
            match operation_tool(operation, &shared, method, path, name) {
                Ok(mut op) => {
                    // Two operations may sanitize to one name.
                    let base = op.name.clone();
                    let mut n = 2;
                    while out.iter().any(|o| o.name == op.name) {
                        let suffix = format!("_{n}");
                        op.name = format!(
                            "{}{suffix}",
                            &base[..base.len().min(MAX_NAME - suffix.len())]
                        );
                        n += 1;
                    }
                    out.push(op);
                }
                Err(why) => warnings.push(format!(
                    "{} {path} ({at}) skipped: {why}",
                    method.to_uppercase()
                )),
            }
        }
    }
    Ok((out, warnings))
}

fn operation_tool(
    operation: &Value,
    shared: &Value,
    method: &str,
    path: &str,
    name: String,
) -> Result<Operation, String> {
    let mut declared: Vec<&Value> = Vec::new();
    // Operation-level parameters override path-level ones of the same name and place.
    let own = operation.get("parameters").and_then(Value::as_array);
    for parameter in own.into_iter().flatten() {
        declared.push(parameter);
    }
    for parameter in shared.as_array().into_iter().flatten() {
        let key = (parameter.get("name"), parameter.get("in"));
        if !declared.iter().any(|p| (p.get("name"), p.get("in")) == key) {
            declared.push(parameter);
        }
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut parameters = Vec::new();
    for parameter in declared {
        let name = text(parameter.get("name")).to_owned();
        let location = match text(parameter.get("in")) {
            "path" => ParamLocation::Path,
            "query" => ParamLocation::Query,
            "header" => ParamLocation::Header,
            "cookie" if parameter.get("required") == Some(&Value::Bool(true)) => {
                return Err(format!("cookie parameter `{name}` is required"));
            }
            "cookie" => continue,
            other => return Err(format!("parameter `{name}` is `in: {other}`")),
        };
        // OpenAPI: these headers are described elsewhere and ignored here.
        if location == ParamLocation::Header
            && ["accept", "content-type", "authorization"].contains(&name.to_lowercase().as_str())
        {
            continue;
        }
        if name.is_empty() || name == BODY || properties.contains_key(&name) {
            return Err(format!("parameter name `{name}` is empty or used twice"));
        }
        let is_required = location == ParamLocation::Path
            || parameter.get("required") == Some(&Value::Bool(true));
        let mut schema = parameter
            .get("schema")
            .cloned()
            .or_else(|| {
                json_content(parameter.get("content")).and_then(|m| m.get("schema").cloned())
            })
            .unwrap_or(json!({"type": "string"}));
        nullable_as_type(&mut schema);
        if let (Value::Object(map), Some(about)) = (&mut schema, parameter.get("description")) {
            map.entry("description").or_insert(about.clone());
        }
        properties.insert(name.clone(), schema);
        if is_required {
            required.push(Value::String(name.clone()));
        }
        parameters.push(Parameter {
            explode: parameter
                .get("explode")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            name,
            location,
            required: is_required,
        });
    }
    for hole in path.split('{').skip(1).filter_map(|s| s.split_once('}')) {
        if !parameters
            .iter()
            .any(|p| p.location == ParamLocation::Path && p.name == hole.0)
        {
            return Err(format!("path parameter `{}` is not described", hole.0));
        }
    }
    let mut body = None;
    if let Some(request) = operation.get("requestBody") {
        let must = request.get("required") == Some(&Value::Bool(true));
        match json_content(request.get("content")) {
            Some(media) => {
                let mut schema = media.get("schema").cloned().unwrap_or(json!({}));
                nullable_as_type(&mut schema);
                if let (Value::Object(map), Some(about)) = (&mut schema, request.get("description"))
                {
                    map.entry("description").or_insert(about.clone());
                }
                properties.insert(BODY.into(), schema);
                if must {
                    required.push(Value::String(BODY.into()));
                }
                body = Some(must);
            }
            None if must => return Err("its request body is not JSON".into()),
            None => {}
        }
    }
    let mut input_schema = Map::new();
    input_schema.insert("type".into(), json!("object"));
    input_schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        input_schema.insert("required".into(), Value::Array(required));
    }
    input_schema.insert("additionalProperties".into(), json!(false));
    Ok(Operation {
        name,
        method: method.to_uppercase(),
        path: path.to_owned(),
        description: description(operation),
        parameters,
        body,
        input_schema,
        output_schema: output_schema(operation),
    })
}

/// The schema of the first 2xx JSON answer, when it describes an object
/// (MCP's structured content is an object) of reasonable size.
fn output_schema(operation: &Value) -> Option<Map<String, Value>> {
    let responses = operation.get("responses")?.as_object()?;
    let (_, response) = responses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .min_by_key(|(status, _)| status.as_str())?;
    let mut schema = json_content(response.get("content"))?
        .get("schema")?
        .clone();
    nullable_as_type(&mut schema);
    match schema {
        Value::Object(map)
            if map.get("type") == Some(&json!("object"))
                && serde_json::to_vec(&map).map_or(0, |bytes| bytes.len()) <= MAX_OUTPUT_SCHEMA =>
        {
            Some(map)
        }
        _ => None,
    }
}

//! The request's `{"type": "mcp"}` tools read (which registered server,
//! which of its tools, which need approval), and the team's permitted tools
//! of each listed and offered to the model as functions.

use super::steps::Steps;
use crate::api::responses::new_id;
use crate::api::responses::request::is_mcp_tool;
use crate::error::GatewayError;
use crate::mcp::front::{FrontDoor, McpRequest};
use serde_json::{Value, json};
use std::sync::Arc;

/// One `mcp` tool of the request.
pub(super) struct Server {
    pub label: String,
    scope: Option<Arc<str>>,
    allowed: Option<Vec<String>>,
    pub approval: Approval,
}

/// Which of a server's tools need the user's approval.
pub(super) enum Approval {
    Never,
    Always,
    /// Only these tools (by their name on the server).
    Only(Vec<String>),
}

impl Approval {
    pub fn needed(&self, tool: &str) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::Only(names) => names.iter().any(|n| n == tool),
        }
    }
}

/// A tool the model may call: its function name (the `/mcp` name), which
/// request entry offered it, and its name on its server.
pub(super) struct Offered {
    pub function: String,
    pub server: usize,
    pub name: String,
}

pub(super) fn invalid(message: String, param: &str) -> GatewayError {
    GatewayError::InvalidRequest {
        message,
        param: Some(param.into()),
    }
}

fn names(value: Option<&Value>) -> Option<Vec<String>> {
    let list = match value? {
        Value::Array(list) => list,
        Value::Object(object) => object.get("tool_names")?.as_array()?,
        _ => return None,
    };
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// The `mcp` entries of `tools`. Without approvals (`approvals` false: chat
/// completions have no item to ask with), an entry that may need one is a
/// 400 naming its `require_approval`.
pub(super) fn read(tools: &[Value], approvals: bool) -> Result<Vec<Server>, GatewayError> {
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate().filter(|(_, t)| is_mcp_tool(t)) {
        let at = |field: &str| format!("tools[{i}].{field}");
        let label = tool
            .get("server_label")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    format!("Missing required parameter: '{}'.", at("server_label")),
                    &at("server_label"),
                )
            })?
            .to_owned();
        let url = tool
            .get("server_url")
            .and_then(Value::as_str)
            .unwrap_or("/mcp");
        let path = reqwest::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| url.to_owned());
        let scope = match path.trim_end_matches('/').strip_prefix("/mcp") {
            Some("") => None,
            Some(rest) if rest.starts_with('/') && !rest[1..].contains('/') => {
                Some(Arc::from(&rest[1..]))
            }
            _ => {
                return Err(invalid(
                    format!(
                        "`{}` must be this gateway's `/mcp` or `/mcp/{{server}}`: the gateway runs \
                         tools of the servers registered with it",
                        at("server_url")
                    ),
                    &at("server_url"),
                ));
            }
        };
        let approval = match tool.get("require_approval") {
            None => Approval::Always,
            Some(Value::String(mode)) if mode == "never" => Approval::Never,
            Some(Value::String(mode)) if mode == "always" => Approval::Always,
            Some(Value::Object(object)) => match names(object.get("always")) {
                Some(always) => Approval::Only(always),
                // `{"never": {...}}` alone: the others still need approval,
                // which only `always` can say without a catalog here.
                None => Approval::Never,
            },
            _ => {
                return Err(invalid(
                    format!(
                        "`{}` must be \"always\", \"never\" or an object",
                        at("require_approval")
                    ),
                    &at("require_approval"),
                ));
            }
        };
        if !approvals && !matches!(approval, Approval::Never) {
            return Err(invalid(
                format!(
                    "`{}` must be \"never\" on chat completions, which cannot ask for an \
                     approval (the team's tool policy still governs every call); \
                     `/v1/responses` asks with `mcp_approval_request` items",
                    at("require_approval")
                ),
                &at("require_approval"),
            ));
        }
        out.push(Server {
            label,
            scope,
            allowed: names(tool.get("allowed_tools")),
            approval,
        });
    }
    Ok(out)
}

/// What the servers offer the model: the tools offered, one
/// `mcp_list_tools` item per server, and the chat functions (after the
/// request's own, `functions`).
pub(super) struct Offer {
    pub offered: Vec<Offered>,
    pub items: Vec<Value>,
    pub functions: Vec<Value>,
}

/// The team's permitted tools of each server (after `allowed_tools`), each
/// server's list streamed as it is made.
pub(super) fn offer(
    front: &FrontDoor,
    caller: &McpRequest,
    servers: &[Server],
    mut functions: Vec<Value>,
    mut events: Option<&mut (dyn Steps + 'static)>,
) -> Offer {
    let mut offered: Vec<Offered> = Vec::new();
    let mut items = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        let scoped = McpRequest {
            scope: server.scope.clone(),
            ..caller.clone()
        };
        let listed: Vec<_> = front
            .tools_for(&scoped)
            .into_iter()
            .filter(|(_, _, name)| {
                server
                    .allowed
                    .as_ref()
                    .is_none_or(|allowed| allowed.iter().any(|a| **a == **name))
            })
            .collect();
        let mut tools = Vec::new();
        for (tool, server_name, name) in listed {
            let function = format!("{server_name}__{name}");
            tools.push(json!({"name": &*name, "description": tool.description,
                              "input_schema": &*tool.input_schema, "annotations": tool.annotations}));
            if offered.iter().any(|o| o.function == function) {
                continue;
            }
            functions.push(json!({"type": "function", "function": {
                "name": function, "description": tool.description,
                "parameters": &*tool.input_schema}}));
            offered.push(Offered {
                function,
                server: index,
                name: name.to_string(),
            });
        }
        let item = json!({"type": "mcp_list_tools", "id": new_id("mcpl"),
                          "server_label": server.label, "tools": tools});
        if let Some(events) = events.as_deref_mut() {
            events.list_tools(items.len(), &item);
        }
        items.push(item);
    }
    Offer {
        offered,
        items,
        functions,
    }
}

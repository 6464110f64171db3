//! The MCP part of the admin API, behind the admin credential:
//!
//! - `GET /admin/mcp/servers`: each upstream with its transport, health,
//!   restarts, tool counts and subscribed resource URIs (adding, replacing
//!   and removing servers is `registry.rs`)
//! - `GET /admin/mcp/tools`: the merged catalog (exposed name, origin, pin state)
//! - `GET /admin/mcp/approvals`: tools of registered servers whose definition
//!   changed since it was pinned
//! - `POST /admin/mcp/approvals` `{"server": "...", "tool": "..."}`: accept
//!   the tool's current definition, so a blocked tool is served again

use super::McpHub;
use super::config::RawServer;
use super::pinning::PendingChange;
use super::upstream::Health;
use crate::api::decode_json;
use crate::error::GatewayError;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the admin API's server changes are saved: with the rest of the
/// admin changes, by the admin area. The registry decides and applies.
#[async_trait::async_trait]
pub trait ServerChanges: Send + Sync {
    /// In order, under the saver's lock: `check` may refuse (nothing
    /// changes), then `doc` is saved for `name` (`None`: removed), then
    /// `apply` makes it live.
    async fn change<'a>(
        &'a self,
        name: &'a str,
        doc: Option<RawServer>,
        check: Box<dyn FnOnce() -> Result<(), GatewayError> + Send + 'a>,
        apply: Box<dyn FnOnce() + Send + 'a>,
    ) -> Result<(), GatewayError>;
}

/// What the MCP admin routes work on.
#[derive(Clone)]
pub struct McpAdmin {
    pub mcp: Arc<McpHub>,
    pub changes: Arc<dyn ServerChanges>,
}

/// The routes, to be merged into the `/admin` router, which puts them
/// behind the admin credential.
pub fn routes<S: Clone + Send + Sync + 'static>(state: McpAdmin) -> Router<S> {
    Router::new()
        .route("/mcp/servers", get(servers).post(super::registry::add))
        .route(
            "/mcp/servers/{name}",
            put(super::registry::replace).delete(super::registry::remove),
        )
        .route("/mcp/tools", get(tools))
        .route("/mcp/approvals", get(approvals).post(approve))
        .route("/mcp/calls", get(calls))
        .with_state(state)
}

async fn servers(State(admin): State<McpAdmin>) -> Json<Value> {
    let hub = &admin.mcp;
    let catalog = hub.catalog();
    let data: Vec<Value> = hub
        .servers()
        .iter()
        .map(|upstream| {
            let name = upstream.name();
            let blocked = catalog
                .entries
                .iter()
                .filter(|entry| entry.key.server == *name)
                .filter(|entry| entry.changed && hub.settings.block_changed_tools)
                .count();
            let (transport, target) = upstream.settings.transport.describe();
            let health = upstream.health();
            let reason = match &health {
                Health::Down { reason } => Some(reason.as_str()),
                _ => None,
            };
            json!({
                "name": &**name,
                "transport": transport,
                // The command or URL; headers and environment may hold secrets and are left out.
                "target": target,
                "state": health.label(),
                "reason": reason,
                "restarts": upstream.restarts(),
                "pid": upstream.pid(),
                "tools": upstream.tools().len(),
                "blocked_tools": blocked,
                "subscribed_resources": upstream.subscribed_resources(),
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

async fn tools(State(admin): State<McpAdmin>) -> Json<Value> {
    let hub = &admin.mcp;
    let data: Vec<Value> = hub
        .catalog()
        .entries
        .iter()
        .map(|entry| {
            json!({
                "name": &*entry.exposed,
                "server": &*entry.key.server,
                "tool": &*entry.key.tool,
                "description": entry.tool.description.as_deref(),
                "changed": entry.changed,
                "blocked": entry.changed && hub.settings.block_changed_tools,
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// The latest tool calls, newest first: who, which tool, how it ended, how long.
async fn calls(State(admin): State<McpAdmin>) -> Json<Value> {
    let data: Vec<Value> = admin
        .mcp
        .metrics
        .recent
        .lock()
        .iter()
        .rev()
        .map(|call| serde_json::to_value(call).unwrap_or_default())
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

fn change_json(change: &PendingChange) -> Value {
    json!({
        "server": &*change.key.server,
        "tool": &*change.key.tool,
        "pinned_hash": hex::encode(change.pinned),
        "current_hash": hex::encode(change.current),
        "pinned_definition": change.pinned_definition.as_deref(),
        "current_definition": change.current_definition.as_deref(),
    })
}

async fn approvals(State(admin): State<McpAdmin>) -> Json<Value> {
    let data: Vec<Value> = admin
        .mcp
        .pending_approvals()
        .iter()
        .map(change_json)
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approval {
    server: String,
    tool: String,
    /// When given, the approval applies only if the offered definition still
    /// has this hash, so an operator never approves a definition they did not see.
    #[serde(default)]
    current_hash: Option<String>,
}

async fn approve(State(admin): State<McpAdmin>, body: Bytes) -> Result<Json<Value>, GatewayError> {
    let Approval {
        server,
        tool,
        current_hash,
    } = decode_json(&body)?;
    let hub = &admin.mcp;
    let pending = hub.pending_approvals();
    let Some(change) = pending
        .iter()
        .find(|change| *change.key.server == *server && *change.key.tool == *tool)
    else {
        return Err(GatewayError::invalid(
            format!("no changed definition of `{server}/{tool}` awaits approval"),
            Some("tool"),
        ));
    };
    if let Some(expected) = current_hash
        && expected != hex::encode(change.current)
    {
        return Err(GatewayError::invalid(
            format!("`{server}/{tool}` changed again: its current hash is not `{expected}`"),
            Some("current_hash"),
        ));
    }
    hub.approve(&server, &tool);
    tracing::info!(
        server,
        tool,
        "MCP tool definition approved through the admin API"
    );
    Ok(Json(json!({ "approved": change_json(change) })))
}

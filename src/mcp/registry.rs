//! The live registry through the admin API, behind the admin credential:
//!
//! - `POST /admin/mcp/servers`: add a server (409 if the name exists)
//! - `PUT /admin/mcp/servers/{name}`: add or replace a server
//! - `DELETE /admin/mcp/servers/{name}`: remove a server (404 if unknown)
//!
//! A body has the shape of one `[[mcp.servers]]` entry, as JSON, and is
//! checked by the config's own code, so a problem names the field. Changes
//! take effect at once (no restart) and are saved with the other admin
//! changes (`src/admin/quota.rs`), so they outlive a restart.

use super::McpHub;
use super::config::{RawServer, ServerSettings, validate_server};
use crate::admin::AdminCaller;
use crate::admin::quota::change_mcp_server;
use crate::api::decode_json;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stdio programs and header values come from the gateway's environment,
/// as when the config is loaded.
fn gateway_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Check a server as the config does; the first problem is the error,
/// naming its field.
fn checked(raw: &RawServer) -> Result<ServerSettings, GatewayError> {
    let mut problems = Vec::new();
    let settings = validate_server(raw, "", &gateway_env, &mut |path, message| {
        problems.push((path, message));
    });
    match (problems.into_iter().next(), settings) {
        (None, Some(settings)) => Ok(settings),
        (Some((path, message)), _) => Err(GatewayError::invalid(
            format!("`{path}` {message}"),
            Some(path.as_str()),
        )),
        (None, None) => Err(GatewayError::invalid(
            "set either `command` or `url`",
            Some("command"),
        )),
    }
}

/// Decode and check a request body. Literal `env` and `headers` values are
/// refused: they may be credentials, and the API stores and shows only the
/// names of environment variables (`inherit_env`, `headers_env`).
fn server_of(body: &Bytes) -> Result<(RawServer, ServerSettings), GatewayError> {
    let raw: RawServer = decode_json(body)?;
    if !raw.env.is_empty() {
        return Err(GatewayError::invalid(
            "`env` values are not accepted through the admin API: name gateway \
             environment variables in `inherit_env`",
            Some("env"),
        ));
    }
    if !raw.headers.is_empty() {
        return Err(GatewayError::invalid(
            "`headers` values are not accepted through the admin API: map header \
             names to gateway environment variables in `headers_env`",
            Some("headers"),
        ));
    }
    let settings = checked(&raw)?;
    Ok((raw, settings))
}

fn registered(raw: &RawServer, status: &'static str) -> Json<Value> {
    let transport = if raw.command.is_some() {
        "stdio"
    } else {
        "http"
    };
    Json(json!({ "name": raw.name, "transport": transport, "status": status }))
}

pub(super) async fn add(
    _admin: AdminCaller,
    State(gateway): State<Arc<Gateway>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let (raw, settings) = server_of(&body)?;
    let hub = &gateway.mcp;
    let exists = || {
        if hub.upstream(&raw.name).is_some() {
            return Err(GatewayError::Conflict {
                message: format!("MCP server `{}` exists; PUT replaces it", raw.name),
                param: Some("name".to_owned()),
            });
        }
        Ok(())
    };
    change_mcp_server(&gateway, &raw.name, Some(raw.clone()), exists, || {
        hub.put(settings);
    })
    .await?;
    Ok((StatusCode::CREATED, registered(&raw, "added")))
}

pub(super) async fn replace(
    _admin: AdminCaller,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let (raw, settings) = server_of(&body)?;
    if raw.name != name {
        return Err(GatewayError::invalid(
            format!("`name` is `{}` but the path names `{name}`", raw.name),
            Some("name"),
        ));
    }
    let hub = &gateway.mcp;
    let existed = hub.upstream(&name).is_some();
    change_mcp_server(
        &gateway,
        &name,
        Some(raw.clone()),
        || Ok(()),
        || {
            hub.put(settings);
        },
    )
    .await?;
    Ok(if existed {
        (StatusCode::OK, registered(&raw, "replaced"))
    } else {
        (StatusCode::CREATED, registered(&raw, "added"))
    })
}

pub(super) async fn remove(
    _admin: AdminCaller,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let hub = &gateway.mcp;
    let known = || {
        hub.upstream(&name)
            .map(|_| ())
            .ok_or_else(|| GatewayError::NotFound {
                message: format!("no MCP server `{name}` is registered"),
            })
    };
    change_mcp_server(&gateway, &name, None, known, || {
        hub.remove(&name);
    })
    .await?;
    Ok(Json(json!({ "name": name, "status": "removed" })))
}

/// The config's servers with the saved admin changes on top. A saved server
/// that no longer checks out (an environment variable gone) is left out,
/// with the reason logged.
pub fn with_saved(
    mut servers: Vec<ServerSettings>,
    saved: &BTreeMap<String, Option<RawServer>>,
) -> Vec<ServerSettings> {
    for (name, doc) in saved {
        servers.retain(|server| *server.name != **name);
        if let Some(raw) = doc {
            match checked(raw) {
                Ok(settings) => servers.push(settings),
                Err(error) => {
                    tracing::error!(server = %name, %error, "saved MCP server left out");
                }
            }
        }
    }
    servers
}

/// Apply the servers that differ between two saved states (another replica
/// changed the registry).
pub fn apply_saved_changes(
    hub: &McpHub,
    before: &BTreeMap<String, Option<RawServer>>,
    after: &BTreeMap<String, Option<RawServer>>,
) {
    for (name, doc) in after {
        if before.get(name) == Some(doc) {
            continue;
        }
        match doc {
            None => {
                hub.remove(name);
            }
            Some(raw) => match checked(raw) {
                Ok(settings) => {
                    hub.put(settings);
                }
                Err(error) => {
                    tracing::error!(server = %name, %error, "shared MCP server change left out");
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::config::Transport;

    fn raw(body: Value) -> RawServer {
        serde_json::from_value(body).expect("a server body")
    }

    fn http(name: &str, url: &str) -> RawServer {
        raw(json!({"name": name, "url": url}))
    }

    #[test]
    fn saved_changes_replace_add_and_remove_config_servers() {
        let config = vec![
            checked(&http("a", "http://a/mcp")).unwrap(),
            checked(&http("b", "http://b/mcp")).unwrap(),
        ];
        let unset = raw(json!({"name": "d", "url": "http://d/mcp",
            "headers_env": {"Authorization": "SWITCHBOARD_TEST_UNSET_VAR"}}));
        let saved = BTreeMap::from([
            ("a".to_owned(), Some(http("a", "http://a2/mcp"))),
            ("b".to_owned(), None),
            ("c".to_owned(), Some(http("c", "http://c/mcp"))),
            ("d".to_owned(), Some(unset)),
        ]);
        let servers: Vec<(String, String)> = with_saved(config, &saved)
            .into_iter()
            .map(|server| match server.transport {
                Transport::Http { url, .. } => (server.name.to_string(), url),
                Transport::Stdio { command, .. } => (server.name.to_string(), command),
            })
            .collect();
        assert_eq!(
            servers,
            [
                ("a".to_owned(), "http://a2/mcp".to_owned()),
                ("c".to_owned(), "http://c/mcp".to_owned()),
            ]
        );
    }

    #[test]
    fn a_bad_body_names_its_field() {
        let error = checked(&raw(
            json!({"name": "x", "url": "http://x", "connect_timeout": "soon"}),
        ))
        .unwrap_err();
        let body: Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body["error"]["param"], "connect_timeout");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}

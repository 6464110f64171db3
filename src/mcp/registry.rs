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
use super::admin::McpAdmin;
use super::config::{RawServer, ServerSettings, validate_server};
use crate::api::decode_json;
use crate::error::GatewayError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

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

/// What the admin API may register, whether from a request or from the
/// saved admin changes (the ledger, or the shared Redis document another
/// replica wrote): no literal `env` or `headers` values (they may be
/// credentials), no access to the gateway's environment (`inherit_env`,
/// `headers_env`: provider keys live there), and stdio programs only from
/// `mcp.admin_commands`. Write access to Redis alone therefore cannot start
/// a program or read a secret.
fn admissible(raw: &RawServer, admin_commands: &[String]) -> Result<(), GatewayError> {
    let refuse = |field: &str, message: &str| Err(GatewayError::invalid(message, Some(field)));
    if !raw.env.is_empty() {
        return refuse(
            "env",
            "`env` values are not accepted through the admin API: they may be credentials; \
             set them on a server in the config file",
        );
    }
    if !raw.headers.is_empty() {
        return refuse(
            "headers",
            "`headers` values are not accepted through the admin API: they may be credentials; \
             set them on a server in the config file",
        );
    }
    if !raw.inherit_env.is_empty() {
        return refuse(
            "inherit_env",
            "`inherit_env` is not accepted through the admin API: the gateway's environment \
             holds its provider keys; set it on a server in the config file",
        );
    }
    if !raw.headers_env.is_empty() {
        return refuse(
            "headers_env",
            "`headers_env` is not accepted through the admin API: the gateway's environment \
             holds its provider keys; set it on a server in the config file",
        );
    }
    if raw.auth.is_some() {
        return refuse(
            "auth",
            "`auth` is not accepted through the admin API: its secret is read from the \
             gateway's environment, which holds its provider keys; set it on a server in the \
             config file",
        );
    }
    if let Some(source) = &raw.openapi
        && !(source.starts_with("http://") || source.starts_with("https://"))
    {
        return refuse(
            "openapi",
            "through the admin API, `openapi` must be an http(s) URL: the gateway's files are \
             not read on a request's behalf",
        );
    }
    if let Some(command) = &raw.command
        && !admin_commands.contains(command)
    {
        return refuse(
            "command",
            "this program is not in `mcp.admin_commands`, the programs the admin API may \
             start (none by default)",
        );
    }
    Ok(())
}

/// Decode and check a request body.
fn server_of(
    body: &Bytes,
    admin_commands: &[String],
) -> Result<(RawServer, ServerSettings), GatewayError> {
    let raw: RawServer = decode_json(body)?;
    admissible(&raw, admin_commands)?;
    let settings = checked(&raw)?;
    Ok((raw, settings))
}

/// A saved server as it would be started, if it is still admissible and
/// checks out.
fn saved_settings(raw: &RawServer, admin_commands: &[String]) -> Result<ServerSettings, String> {
    admissible(raw, admin_commands).map_err(|error| error.to_string())?;
    checked(raw).map_err(|error| error.to_string())
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
    State(admin): State<McpAdmin>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let (raw, settings) = server_of(&body, &admin.mcp.settings.admin_commands)?;
    let hub = &admin.mcp;
    let exists = || {
        if hub.upstream(&raw.name).is_some() {
            return Err(GatewayError::Conflict {
                message: format!("MCP server `{}` exists; PUT replaces it", raw.name),
                param: Some("name".to_owned()),
            });
        }
        Ok(())
    };
    admin
        .changes
        .change(
            &raw.name,
            Some(raw.clone()),
            Box::new(exists),
            Box::new(|| {
                hub.put(settings);
            }),
        )
        .await?;
    Ok((StatusCode::CREATED, registered(&raw, "added")))
}

pub(super) async fn replace(
    State(admin): State<McpAdmin>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let (raw, settings) = server_of(&body, &admin.mcp.settings.admin_commands)?;
    if raw.name != name {
        return Err(GatewayError::invalid(
            format!("`name` is `{}` but the path names `{name}`", raw.name),
            Some("name"),
        ));
    }
    let hub = &admin.mcp;
    let existed = hub.upstream(&name).is_some();
    admin
        .changes
        .change(
            &name,
            Some(raw.clone()),
            Box::new(|| Ok(())),
            Box::new(|| {
                hub.put(settings);
            }),
        )
        .await?;
    Ok(if existed {
        (StatusCode::OK, registered(&raw, "replaced"))
    } else {
        (StatusCode::CREATED, registered(&raw, "added"))
    })
}

pub(super) async fn remove(
    State(admin): State<McpAdmin>,
    Path(name): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let hub = &admin.mcp;
    let known = || {
        hub.upstream(&name)
            .map(|_| ())
            .ok_or_else(|| GatewayError::NotFound {
                message: format!("no MCP server `{name}` is registered"),
            })
    };
    admin
        .changes
        .change(
            &name,
            None,
            Box::new(known),
            Box::new(|| {
                hub.remove(&name);
            }),
        )
        .await?;
    Ok(Json(json!({ "name": name, "status": "removed" })))
}

/// The config's servers with the saved admin changes on top. A saved server
/// that no longer checks out (an environment variable gone) is left out,
/// with the reason logged.
pub fn with_saved(
    mut servers: Vec<ServerSettings>,
    saved: &BTreeMap<String, Option<RawServer>>,
    admin_commands: &[String],
) -> Vec<ServerSettings> {
    for (name, doc) in saved {
        servers.retain(|server| *server.name != **name);
        if let Some(raw) = doc {
            match saved_settings(raw, admin_commands) {
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
    admin_commands: &[String],
) {
    for (name, doc) in after {
        if before.get(name) == Some(doc) {
            continue;
        }
        match doc {
            None => {
                hub.remove(name);
            }
            Some(raw) => match saved_settings(raw, admin_commands) {
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
        let bad_url = raw(json!({"name": "d", "url": "ftp://d/mcp"}));
        // Written to the shared store by someone other than the admin API:
        // an unlisted program, or the gateway's environment.
        let unlisted = raw(json!({"name": "e", "command": "/bin/sh", "args": ["-c", "id"]}));
        let environment = raw(json!({"name": "f", "url": "http://f/mcp",
            "headers_env": {"Authorization": "OPENAI_API_KEY"}}));
        let listed = raw(json!({"name": "g", "command": "/bin/cat"}));
        let saved = BTreeMap::from([
            ("a".to_owned(), Some(http("a", "http://a2/mcp"))),
            ("b".to_owned(), None),
            ("c".to_owned(), Some(http("c", "http://c/mcp"))),
            ("d".to_owned(), Some(bad_url)),
            ("e".to_owned(), Some(unlisted)),
            ("f".to_owned(), Some(environment)),
            ("g".to_owned(), Some(listed)),
        ]);
        let allowed = ["/bin/cat".to_owned()];
        let servers: Vec<(String, String)> = with_saved(config, &saved, &allowed)
            .into_iter()
            .map(|server| {
                let (_, target) = server.transport.describe();
                (server.name.to_string(), target.to_owned())
            })
            .collect();
        assert_eq!(
            servers,
            [
                ("a".to_owned(), "http://a2/mcp".to_owned()),
                ("c".to_owned(), "http://c/mcp".to_owned()),
                ("g".to_owned(), "/bin/cat".to_owned()),
            ]
        );
    }

    #[test]
    fn the_admin_api_reaches_neither_unlisted_programs_nor_the_environment() {
        let allowed = ["/usr/bin/mcp-server-time".to_owned()];
        let cases = [
            (json!({"name": "x", "command": "/bin/sh"}), "command"),
            (
                json!({"name": "x", "command": "/usr/bin/mcp-server-time",
                    "inherit_env": ["OPENAI_API_KEY"]}),
                "inherit_env",
            ),
            (
                json!({"name": "x", "url": "http://x/mcp",
                    "headers_env": {"Authorization": "OPENAI_API_KEY"}}),
                "headers_env",
            ),
            (
                json!({"name": "x", "command": "/usr/bin/mcp-server-time",
                    "env": {"TOKEN": "s3cret"}}),
                "env",
            ),
            (
                json!({"name": "x", "url": "http://x/mcp",
                    "headers": {"Authorization": "Bearer s3cret"}}),
                "headers",
            ),
        ];
        for (body, field) in cases {
            let error = admissible(&raw(body.clone()), &allowed).unwrap_err();
            let answer: Value = serde_json::from_slice(&error.body()).unwrap();
            assert_eq!(answer["error"]["param"], field, "{body}");
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert!(!answer.to_string().contains("s3cret"));
        }
        let listed = json!({"name": "x", "command": "/usr/bin/mcp-server-time"});
        assert!(admissible(&raw(listed.clone()), &allowed).is_ok());
        assert!(admissible(&raw(listed), &[]).is_err(), "none by default");
        assert!(admissible(&http("x", "http://x/mcp"), &[]).is_ok());
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

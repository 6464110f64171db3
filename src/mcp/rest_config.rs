//! `[[mcp.servers]]` entries that name a REST API by its OpenAPI
//! description: their raw `auth` and their checked settings (the
//! description read when it is a file, the credential found, the filters
//! compiled).

use super::config::{RawServer, Transport, glob_set};
use serde::Deserialize;
use std::sync::Arc;

/// `auth` of a REST server: `type` is `"bearer"`, `"basic"` (the secret is
/// `user:password`), `"header"` or `"query"` (both need `name`); the secret
/// is read from the environment variable `env` at startup.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiAuth {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub env: String,
}

pub(super) fn default_max_response_bytes() -> usize {
    1 << 20
}

/// A REST server's settings, checked.
#[derive(Debug, Clone)]
pub struct RestApi {
    /// Where the description is: a file path or an http(s) URL.
    pub source: String,
    /// The description, when it was read from a file at validation.
    pub document: Option<serde_json::Value>,
    pub base_url: Option<String>,
    pub auth: Option<crate::openapi::ApiAuth>,
    pub filter: crate::openapi::Filter,
    pub max_response_bytes: usize,
}

/// A REST server's settings: the description read (when it is a file) and
/// checked, the credential found, the filters compiled.
pub(super) fn rest_api(
    server: &RawServer,
    path: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> Option<Transport> {
    use crate::openapi::{ApiAuth, AuthPlacement, Filter};
    let source = server.openapi.clone()?;
    let remote = source.starts_with("http://") || source.starts_with("https://");
    let document = if remote {
        None
    } else {
        match std::fs::read_to_string(&source) {
            Ok(text) => match crate::openapi::parse_document(&text) {
                Ok(document) => Some(document),
                Err(error) => {
                    problem(path("openapi"), format!("{source}: {error}"));
                    None
                }
            },
            Err(error) => {
                problem(path("openapi"), format!("cannot read {source}: {error}"));
                None
            }
        }
    };
    if let Some(base) = &server.base_url
        && !(base.starts_with("http://") || base.starts_with("https://"))
    {
        problem(path("base_url"), format!("`{base}` is not an http(s) URL"));
    }
    let auth = server.auth.as_ref().and_then(|auth| {
        let mut named = |kind: &str| match &auth.name {
            Some(name) if http::HeaderName::try_from(name.as_str()).is_ok() => Some(name.clone()),
            _ => {
                problem(
                    path("auth.name"),
                    format!("`{kind}` auth needs a valid `name`"),
                );
                None
            }
        };
        let placement = match auth.kind.as_str() {
            "bearer" => Some(AuthPlacement::Bearer),
            "basic" => Some(AuthPlacement::Basic),
            "header" => named("header").map(AuthPlacement::Header),
            "query" => named("query").map(AuthPlacement::Query),
            other => {
                problem(
                    path("auth.type"),
                    format!("`{other}`: use bearer, basic, header or query"),
                );
                None
            }
        };
        let secret = env(&auth.env);
        if secret.is_none() {
            problem(
                path("auth.env"),
                format!("environment variable `{}` is not set", auth.env),
            );
        }
        Some(ApiAuth {
            placement: placement?,
            secret: crate::shapes::Secret::new(secret?),
        })
    });
    let filter = Filter {
        include_tags: server.include_tags.clone(),
        exclude_tags: server.exclude_tags.clone(),
        include_paths: Some(glob_set(
            &server.include_paths,
            &path("include_paths"),
            problem,
        )),
        include_operations: server.include_operations.clone(),
        exclude_operations: server.exclude_operations.clone(),
    };
    if let Some(document) = &document {
        match crate::openapi::operations(document, &filter) {
            Ok((operations, _)) if operations.is_empty() => problem(
                path("openapi"),
                format!("{source}: no operation can be served as a tool"),
            ),
            Ok(_) => {}
            Err(error) => problem(path("openapi"), format!("{source}: {error}")),
        }
    }
    Some(Transport::OpenApi(Arc::new(RestApi {
        source,
        document,
        base_url: server.base_url.clone(),
        auth,
        filter,
        max_response_bytes: server.max_response_bytes,
    })))
}

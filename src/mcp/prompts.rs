//! Prompts merged across servers, named like tools (`<server>__<prompt>`,
//! shortened with a hash suffix when needed). The team's allow and deny globs
//! apply to prompts as to tools, over `<server>/<prompt>`. Listings are
//! fetched on demand; a server that fails or is slow is left out and logged.

use super::front::{McpRequest, codes};
use super::hub::McpHub;
use super::names::{NameMap, ToolKey};
use super::upstream::UpstreamError;
use rmcp::ErrorData;
use rmcp::model::{GetPromptRequestParams, GetPromptResult, JsonObject, Prompt};
use std::sync::Arc;

/// The prompts the caller may use: (server, prompt, exposed name).
pub async fn visible(hub: &McpHub, request: &McpRequest) -> Vec<(ToolKey, Arc<str>, Prompt)> {
    let Some(policy) = hub.settings.policy(&request.caller.team) else {
        return Vec::new();
    };
    let servers: Vec<_> = hub
        .servers()
        .into_iter()
        .filter(|u| request.scope.as_ref().is_none_or(|s| s == u.name()))
        .collect();
    let listings = futures::future::join_all(servers.iter().map(|u| u.list_prompts())).await;
    let mut all = Vec::new();
    for (upstream, listing) in servers.iter().zip(listings) {
        match listing {
            Ok(prompts) => {
                for prompt in prompts {
                    let key = ToolKey {
                        server: upstream.name().clone(),
                        tool: Arc::from(prompt.name.as_str()),
                    };
                    all.push((key, prompt));
                }
            }
            Err(UpstreamError::Unavailable(_)) => {}
            Err(error) => tracing::warn!(%error, "MCP prompts/list left a server out"),
        }
    }
    let names = NameMap::build(all.iter().map(|(key, _)| key.clone()));
    all.into_iter()
        .filter(|(key, _)| policy.allows(&format!("{}/{}", key.server, key.tool)))
        .filter_map(|(key, prompt)| {
            let exposed = names.exposed(&key)?.clone();
            Some((key, exposed, prompt))
        })
        .collect()
}

pub async fn get(
    hub: &McpHub,
    request: &McpRequest,
    params: GetPromptRequestParams,
) -> Result<GetPromptResult, ErrorData> {
    let visible = visible(hub, request).await;
    let found = visible
        .iter()
        .find(|(key, exposed, _)| match &request.scope {
            Some(_) => *key.tool == *params.name,
            None => **exposed == *params.name,
        });
    let Some((key, _, _)) = found else {
        // Unknown and not allowed look the same: a prompt the team may not
        // use is not listed either.
        return Err(ErrorData::invalid_params(
            format!("unknown prompt `{}`", params.name),
            None,
        ));
    };
    let upstream = hub.upstream(&key.server).ok_or_else(|| {
        ErrorData::new(codes::UPSTREAM_UNAVAILABLE, "server not registered", None)
    })?;
    let arguments: Option<JsonObject> = params.arguments;
    upstream
        .get_prompt(&key.tool, arguments)
        .await
        .map_err(|error| match error {
            UpstreamError::Rpc { error, .. } => error,
            other => ErrorData::new(codes::UPSTREAM_UNAVAILABLE, other.to_string(), None),
        })
}

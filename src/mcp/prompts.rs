//! Prompts merged across servers, named like tools (`<server>__<prompt>`,
//! shortened with a hash suffix when needed). The team's allow and deny globs
//! apply to prompts as to tools, over `<server>/<prompt>`. Listings are
//! fetched on demand; a server that fails or is slow is left out and logged.
//! The gateway's own templates (`prompts/`) are the prompts of the reserved
//! server `switchboard`, rendered here.

use super::config::TEMPLATES_SERVER;
use super::front::{McpRequest, codes, upstream_error};
use super::hub::McpHub;
use super::names::{NameMap, ToolKey};
use super::upstream::{Upstream, UpstreamError};
use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult, JsonObject,
    Prompt, PromptArgument, PromptMessage, Reference, Role,
};
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
    if request.scope.is_none() {
        for template in hub.templates.load().latest() {
            let arguments = template
                .variables
                .iter()
                .map(|v| {
                    PromptArgument::new(&v.name)
                        .with_description(format!("{} ({})", v.description, v.kind))
                        .with_required(v.default.is_none())
                })
                .collect();
            let key = ToolKey {
                server: Arc::from(TEMPLATES_SERVER),
                tool: Arc::from(template.name.as_str()),
            };
            let prompt = Prompt::new(
                template.name.clone(),
                Some(template.description.clone()),
                Some(arguments),
            );
            all.push((key, prompt));
        }
    }
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

/// The server behind a prompt the caller may use, and the prompt's name
/// there. Unknown and not allowed look the same: a prompt the team may not
/// use is not listed either.
pub async fn owner(
    hub: &McpHub,
    request: &McpRequest,
    name: &str,
) -> Result<(Arc<Upstream>, Arc<str>), ErrorData> {
    let visible = visible(hub, request).await;
    let found = visible
        .iter()
        .find(|(key, exposed, _)| match &request.scope {
            Some(_) => *key.tool == *name,
            None => **exposed == *name,
        });
    let Some((key, _, _)) = found else {
        return Err(ErrorData::invalid_params(
            format!("unknown prompt `{name}`"),
            None,
        ));
    };
    let upstream = hub.upstream(&key.server).ok_or_else(|| {
        ErrorData::new(codes::UPSTREAM_UNAVAILABLE, "server not registered", None)
    })?;
    Ok((upstream, key.tool.clone()))
}

pub async fn get(
    hub: &McpHub,
    request: &McpRequest,
    params: GetPromptRequestParams,
) -> Result<GetPromptResult, ErrorData> {
    if let Some(name) = template(hub, request, &params.name).await {
        return render(hub, &name, params.arguments.unwrap_or_default());
    }
    let (upstream, name) = owner(hub, request, &params.name).await?;
    let arguments: Option<JsonObject> = params.arguments;
    upstream
        .get_prompt(&name, arguments)
        .await
        .map_err(upstream_error)
}

/// The template a visible prompt name stands for, if it is one of the
/// gateway's own.
async fn template(hub: &McpHub, request: &McpRequest, name: &str) -> Option<Arc<str>> {
    visible(hub, request)
        .await
        .into_iter()
        .find(|(key, exposed, _)| *key.server == *TEMPLATES_SERVER && **exposed == *name)
        .map(|(key, _, _)| key.tool)
}

/// A template rendered as one message (MCP prompt messages are the user's
/// or the assistant's: a system template is the user's here).
fn render(hub: &McpHub, name: &str, arguments: JsonObject) -> Result<GetPromptResult, ErrorData> {
    let templates = hub.templates.load();
    match templates.render_strings(name, &arguments) {
        Ok((template, text)) => Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            text,
        )])
        .with_description(template.description.clone())),
        Err(crate::prompts::RenderError::NotFound(message)) => {
            Err(ErrorData::invalid_params(message, None))
        }
        Err(crate::prompts::RenderError::Invalid { message, param }) => Err(
            ErrorData::invalid_params(message, Some(serde_json::json!({"param": param}))),
        ),
    }
}

/// Completions for an argument of a prompt (by its exposed name) or of a
/// resource template (by its URI template), from the server that owns it.
pub async fn complete(
    hub: &McpHub,
    request: &McpRequest,
    mut params: CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let upstream = match &mut params.r#ref {
        Reference::Prompt(prompt) => {
            // The gateway's templates offer no completions.
            if template(hub, request, &prompt.name).await.is_some() {
                return Ok(CompleteResult::default());
            }
            let (upstream, name) = owner(hub, request, &prompt.name).await?;
            prompt.name = name.to_string();
            upstream
        }
        Reference::Resource(template) => {
            super::resources::template_owner(hub, request, &template.uri).await?
        }
        _ => {
            return Err(ErrorData::invalid_params(
                "`ref` must be a `ref/prompt` or a `ref/resource`",
                None,
            ));
        }
    };
    upstream.complete(params).await.map_err(upstream_error)
}

//! Resources and resource templates merged across servers. URIs and URI
//! templates are the resources' identities and stay as the servers gave
//! them; a read (or a subscription) goes to the server that lists the URI,
//! or else to the server with a template that matches it (the first by
//! server name, should two qualify). The team's allow and deny globs apply
//! over `<server>/<uri>` (and `<server>/<uri template>` for listing templates).

use super::front::{McpRequest, upstream_error};
use super::hub::McpHub;
use super::upstream::{Upstream, UpstreamError};
use super::uri_template::UriTemplate;
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceTemplate};
use std::future::Future;
use std::sync::Arc;

/// Every listing of the servers in the request's scope, merged: items the
/// team's policy allows (by `id`), the first server's where two share an id.
async fn merged<T, F, Fut>(
    hub: &McpHub,
    request: &McpRequest,
    what: &'static str,
    list: F,
    id: fn(&T) -> &str,
) -> Vec<(Arc<Upstream>, T)>
where
    F: Fn(Arc<Upstream>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, UpstreamError>>,
{
    let Some(policy) = hub.settings.policy(&request.caller.team) else {
        return Vec::new();
    };
    let servers: Vec<_> = hub
        .servers()
        .into_iter()
        .filter(|u| request.scope.as_ref().is_none_or(|s| s == u.name()))
        .collect();
    let listings = futures::future::join_all(servers.iter().cloned().map(list)).await;
    let mut out: Vec<(Arc<Upstream>, T)> = Vec::new();
    for (upstream, listing) in servers.iter().zip(listings) {
        match listing {
            Ok(items) => {
                for item in items {
                    let subject = format!("{}/{}", upstream.name(), id(&item));
                    if policy.allows(&subject) && !out.iter().any(|(_, o)| id(o) == id(&item)) {
                        out.push((upstream.clone(), item));
                    }
                }
            }
            Err(UpstreamError::Unavailable(_)) => {}
            Err(error) => tracing::warn!(%error, what, "an MCP listing left a server out"),
        }
    }
    out
}

/// The resources the caller may read, with the server that serves each.
pub async fn visible(hub: &McpHub, request: &McpRequest) -> Vec<(Arc<Upstream>, Resource)> {
    let list = |u: Arc<Upstream>| async move { u.list_resources().await };
    merged(hub, request, "resources/list", list, |r: &Resource| {
        r.uri.as_str()
    })
    .await
}

/// The resource templates the caller may use, with the server of each.
pub async fn templates(
    hub: &McpHub,
    request: &McpRequest,
) -> Vec<(Arc<Upstream>, ResourceTemplate)> {
    let list = |u: Arc<Upstream>| async move { u.list_resource_templates().await };
    let id: fn(&ResourceTemplate) -> &str = |t| t.uri_template.as_str();
    merged(hub, request, "resources/templates/list", list, id).await
}

/// The server that serves `uri` to this caller: the one listing it, or the
/// first whose template matches it (when the team may read the URI there).
pub async fn owner(
    hub: &McpHub,
    request: &McpRequest,
    uri: &str,
) -> Result<Arc<Upstream>, ErrorData> {
    if let Some((upstream, _)) = visible(hub, request)
        .await
        .into_iter()
        .find(|(_, r)| r.uri == uri)
    {
        return Ok(upstream);
    }
    let policy = hub.settings.policy(&request.caller.team);
    templates(hub, request)
        .await
        .into_iter()
        .find(|(upstream, template)| {
            UriTemplate::parse(&template.uri_template).matches(uri)
                && policy.is_some_and(|p| p.allows(&format!("{}/{uri}", upstream.name())))
        })
        .map(|(upstream, _)| upstream)
        .ok_or_else(|| ErrorData::resource_not_found(format!("unknown resource `{uri}`"), None))
}

/// The server whose resource template is `uri_template`, as the caller
/// sees it listed.
pub async fn template_owner(
    hub: &McpHub,
    request: &McpRequest,
    uri_template: &str,
) -> Result<Arc<Upstream>, ErrorData> {
    templates(hub, request)
        .await
        .into_iter()
        .find(|(_, template)| template.uri_template == uri_template)
        .map(|(upstream, _)| upstream)
        .ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("unknown resource template `{uri_template}`"),
                None,
            )
        })
}

pub async fn read(
    hub: &McpHub,
    request: &McpRequest,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let upstream = owner(hub, request, uri).await?;
    upstream.read_resource(uri).await.map_err(upstream_error)
}

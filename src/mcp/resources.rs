//! Resources merged across servers. URIs are the resources' identities and
//! stay as the servers gave them; a read goes to the server that lists the
//! URI (the first in config order, should two list the same one). The team's
//! allow and deny globs apply over `<server>/<uri>`.

use super::front::{McpRequest, codes};
use super::hub::McpHub;
use super::upstream::{Upstream, UpstreamError};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource};
use std::sync::Arc;

/// The resources the caller may read, with the server that serves each.
pub async fn visible(hub: &McpHub, request: &McpRequest) -> Vec<(Arc<Upstream>, Resource)> {
    let Some(policy) = hub.settings.policy(&request.caller.team) else {
        return Vec::new();
    };
    let servers: Vec<_> = hub
        .servers()
        .into_iter()
        .filter(|u| request.scope.as_ref().is_none_or(|s| s == u.name()))
        .collect();
    let listings = futures::future::join_all(servers.iter().map(|u| u.list_resources())).await;
    let mut out: Vec<(Arc<Upstream>, Resource)> = Vec::new();
    for (upstream, listing) in servers.iter().zip(listings) {
        match listing {
            Ok(resources) => {
                for resource in resources {
                    let subject = format!("{}/{}", upstream.name(), resource.uri);
                    if policy.allows(&subject) && !out.iter().any(|(_, r)| r.uri == resource.uri) {
                        out.push((upstream.clone(), resource));
                    }
                }
            }
            Err(UpstreamError::Unavailable(_)) => {}
            Err(error) => tracing::warn!(%error, "MCP resources/list left a server out"),
        }
    }
    out
}

pub async fn read(
    hub: &McpHub,
    request: &McpRequest,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let visible = visible(hub, request).await;
    let Some((upstream, _)) = visible.iter().find(|(_, r)| r.uri == uri) else {
        return Err(ErrorData::resource_not_found(
            format!("unknown resource `{uri}`"),
            None,
        ));
    };
    upstream
        .read_resource(uri)
        .await
        .map_err(|error| match error {
            UpstreamError::Rpc { error, .. } => error,
            other => ErrorData::new(codes::UPSTREAM_UNAVAILABLE, other.to_string(), None),
        })
}

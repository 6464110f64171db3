//! The MCP server clients talk to: an rmcp `ServerHandler` over the hub.
//! Every request is authorised with the caller the HTTP layer attached
//! (see `routes.rs`); a legacy session stays bound to the key that opened it.

use super::McpContext;
use super::callers::CallOwner;
use super::catalog::Entry;
use super::guard;
use super::listeners::{Listener, Target};
use super::progress::{CallListeners, ProgressTarget};

mod bridged;
mod governed;
use crate::auth::Caller;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use std::sync::{Arc, OnceLock};

/// JSON-RPC error codes of the gateway's own refusals (server-defined range).
pub mod codes {
    use rmcp::model::ErrorCode;
    pub const NOT_ALLOWED: ErrorCode = ErrorCode(-32040);
    pub const RATE_LIMITED: ErrorCode = ErrorCode(-32041);
    pub const CHANGED_DEFINITION: ErrorCode = ErrorCode(-32042);
    pub const GUARDRAIL: ErrorCode = ErrorCode(-32043);
    pub const UPSTREAM_UNAVAILABLE: ErrorCode = ErrorCode(-32044);
    pub const SESSION_OWNER: ErrorCode = ErrorCode(-32045);
    pub const CANCELLED: ErrorCode = ErrorCode(-32046);
    /// A priced tool's call that the team's or key's budget cannot take.
    pub const BUDGET_EXCEEDED: ErrorCode = ErrorCode(-32047);
}

/// An upstream's failure as the client sees it: the server's own JSON-RPC
/// error as it sent it; any other failure as "upstream unavailable".
pub fn upstream_error(error: super::upstream::UpstreamError) -> ErrorData {
    match error {
        super::upstream::UpstreamError::Rpc { error, .. } => error,
        other => ErrorData::new(codes::UPSTREAM_UNAVAILABLE, other.to_string(), None),
    }
}

/// What the HTTP layer learnt about a request: who calls, and which part of
/// the catalog the URL selects (`/mcp/{server}`), if any.
#[derive(Debug, Clone)]
pub struct McpRequest {
    pub caller: Caller,
    pub scope: Option<Arc<str>>,
    /// The HTTP request's id (`x-request-id`), for the audit line: a call the
    /// gateway makes in its own tool loop carries the id of the request that
    /// started the loop.
    pub request_id: Arc<str>,
    /// The W3C `traceparent` the call's span continues: the client's HTTP
    /// header, or the Responses request's own span in the tool loop.
    pub traceparent: Option<Arc<str>>,
}

pub struct FrontDoor {
    cx: McpContext,
    /// The key that opened this (legacy) session.
    owner: OnceLock<Arc<str>>,
    /// This legacy session as a listener: its standing stream and the
    /// resources it subscribed to.
    listener: OnceLock<Arc<Listener>>,
    /// The log level this (legacy) session set with `logging/setLevel`.
    #[allow(deprecated)]
    log_level: parking_lot::Mutex<Option<rmcp::model::LoggingLevel>>,
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        // The session ended: its upstream subscriptions are given back.
        if let Some(listener) = self.listener.get() {
            self.cx.mcp.forget(listener);
        }
    }
}

/// Forgets a listen stream's listener however its request ends.
struct Forget<'a> {
    cx: &'a McpContext,
    listener: Arc<Listener>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.cx.mcp.forget(&self.listener);
    }
}

fn not_subscribable(uri: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("the server of `{uri}` does not offer resource subscriptions"),
        None,
    )
}

impl FrontDoor {
    pub fn new(cx: McpContext) -> Self {
        Self {
            cx,
            owner: OnceLock::new(),
            listener: OnceLock::new(),
            log_level: parking_lot::Mutex::new(None),
        }
    }

    fn request(&self, ctx: &RequestContext<RoleServer>) -> Result<McpRequest, ErrorData> {
        let request = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<McpRequest>())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("request without a caller", None))?;
        let owner = self.owner.get_or_init(|| request.caller.key_id.clone());
        if *owner != request.caller.key_id {
            return Err(ErrorData::new(
                codes::SESSION_OWNER,
                "this session was opened with another key",
                None,
            ));
        }
        Ok(request)
    }

    /// This legacy session as a listener, registered on first use.
    fn session_listener(&self, peer: Peer<RoleServer>) -> &Arc<Listener> {
        self.listener
            .get_or_init(|| self.cx.mcp.listen(Target::Session(peer)))
    }

    fn visible(&self, request: &McpRequest, entry: &Entry) -> bool {
        let hub = &self.cx.mcp;
        if request
            .scope
            .as_ref()
            .is_some_and(|scope| *scope != entry.key.server)
        {
            return false;
        }
        if entry.changed && hub.settings.block_changed_tools {
            return false;
        }
        hub.settings
            .policy(&request.caller.team)
            .is_some_and(|policy| policy.allows(&entry.subject))
    }
}

fn present(entry: &Entry, scoped: bool) -> Tool {
    let mut tool = entry.tool.clone();
    if !scoped {
        tool.name = entry.exposed.to_string().into();
    }
    tool
}

impl ServerHandler for FrontDoor {
    #[allow(deprecated)] // `logging`: deprecated by the 2026-07-28 revision, still used by its clients
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_completions()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(
            "switchboard",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions("Tools of the servers registered with this Switchboard gateway.")
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // Only legacy sessions have a standing stream to notify; 2026-07-28
        // clients open `subscriptions/listen` instead.
        self.session_listener(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Everything the gateway advertises; a resource URI the caller may
        // not read (or whose server takes no subscriptions) is accepted but
        // never updated, since the caller is only known in `listen`.
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let request = self.request(context.request_context())?;
        let hub = &self.cx.mcp;
        let forget = Forget {
            cx: &self.cx,
            listener: hub.listen(Target::Stream(context.sink().clone())),
        };
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            match super::resources::owner(hub, &request, uri).await {
                Ok(upstream) if upstream.can_subscribe() => {
                    forget.listener.subscribe(&upstream, uri).await;
                }
                Ok(_) => tracing::debug!(uri, "{}", not_subscribable(uri).message),
                Err(error) => {
                    tracing::debug!(uri, reason = %error.message, "no resource to subscribe to");
                }
            }
        }
        let stop = hub.stop_token();
        tokio::select! {
            () = context.cancelled() => {}
            () = stop.cancelled() => {}
        }
        drop(forget);
        Ok(())
    }

    async fn subscribe(
        &self,
        params: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = self.request(&ctx)?;
        // A session restored on this replica (shared sessions) was
        // initialized elsewhere: it becomes a listener here on first use.
        let listener = self.session_listener(ctx.peer.clone());
        let upstream = super::resources::owner(&self.cx.mcp, &request, &params.uri).await?;
        if !upstream.can_subscribe() {
            return Err(not_subscribable(&params.uri));
        }
        listener.subscribe(&upstream, &params.uri).await;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        params: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.request(&ctx)?;
        if let Some(listener) = self.listener.get() {
            let hub = &self.cx.mcp;
            listener.unsubscribe(&params.uri, |name| hub.upstream(name));
        }
        Ok(())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let request = self.request(&ctx)?;
        let templates = super::resources::templates(&self.cx.mcp, &request)
            .await
            .into_iter()
            .map(|(_, template)| template)
            .collect();
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let request = self.request(&ctx)?;
        let scoped = request.scope.is_some();
        let prompts = super::prompts::visible(&self.cx.mcp, &request)
            .await
            .into_iter()
            .map(|(_, exposed, mut prompt)| {
                if !scoped {
                    prompt.name = exposed.to_string();
                }
                prompt
            })
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let request = self.request(&ctx)?;
        super::prompts::get(&self.cx.mcp, &request, params)
            .await
            .map(GetPromptResponse::Complete)
    }

    /// The session's level is kept (and applied as messages are passed
    /// on); the servers in the caller's scope are asked for that much.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        params: rmcp::model::SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = self.request(&ctx)?;
        *self.log_level.lock() = Some(params.level);
        let hub = &self.cx.mcp;
        let catalog = hub.catalog();
        let mut servers: Vec<&Arc<str>> = catalog
            .entries
            .iter()
            .filter(|entry| self.visible(&request, entry))
            .map(|entry| &entry.key.server)
            .collect();
        servers.sort();
        servers.dedup();
        for server in servers {
            if let Some(upstream) = hub.upstream(server) {
                upstream.want_logs(params.level).await;
            }
        }
        Ok(())
    }

    async fn complete(
        &self,
        params: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let request = self.request(&ctx)?;
        super::prompts::complete(&self.cx.mcp, &request, params).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let request = self.request(&ctx)?;
        let resources = super::resources::visible(&self.cx.mcp, &request)
            .await
            .into_iter()
            .map(|(_, resource)| resource)
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let request = self.request(&ctx)?;
        super::resources::read(&self.cx.mcp, &request, &params.uri)
            .await
            .map(ReadResourceResponse::Complete)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let request = self.request(&ctx)?;
        let catalog = self.cx.mcp.catalog();
        let scoped = request.scope.is_some();
        let tools = catalog
            .entries
            .iter()
            .filter(|entry| self.visible(&request, entry))
            .map(|entry| present(entry, scoped))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let request = self.request(&ctx)?;
        let catalog = self.cx.mcp.catalog();
        let entry = match &request.scope {
            Some(scope) => catalog.by_key(scope, &params.name),
            None => catalog.by_exposed(&params.name),
        };
        // rmcp moves the request's `_meta` into the context.
        let progress = ctx
            .meta
            .get_progress_token()
            .or_else(|| {
                params
                    .meta
                    .as_ref()
                    .and_then(|meta| meta.get_progress_token())
            })
            .map(|token| ProgressTarget {
                peer: ctx.peer.clone(),
                token,
            });
        let listeners = CallListeners {
            progress,
            owner: Some(self.call_owner(&ctx, &request, entry)),
            traceparent: None,
        };
        if is_stateless(&ctx) {
            let at = (catalog.clone(), entry);
            return self
                .bridged_call(request, at, params, listeners, &ctx)
                .await;
        }
        // A client's `notifications/cancelled` ends the wait; dropping the
        // upstream request sends the cancellation on to the upstream server.
        self.governed_call(&request, entry, params, listeners, ctx.ct.cancelled())
            .await
            .0
            .map(CallToolResponse::Complete)
    }
}

impl FrontDoor {
    /// The tools `request`'s caller may use, as `tools/list` shows them
    /// (for the gateway's own tool loop): each with its server and its
    /// name there.
    pub fn tools_for(&self, request: &McpRequest) -> Vec<(Tool, Arc<str>, Arc<str>)> {
        let catalog = self.cx.mcp.catalog();
        let scoped = request.scope.is_some();
        catalog
            .entries
            .iter()
            .filter(|entry| self.visible(request, entry))
            .map(|entry| {
                (
                    present(entry, scoped),
                    entry.key.server.clone(),
                    entry.key.tool.clone(),
                )
            })
            .collect()
    }

    /// A tool call made by the gateway on the caller's behalf (its tool
    /// loop): the same policy, conditions, rate limits, pinning, guardrails
    /// and audit as a client's call, and what it was charged (the loop's
    /// spend). No progress is relayed, and a server's requests to a client
    /// during the call are refused: there is no client to ask.
    pub async fn call_for(
        &self,
        request: &McpRequest,
        name: &str,
        arguments: Option<rmcp::model::JsonObject>,
    ) -> (Result<CallToolResult, ErrorData>, crate::cost::NanoUsd) {
        let catalog = self.cx.mcp.catalog();
        let entry = match &request.scope {
            Some(scope) => catalog.by_key(scope, name),
            None => catalog.by_exposed(name),
        };
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = arguments;
        let listeners = CallListeners {
            progress: None,
            owner: None,
            traceparent: None,
        };
        self.governed_call(request, entry, params, listeners, std::future::pending())
            .await
    }
}

impl FrontDoor {
    /// The client this call runs for, as the upstream's log messages and
    /// requests during the call will find it: logs at the level its request
    /// carries (2026-07-28) or its session set (a 2026-07-28 request without
    /// a level hears none, a session that set none hears what the server
    /// sends), and what its team's policy lets servers ask of it.
    #[allow(deprecated)]
    fn call_owner(
        &self,
        ctx: &RequestContext<RoleServer>,
        request: &McpRequest,
        entry: Option<&Entry>,
    ) -> CallOwner {
        let level = ctx.meta.log_level().or(*self.log_level.lock());
        let stateless = is_stateless(ctx);
        let policy = self.cx.mcp.settings.policy(&request.caller.team);
        CallOwner {
            peer: ctx.peer.clone(),
            team: request.caller.team.clone(),
            caller: request.caller.clone(),
            logs: (level.is_some() || !stateless).then_some(level),
            may_sample: policy.is_some_and(|p| p.sampling),
            may_elicit: policy.is_some_and(|p| p.elicitation),
            guard: entry.map(|entry| {
                (
                    self.cx.clone(),
                    guard::route(&entry.key.server, &entry.key.tool),
                )
            }),
            bridge: None,
        }
    }
}

/// A 2026-07-28 request (no session): the server's requests reach its
/// client only through `input_required` results.
fn is_stateless(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|version| !version.has_initialize())
}

//! The gateway as the client of one upstream server: what it offers the
//! server, and where the server's notifications and requests go.

use super::callers::{Bridge, CallOwner, InFlight};
use super::listeners::Change;
use super::metrics::{McpMetrics, ServerRequestLabels};
use super::progress::ProgressRelay;
use super::sampling::{self, ModelSampler};
use rmcp::model::{
    ClientConfig, Implementation, InputRequest, ProgressNotificationParam, Request,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The client side the gateway presents to an upstream: it passes
/// `tools/list_changed` on to the supervisor, progress on to the clients
/// that asked for it, log messages and requests to clients (sampling,
/// elicitation, roots) on to the client whose call is in flight (see
/// `callers.rs`), and the other changes on to the hub.
#[derive(Clone)]
pub(super) struct UpstreamClient {
    pub(super) server: Arc<str>,
    pub(super) list_changed: mpsc::Sender<()>,
    pub(super) progress: Arc<ProgressRelay>,
    pub(super) calls: Arc<InFlight>,
    pub(super) call_timeout: Duration,
    /// `client_requests` of the server's settings.
    pub(super) client_requests: bool,
    /// `sampling_model`: the gateway answers the server's sampling itself.
    pub(super) sampling_model: Option<Arc<str>>,
    pub(super) metrics: Arc<McpMetrics>,
    pub(super) changes: mpsc::Sender<Change>,
}

impl UpstreamClient {
    /// The client a request from the server goes to: the one caller in
    /// flight, when its team's policy allows the request.
    fn owner_for(
        &self,
        method: &'static str,
        allowed: impl Fn(&CallOwner) -> bool,
    ) -> Result<CallOwner, ErrorData> {
        let refuse = |team: &str, reason: &'static str, why: &str| {
            tracing::info!(target: "switchboard::mcp::audit", server = %self.server, team, method, outcome = "refused", reason, "server request");
            self.count(method, reason);
            ErrorData::invalid_request(format!("{method} refused by the gateway: {why}"), None)
        };
        // A server whose sampling the gateway answers may sample even when
        // it may not ask clients anything.
        let answered_here = method == "sampling/createMessage" && self.sampling_model.is_some();
        if !self.client_requests && !answered_here {
            return Err(refuse(
                "-",
                "refused_server",
                "this server may not send requests to clients",
            ));
        }
        let owner = self
            .calls
            .sole_owner()
            .map_err(|why| refuse("-", "refused_no_caller", why))?;
        if !allowed(&owner) {
            return Err(refuse(
                &owner.team,
                "refused_policy",
                "the team's policy does not allow it",
            ));
        }
        Ok(owner)
    }

    fn count(&self, method: &'static str, outcome: &'static str) {
        self.metrics
            .server_requests
            .get_or_create(&ServerRequestLabels {
                server: self.server.to_string(),
                method,
                outcome,
            })
            .inc();
    }

    /// Wait for the client's answer under the server's call timeout; a client
    /// that cannot take the request (no such capability, or a 2026-07-28
    /// client, which takes none) answers with an error, never a hang.
    async fn relay<T>(
        &self,
        method: &'static str,
        owner: &CallOwner,
        asked: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, ErrorData> {
        let outcome = match tokio::time::timeout(self.call_timeout, asked).await {
            Err(_) => Err(ErrorData::internal_error(
                format!("{method}: the client did not answer in time"),
                None,
            )),
            Ok(Err(ServiceError::McpError(error))) => Err(error),
            Ok(Err(error)) => Err(ErrorData::internal_error(
                format!("{method}: the client could not take it: {error}"),
                None,
            )),
            Ok(Ok(answer)) => Ok(answer),
        };
        tracing::info!(
            target: "switchboard::mcp::audit",
            server = %self.server,
            team = %owner.team,
            method,
            outcome = if outcome.is_ok() { "ok" } else { "error" },
            "server request"
        );
        self.count(method, if outcome.is_ok() { "ok" } else { "error" });
        outcome
    }

    fn tell(&self, change: Change) {
        // Notifications are hints: with the hub behind, one more is dropped.
        let _ = self.changes.try_send(change);
    }
}

/// A sampling request answered by the server's `sampling_model`, through
/// the chat stages for the caller (`sampling.rs`).
#[allow(deprecated)] // sampling: deprecated by the 2026-07-28 revision, still sent
async fn answered_by_gateway(
    sampler: Option<Arc<dyn ModelSampler>>,
    model: &str,
    caller: crate::auth::Caller,
    params: rmcp::model::CreateMessageRequestParams,
) -> Result<rmcp::model::CreateMessageResult, ServiceError> {
    let Some(sampler) = sampler else {
        return Err(ServiceError::McpError(ErrorData::internal_error(
            "sampling/createMessage: the gateway's model is not reachable from this call",
            None,
        )));
    };
    let body = sampling::chat_body(model, &params).map_err(ServiceError::McpError)?;
    let completion = sampler.complete(caller, body).await.map_err(|error| {
        ServiceError::McpError(ErrorData::internal_error(
            format!("sampling/createMessage: the gateway's model answered: {error}"),
            None,
        ))
    })?;
    sampling::result_of(&completion).map_err(ServiceError::McpError)
}

/// A request for a 2026-07-28 client, through its call's bridge: refused at
/// once when the client did not declare `capability`, and its answer read
/// as the result the server expects.
async fn bridged<T: serde::de::DeserializeOwned>(
    bridge: &Bridge,
    declared: bool,
    capability: &str,
    request: InputRequest,
) -> Result<T, ServiceError> {
    if !declared {
        return Err(ServiceError::McpError(ErrorData::invalid_request(
            format!("the client did not declare the `{capability}` capability"),
            None,
        )));
    }
    let answer = bridge
        .asker
        .ask(request)
        .await
        .map_err(ServiceError::McpError)?;
    serde_json::from_value(answer).map_err(|error| {
        ServiceError::McpError(ErrorData::invalid_params(
            format!("the client's answer is not a `{capability}` result: {error}"),
            None,
        ))
    })
}

impl ClientHandler for UpstreamClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.list_changed.try_send(());
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tell(Change::Prompts);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tell(Change::Resources);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.tell(Change::ResourceUpdated {
            server: self.server.clone(),
            uri: params.uri,
        });
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.forward(params).await;
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.calls.forward(params).await;
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, ErrorData> {
        let owner = self.owner_for("sampling/createMessage", |owner| owner.may_sample)?;
        let mut params = params;
        if let Some((cx, route)) = &owner.guard
            && let Err(rule) = super::guard::sampling(cx, &owner.team, route, &mut params).await
        {
            tracing::info!(target: "switchboard::mcp::audit", server = %self.server, team = %owner.team, method = "sampling/createMessage", outcome = "refused", reason = "guardrail", rule = %rule, "server request");
            self.count("sampling/createMessage", "refused_guardrail");
            return Err(ErrorData::invalid_request(
                format!("sampling/createMessage refused by the gateway: guardrail rule `{rule}`"),
                None,
            ));
        }
        let method = "sampling/createMessage";
        if let Some(model) = &self.sampling_model {
            let sampler = owner.guard.as_ref().and_then(|(cx, _)| cx.sampler.clone());
            let asked = answered_by_gateway(sampler, model, owner.caller.clone(), params);
            return self.relay(method, &owner, asked).await;
        }
        match &owner.bridge {
            Some(bridge) => {
                let request = InputRequest::CreateMessage(Request::new(params));
                let asked = bridged(bridge, bridge.sampling, "sampling", request);
                self.relay(method, &owner, asked).await
            }
            None => {
                let asked = owner.peer.create_message(params);
                self.relay(method, &owner, asked).await
            }
        }
    }

    async fn create_elicitation(
        &self,
        params: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, ErrorData> {
        let owner = self.owner_for("elicitation/create", |owner| owner.may_elicit)?;
        let method = "elicitation/create";
        match &owner.bridge {
            Some(bridge) => {
                let request = InputRequest::Elicitation(Request::new(params));
                let asked = bridged(bridge, bridge.elicitation, "elicitation", request);
                self.relay(method, &owner, asked).await
            }
            None => {
                let asked = owner.peer.create_elicitation(params);
                self.relay(method, &owner, asked).await
            }
        }
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, ErrorData> {
        let owner = self.owner_for("roots/list", |_| true)?;
        match &owner.bridge {
            Some(bridge) => {
                let request = InputRequest::ListRoots(Default::default());
                let asked = bridged(bridge, bridge.roots, "roots", request);
                self.relay("roots/list", &owner, asked).await
            }
            None => {
                let asked = owner.peer.list_roots();
                self.relay("roots/list", &owner, asked).await
            }
        }
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("switchboard", env!("CARGO_PKG_VERSION"));
        // The gateway passes these requests on to the client whose call
        // caused them (see `callers.rs`), so it offers what clients may,
        // unless the server may send none.
        #[allow(deprecated)]
        if self.client_requests {
            info.capabilities = rmcp::model::ClientCapabilities::builder()
                .enable_roots()
                .enable_sampling()
                .enable_elicitation()
                .build();
        } else if self.sampling_model.is_some() {
            info.capabilities = rmcp::model::ClientCapabilities::builder()
                .enable_sampling()
                .build();
        }
        info
    }
}

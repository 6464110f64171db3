//! One upstream tool server: connecting (stdio child process or streamable
//! HTTP), supervision with restart backoff, its current tools, and calls.
//!
//! Each upstream runs its own supervisor task, so a dead or slow server only
//! ever affects its own tools.

use super::callers::InFlight;
use super::config::{ServerSettings, Transport};
use super::listeners::Change;
use super::metrics::McpMetrics;
use super::progress::{CallListeners, ProgressRelay, ProgressTarget};
use super::upstream_client::UpstreamClient;
use parking_lot::RwLock;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult,
    JsonObject, Prompt, ReadResourceRequestParams, ReadResourceResult, RequestId, Resource,
    ResourceTemplate, ResultType, ServerCapabilities, ServerResult, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, RoleClient, ServiceError, ServiceExt};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// First wait before a restart; doubles up to the configured maximum.
const BACKOFF_START: Duration = Duration::from_millis(200);
/// A server that stayed up this long restarts without accumulated backoff.
const HEALTHY_RESET: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Starting,
    Up,
    Down { reason: String },
}

impl Health {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Up => "up",
            Self::Down { .. } => "down",
        }
    }
}

/// Tells the upstream to stop working on a call nobody waits for any more
/// (the client cancelled, or the call timed out), as rmcp's own calls do.
struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let peer = self.peer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let reason = Some("request abandoned by the caller".to_owned());
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(Some(id), reason))
                    .await;
            });
        }
    }
}

/// Why a call to an upstream did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("server `{0}` is not available")]
    Unavailable(Arc<str>),
    #[error("server `{server}` did not answer within {timeout:?}")]
    Timeout { server: Arc<str>, timeout: Duration },
    #[error("server `{server}` answered with an error: {error}")]
    Rpc {
        server: Arc<str>,
        error: rmcp::ErrorData,
    },
    #[error("server `{server}` failed: {reason}")]
    Failed { server: Arc<str>, reason: String },
}

struct Live {
    peer: Peer<RoleClient>,
    tools: Arc<Vec<Tool>>,
}

pub struct Upstream {
    pub settings: ServerSettings,
    health: RwLock<Health>,
    live: RwLock<Option<Live>>,
    restarts: std::sync::atomic::AtomicU64,
    /// Whether the first start attempt has ended (up or down): `/readyz`
    /// waits for it.
    first_attempt_done: std::sync::atomic::AtomicBool,
    /// Process id of the running stdio server (0 when none).
    pid: std::sync::atomic::AtomicU32,
    /// Asks the supervisor to list the server's tools again.
    refresh: Notify,
    progress: Arc<ProgressRelay>,
    /// The clients whose calls run on this server (see `callers.rs`).
    calls: Arc<InFlight>,
    /// The most verbose log level a client asked of this server (sent as
    /// `logging/setLevel`, again after a restart); each client's own level
    /// is applied as messages are passed on.
    #[allow(deprecated)]
    log_level: parking_lot::Mutex<Option<rmcp::model::LoggingLevel>>,
    /// Resource URIs clients subscribed to → how many clients. The server
    /// gets one `resources/subscribe` per URI, sent again after a restart.
    subscriptions: parking_lot::Mutex<HashMap<String, usize>>,
}

impl Upstream {
    pub fn new(settings: ServerSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            health: RwLock::new(Health::Starting),
            live: RwLock::new(None),
            restarts: std::sync::atomic::AtomicU64::new(0),
            first_attempt_done: std::sync::atomic::AtomicBool::new(false),
            pid: std::sync::atomic::AtomicU32::new(0),
            refresh: Notify::new(),
            progress: Arc::default(),
            calls: Arc::default(),
            log_level: parking_lot::Mutex::new(None),
            subscriptions: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.settings.name
    }

    pub fn health(&self) -> Health {
        self.health.read().clone()
    }

    /// Process id of the running stdio server, if one runs.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(std::sync::atomic::Ordering::Relaxed)).filter(|&pid| pid != 0)
    }

    /// List the server's tools again now, as on a `list_changed` notification.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the server is connected (its handshake done, its tools listed).
    pub fn is_live(&self) -> bool {
        self.live.read().is_some()
    }

    /// The tools of the running server; empty while it is down.
    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.live
            .read()
            .as_ref()
            .map(|live| live.tools.clone())
            .unwrap_or_default()
    }

    /// Call a tool. The upstream's progress notifications for this call
    /// reach `listeners.progress` under its own token; its log messages and
    /// requests meanwhile reach `listeners.owner` (see `callers.rs`).
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
        listeners: CallListeners,
    ) -> Result<CallToolResult, UpstreamError> {
        let server = self.settings.name.clone();
        let peer = self.peer()?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        if let Some(traceparent) = listeners.traceparent {
            // Trace context travels in `_meta`, as MCP carries it.
            let mut meta = rmcp::model::JsonObject::new();
            meta.insert("traceparent".into(), traceparent.into());
            params.meta = Some(rmcp::model::RequestMetaObject(rmcp::model::MetaObject(
                meta,
            )));
        }
        let listening = listeners.owner.map(|owner| self.calls.open(owner));
        let answer = match listeners.progress {
            None => self.request(server, peer.call_tool(params)).await,
            Some(target) => {
                let call = self.call_with_progress(&peer, params, target);
                self.request(server, call).await
            }
        };
        if let Some(listening) = &listening {
            listening.settle().await;
        }
        let mut result = answer?;
        // Results from servers on older revisions carry no result type;
        // 2026-07-28 clients require one. rmcp drops it again for clients on
        // older revisions.
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    /// Ask the server for log messages down to `level`, when a client asks
    /// for more than it was sent so far and the server offers logging.
    #[allow(deprecated)]
    pub async fn want_logs(&self, level: rmcp::model::LoggingLevel) {
        {
            let mut current = self.log_level.lock();
            if current.is_some_and(|current| {
                super::callers::severity(current) <= super::callers::severity(level)
            }) {
                return;
            }
            *current = Some(level);
        }
        if let Ok(peer) = self.peer() {
            self.send_log_level(&peer, level).await;
        }
    }

    #[allow(deprecated)]
    async fn send_log_level(&self, peer: &Peer<RoleClient>, level: rmcp::model::LoggingLevel) {
        let offers = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.logging.is_some());
        if !offers {
            return;
        }
        let server = self.settings.name.clone();
        let params = rmcp::model::SetLevelRequestParams::new(level);
        if let Err(error) = self.request(server, peer.set_level(params)).await {
            tracing::warn!(server = %self.settings.name, %error, "logging/setLevel failed");
        }
    }

    /// `tools/call` with a progress route open while it runs. rmcp gives every
    /// request its own progress token; the route is keyed by it.
    async fn call_with_progress(
        &self,
        peer: &Peer<RoleClient>,
        params: CallToolRequestParams,
        target: ProgressTarget,
    ) -> Result<CallToolResult, ServiceError> {
        let handle = peer
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                PeerRequestOptions::no_options(),
            )
            .await?;
        let route = self.progress.open(handle.progress_token.clone(), target);
        let mut abandoned = CancelOnDrop {
            peer: peer.clone(),
            id: Some(handle.id.clone()),
        };
        let answer = handle.await_response().await;
        abandoned.id = None;
        route.settle().await;
        match answer? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(ServiceError::UnexpectedResponse),
        }
    }

    /// One request to the server under the call timeout, its failure named.
    async fn request<T>(
        &self,
        server: Arc<str>,
        request: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, UpstreamError> {
        let timeout = self.settings.call_timeout;
        match tokio::time::timeout(timeout, request).await {
            Err(_) => Err(UpstreamError::Timeout { server, timeout }),
            Ok(Err(ServiceError::McpError(error))) => Err(UpstreamError::Rpc { server, error }),
            Ok(Err(error)) => Err(UpstreamError::Failed {
                server,
                reason: error.to_string(),
            }),
            Ok(Ok(value)) => Ok(value),
        }
    }

    fn peer(&self) -> Result<Peer<RoleClient>, UpstreamError> {
        self.live
            .read()
            .as_ref()
            .map(|live| live.peer.clone())
            .ok_or_else(|| UpstreamError::Unavailable(self.settings.name.clone()))
    }

    /// Every item of one listing, all pages, when the server offers the
    /// capability (`offers`); empty when it does not.
    async fn list_all<T, Fut>(
        &self,
        offers: fn(&ServerCapabilities) -> bool,
        list: impl FnOnce(Peer<RoleClient>) -> Fut,
    ) -> Result<Vec<T>, UpstreamError>
    where
        Fut: std::future::Future<Output = Result<Vec<T>, ServiceError>>,
    {
        let peer = self.peer()?;
        if !peer
            .peer_info()
            .is_some_and(|info| offers(&info.capabilities))
        {
            return Ok(Vec::new());
        }
        self.request(self.settings.name.clone(), list(peer)).await
    }

    /// The server's prompts.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>, UpstreamError> {
        let list = |peer: Peer<RoleClient>| async move { peer.list_all_prompts().await };
        self.list_all(|c| c.prompts.is_some(), list).await
    }

    /// The server's resources.
    pub async fn list_resources(&self) -> Result<Vec<Resource>, UpstreamError> {
        let list = |peer: Peer<RoleClient>| async move { peer.list_all_resources().await };
        self.list_all(|c| c.resources.is_some(), list).await
    }

    /// The server's resource templates.
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>, UpstreamError> {
        let list = |peer: Peer<RoleClient>| async move { peer.list_all_resource_templates().await };
        self.list_all(|c| c.resources.is_some(), list).await
    }

    /// Whether the running server takes `resources/subscribe`.
    pub fn can_subscribe(&self) -> bool {
        self.peer().is_ok_and(|peer| {
            peer.peer_info().is_some_and(|info| {
                info.capabilities
                    .resources
                    .as_ref()
                    .is_some_and(|resources| resources.subscribe == Some(true))
            })
        })
    }

    /// The URIs clients are subscribed to on this server, sorted.
    pub fn subscribed_resources(&self) -> Vec<String> {
        let mut uris: Vec<String> = self.subscriptions.lock().keys().cloned().collect();
        uris.sort();
        uris
    }

    /// Take over the subscriptions of the server this one replaces.
    pub fn adopt_subscriptions(&self, previous: &Upstream) {
        *self.subscriptions.lock() = previous.subscriptions.lock().clone();
    }

    /// One more client wants updates of `uri`; the first one subscribes.
    pub async fn subscribe(&self, uri: &str) {
        let first = {
            let mut subscriptions = self.subscriptions.lock();
            let count = subscriptions.entry(uri.to_owned()).or_default();
            *count += 1;
            *count == 1
        };
        if first && let Ok(peer) = self.peer() {
            self.send_subscribe(&peer, uri).await;
        }
    }

    /// One client fewer wants updates of `uri`; the last one unsubscribes.
    pub fn unsubscribe(&self, uri: &str) {
        let last = {
            let mut subscriptions = self.subscriptions.lock();
            match subscriptions.get_mut(uri) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => subscriptions.remove(uri).is_some(),
                None => false,
            }
        };
        let Ok(peer) = self.peer() else { return };
        if last && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let params = UnsubscribeRequestParams::new(uri.to_owned());
            let timeout = self.settings.call_timeout;
            runtime.spawn(async move {
                // Upstreams speak the session era, where this is the way.
                #[allow(deprecated)]
                let unsubscribe = peer.unsubscribe(params);
                let _ = tokio::time::timeout(timeout, unsubscribe).await;
            });
        }
    }

    async fn send_subscribe(&self, peer: &Peer<RoleClient>, uri: &str) {
        let server = self.settings.name.clone();
        // Upstreams speak the session era, where this is the way.
        #[allow(deprecated)]
        let subscribe = peer.subscribe(SubscribeRequestParams::new(uri.to_owned()));
        if let Err(error) = self.request(server, subscribe).await {
            tracing::warn!(server = %self.settings.name, uri, %error, "resources/subscribe failed");
        }
    }

    /// Subscribe a restarted server to what clients still want, and ask it
    /// again for the log level they asked for.
    async fn resubscribe(&self, peer: &Peer<RoleClient>) {
        for uri in self.subscribed_resources() {
            self.send_subscribe(peer, &uri).await;
        }
        let level = *self.log_level.lock();
        if let Some(level) = level {
            self.send_log_level(peer, level).await;
        }
    }

    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, UpstreamError> {
        let server = self.settings.name.clone();
        let peer = self.peer()?;
        let params = ReadResourceRequestParams::new(uri.to_owned());
        let mut result = self.request(server, peer.read_resource(params)).await?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    /// Completions for a prompt's or a resource template's argument; none
    /// when the server does not offer completions.
    pub async fn complete(
        &self,
        params: CompleteRequestParams,
    ) -> Result<CompleteResult, UpstreamError> {
        let server = self.settings.name.clone();
        let peer = self.peer()?;
        let offers = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.completions.is_some());
        if !offers {
            return Ok(CompleteResult::default());
        }
        let mut result = self.request(server, peer.complete(params)).await?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, UpstreamError> {
        let server = self.settings.name.clone();
        let peer = self.peer()?;
        let mut params = GetPromptRequestParams::new(name.to_owned());
        params.arguments = arguments;
        let mut result = self.request(server, peer.get_prompt(params)).await?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    fn set_health(&self, health: Health, metrics: &McpMetrics) {
        metrics.set_health(&self.settings.name, &health);
        if health != Health::Starting {
            self.first_attempt_done
                .store(true, std::sync::atomic::Ordering::Release);
        }
        *self.health.write() = health;
    }

    /// Whether the supervisor's first attempt to start (or connect to) the
    /// server has ended, whichever way.
    pub fn first_attempt_done(&self) -> bool {
        self.first_attempt_done
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keep the server running until `stop` is cancelled: connect, serve,
    /// and after every failure wait (with backoff) and start again.
    /// `changed` is notified whenever the set of tools may have changed.
    pub async fn supervise(
        self: Arc<Self>,
        max_backoff: Duration,
        metrics: Arc<McpMetrics>,
        changed: Arc<Notify>,
        changes: mpsc::Sender<Change>,
        stop: CancellationToken,
    ) {
        let name = self.settings.name.clone();
        let mut backoff = BACKOFF_START;
        loop {
            self.set_health(Health::Starting, &metrics);
            let (list_tx, mut list_rx) = mpsc::channel(1);
            let client = UpstreamClient {
                server: name.clone(),
                list_changed: list_tx,
                progress: self.progress.clone(),
                calls: self.calls.clone(),
                call_timeout: self.settings.call_timeout,
                client_requests: self.settings.client_requests,
                sampling_model: self.settings.sampling_model.clone(),
                metrics: metrics.clone(),
                changes: changes.clone(),
            };
            let connect = tokio::time::timeout(self.settings.connect_timeout, self.connect(client));
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                outcome = connect => outcome,
            };
            let reason = match outcome {
                Err(_) => format!("no handshake within {:?}", self.settings.connect_timeout),
                Ok(Err(reason)) => reason,
                Ok(Ok(running)) => {
                    let started = tokio::time::Instant::now();
                    let peer = running.peer().clone();
                    match self.list_tools(&peer).await {
                        Ok(tools) => {
                            tracing::info!(server = %name, tools = tools.len(), "MCP server up");
                            *self.live.write() = Some(Live {
                                peer: peer.clone(),
                                tools: Arc::new(tools),
                            });
                            self.set_health(Health::Up, &metrics);
                            self.resubscribe(&peer).await;
                            changed.notify_one();
                            let reason = self
                                .serve_until_closed(running, &peer, &mut list_rx, &changed, &stop)
                                .await;
                            *self.live.write() = None;
                            self.pid.store(0, std::sync::atomic::Ordering::Relaxed);
                            changed.notify_one();
                            if stop.is_cancelled() {
                                return;
                            }
                            if started.elapsed() >= HEALTHY_RESET {
                                backoff = BACKOFF_START;
                            }
                            reason
                        }
                        Err(reason) => reason,
                    }
                }
            };
            tracing::warn!(server = %name, %reason, retry_in = ?backoff, "MCP server down");
            self.set_health(Health::Down { reason }, &metrics);
            metrics.restarts(&name);
            self.restarts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(max_backoff.max(BACKOFF_START));
        }
    }

    async fn serve_until_closed(
        &self,
        running: RunningService<RoleClient, UpstreamClient>,
        peer: &Peer<RoleClient>,
        list_rx: &mut mpsc::Receiver<()>,
        changed: &Notify,
        stop: &CancellationToken,
    ) -> String {
        let waiting = running.waiting();
        tokio::pin!(waiting);
        loop {
            tokio::select! {
                () = stop.cancelled() => return "gateway stopping".to_owned(),
                quit = &mut waiting => return format!("connection closed ({quit:?})"),
                () = self.refresh.notified() => {
                    self.relist(peer, changed).await;
                }
                Some(()) = list_rx.recv() => {
                    self.relist(peer, changed).await;
                }
            }
        }
    }

    async fn relist(&self, peer: &Peer<RoleClient>, changed: &Notify) {
        match self.list_tools(peer).await {
            Ok(tools) => {
                if let Some(live) = self.live.write().as_mut() {
                    live.tools = Arc::new(tools);
                }
                changed.notify_one();
            }
            Err(reason) => {
                tracing::warn!(server = %self.settings.name, %reason, "cannot refresh tools");
            }
        }
    }

    async fn list_tools(&self, peer: &Peer<RoleClient>) -> Result<Vec<Tool>, String> {
        match tokio::time::timeout(self.settings.call_timeout, peer.list_all_tools()).await {
            Err(_) => Err("tools/list timed out".to_owned()),
            Ok(Err(error)) => Err(format!("tools/list failed: {error}")),
            Ok(Ok(tools)) => Ok(tools),
        }
    }

    async fn connect(
        &self,
        client: UpstreamClient,
    ) -> Result<RunningService<RoleClient, UpstreamClient>, String> {
        match &self.settings.transport {
            Transport::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).env_clear().envs(env).kill_on_drop(true);
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|error| format!("cannot start `{command}`: {error}"))?;
                self.pid.store(
                    transport.id().unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Some(stderr) = stderr {
                    let server = self.settings.name.clone();
                    tokio::spawn(async move {
                        let mut lines = tokio::io::BufReader::new(stderr).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            tracing::debug!(server = %server, line, "MCP server stderr");
                        }
                    });
                }
                client
                    .serve(transport)
                    .await
                    .map_err(|error| format!("handshake failed: {error}"))
            }
            Transport::Http { url, headers } => {
                let mut default_headers = http::HeaderMap::new();
                for (name, value) in headers {
                    let (Ok(name), Ok(mut value)) = (
                        http::HeaderName::try_from(name.as_str()),
                        http::HeaderValue::try_from(value.expose()),
                    ) else {
                        continue;
                    };
                    value.set_sensitive(true);
                    default_headers.insert(name, value);
                }
                let http = reqwest::Client::builder()
                    .connect_timeout(self.settings.connect_timeout)
                    .default_headers(default_headers)
                    .build()
                    .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
                let transport = StreamableHttpClientTransport::with_client(
                    super::traced_http::TracedHttp(http),
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                client
                    .serve(transport)
                    .await
                    .map_err(|error| format!("handshake failed: {error}"))
            }
            Transport::OpenApi(api) => {
                let server = rest_server(&self.settings.name, api, &self.settings).await?;
                // The REST server runs in this process; the hub talks MCP to
                // it over an in-memory pipe, as to any other upstream.
                let (ours, theirs) = tokio::io::duplex(64 * 1024);
                let name = self.settings.name.clone();
                tokio::spawn(async move {
                    match rmcp::ServiceExt::serve(server, theirs).await {
                        Ok(running) => {
                            let _ = running.waiting().await;
                        }
                        Err(error) => {
                            tracing::warn!(server = %name, %error, "REST API server ended");
                        }
                    }
                });
                client
                    .serve(ours)
                    .await
                    .map_err(|error| format!("handshake failed: {error}"))
            }
        }
    }
}

/// The in-process MCP server of a REST API: its description read (fetched
/// when it is a URL), its operations mapped, the HTTP client built.
async fn rest_server(
    name: &str,
    api: &super::config::RestApi,
    settings: &ServerSettings,
) -> Result<crate::openapi::OpenApiServer, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
    let document = match &api.document {
        Some(document) => document.clone(),
        None => {
            let text = client
                .get(&api.source)
                .timeout(settings.connect_timeout)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|error| format!("cannot fetch the OpenAPI description: {error}"))?
                .text()
                .await
                .map_err(|error| format!("cannot read the OpenAPI description: {error}"))?;
            crate::openapi::parse_document(&text).map_err(|error| error.to_string())?
        }
    };
    let (operations, mut warnings) =
        crate::openapi::operations(&document, &api.filter).map_err(|error| error.to_string())?;
    let base_url = api
        .base_url
        .clone()
        .or_else(|| {
            document
                .pointer("/servers/0/url")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .ok_or("no `base_url` and no absolute `servers` URL in the description")?;
    let rest = crate::openapi::Api {
        base_url,
        auth: api.auth.clone(),
        client,
        timeout: settings.call_timeout,
        max_response_bytes: api.max_response_bytes,
    };
    let (server, more) = crate::openapi::OpenApiServer::new(name, rest, operations);
    warnings.extend(more);
    for warning in warnings {
        tracing::warn!(server = %name, "{warning}");
    }
    Ok(server)
}

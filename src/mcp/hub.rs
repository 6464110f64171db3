//! The registry of upstream servers and their supervisors, and the merged
//! catalog kept up to date as servers come, go and change their tools.

use super::catalog::Catalog;
use super::config::McpSettings;
use super::jwt::TokenVerifier;
use super::metrics::{McpMetrics, ToolLabels};
use super::names::ToolKey;
use super::pinning::PinStore;
use super::upstream::{Health, Upstream};
use arc_swap::ArcSwap;
use rmcp::{Peer, RoleServer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub struct McpHub {
    pub settings: McpSettings,
    pub metrics: Arc<McpMetrics>,
    pub pins: PinStore,
    /// Checks access tokens when `[mcp.oauth]` is configured.
    pub oauth: Option<Arc<TokenVerifier>>,
    upstreams: BTreeMap<Arc<str>, Arc<Upstream>>,
    catalog: ArcSwap<Catalog>,
    changed: Arc<Notify>,
    stop: CancellationToken,
    started: AtomicBool,
    /// Legacy-session clients to tell when the tool list changes.
    listeners: parking_lot::Mutex<Vec<Peer<RoleServer>>>,
}

impl Drop for McpHub {
    fn drop(&mut self) {
        // Supervisors end and their child processes are killed.
        self.stop.cancel();
    }
}

impl McpHub {
    pub fn new(settings: McpSettings, metrics: Arc<McpMetrics>) -> Arc<Self> {
        let upstreams = settings
            .servers
            .iter()
            .map(|server| (server.name.clone(), Upstream::new(server.clone())))
            .collect();
        let oauth = settings
            .oauth
            .clone()
            .map(|oauth| Arc::new(TokenVerifier::new(oauth)));
        Arc::new(Self {
            oauth,
            settings,
            metrics,
            pins: PinStore::default(),
            upstreams,
            catalog: ArcSwap::from_pointee(Catalog::default()),
            changed: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            started: AtomicBool::new(false),
            listeners: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Start every upstream's supervisor and the catalog keeper. Idempotent;
    /// needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        for upstream in self.upstreams.values() {
            tokio::spawn(upstream.clone().supervise(
                self.settings.restart_backoff_max,
                self.metrics.clone(),
                self.changed.clone(),
                self.stop.clone(),
            ));
        }
        // The keeper holds only a weak reference, so dropping the gateway
        // stops it along with the supervisors.
        let weak = Arc::downgrade(self);
        let changed = self.changed.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = changed.notified() => {}
                }
                let Some(hub) = weak.upgrade() else { return };
                hub.rebuild();
            }
        });
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Cancelled when the hub stops; ends the front door's sessions too.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.get(name)
    }

    pub fn servers(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.values()
    }

    pub fn health(&self) -> Vec<(Arc<str>, Health)> {
        self.upstreams
            .values()
            .map(|u| (u.name().clone(), u.health()))
            .collect()
    }

    /// Approve the current definition of a changed tool.
    pub fn approve(&self, server: &str, tool: &str) -> bool {
        let approved = self.pins.approve(&ToolKey {
            server: Arc::from(server),
            tool: Arc::from(tool),
        });
        if approved {
            self.rebuild();
        }
        approved
    }

    /// Send `notifications/tools/list_changed` to this client when the
    /// merged tool list changes.
    pub fn listen(&self, peer: Peer<RoleServer>) {
        let mut listeners = self.listeners.lock();
        listeners.retain(|peer| !peer.is_transport_closed());
        listeners.push(peer);
    }

    fn notify_listeners(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut listeners = self.listeners.lock();
            listeners.retain(|peer| !peer.is_transport_closed());
            listeners.clone()
        };
        for peer in peers {
            tokio::spawn(async move {
                let _ = peer.notify_tool_list_changed().await;
            });
        }
    }

    fn rebuild(&self) {
        let servers: Vec<_> = self
            .upstreams
            .values()
            .map(|u| (u.name().clone(), u.tools()))
            .collect();
        let (catalog, changes) = Catalog::build(&servers, &self.pins);
        for change in changes {
            tracing::warn!(
                server = %change.key.server,
                tool = %change.key.tool,
                blocked = self.settings.block_changed_tools,
                "MCP tool definition changed since it was pinned"
            );
            self.metrics
                .tool_changes
                .get_or_create(&ToolLabels {
                    server: change.key.server.to_string(),
                    tool: change.key.tool.to_string(),
                })
                .inc();
        }
        let old = self.catalog.swap(Arc::new(catalog));
        if !self.catalog.load().same_tools(&old) {
            self.notify_listeners();
        }
    }
}

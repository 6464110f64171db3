//! The registry of upstream servers and their supervisors, and the merged
//! catalog kept up to date as servers come, go and change their tools.
//!
//! The registry is live: the admin API adds, replaces and removes servers
//! while the gateway runs. Each server's supervisor has its own stop token (a
//! child of the hub's), so removing one stops its supervisor and kills its
//! process without touching the others.

use super::catalog::Catalog;
use super::config::{McpSettings, ServerSettings};
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
    /// Swapped whole on every change, so readers never wait for a writer.
    upstreams: ArcSwap<BTreeMap<Arc<str>, Arc<Upstream>>>,
    /// The stop token of each running supervisor. Its lock also orders
    /// changes to the registry (and `start`), so one server never gets two
    /// supervisors.
    supervisors: parking_lot::Mutex<BTreeMap<Arc<str>, CancellationToken>>,
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
    pub fn new(mut settings: McpSettings, metrics: Arc<McpMetrics>) -> Arc<Self> {
        // The registry is the truth from here on (it changes live), so the
        // settings keep no stale copy of the server list.
        let upstreams: BTreeMap<_, _> = std::mem::take(&mut settings.servers)
            .into_iter()
            .map(|server| (server.name.clone(), Upstream::new(server)))
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
            upstreams: ArcSwap::from_pointee(upstreams),
            supervisors: parking_lot::Mutex::new(BTreeMap::new()),
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
        let mut supervisors = self.supervisors.lock();
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        for upstream in self.upstreams.load().values() {
            self.supervise(&mut supervisors, upstream.clone());
        }
        drop(supervisors);
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

    /// Start `upstream`'s supervisor under its own stop token, stopping the
    /// one that ran under the same name before.
    fn supervise(
        &self,
        supervisors: &mut BTreeMap<Arc<str>, CancellationToken>,
        upstream: Arc<Upstream>,
    ) {
        let stop = self.stop.child_token();
        if let Some(previous) = supervisors.insert(upstream.name().clone(), stop.clone()) {
            previous.cancel();
        }
        tokio::spawn(upstream.supervise(
            self.settings.restart_backoff_max,
            self.metrics.clone(),
            self.changed.clone(),
            stop,
        ));
    }

    /// Add a server, or replace the one of the same name (its supervisor
    /// stops and its process is killed). Returns whether one was replaced.
    /// Once the hub has started, the new server starts at once.
    pub fn put(&self, settings: ServerSettings) -> bool {
        let upstream = Upstream::new(settings);
        let name = upstream.name().clone();
        let mut supervisors = self.supervisors.lock();
        let mut upstreams = (**self.upstreams.load()).clone();
        let replaced = upstreams.insert(name.clone(), upstream.clone()).is_some();
        self.upstreams.store(Arc::new(upstreams));
        if let Some(previous) = supervisors.remove(&name) {
            previous.cancel();
        }
        if self.started.load(Ordering::SeqCst) {
            self.supervise(&mut supervisors, upstream);
        }
        drop(supervisors);
        tracing::info!(server = %name, replaced, "MCP server registered");
        self.rebuild();
        replaced
    }

    /// Remove a server: its supervisor stops, its process is killed and its
    /// tools leave the catalog. Returns whether it was registered.
    pub fn remove(&self, name: &str) -> bool {
        let mut supervisors = self.supervisors.lock();
        let mut upstreams = (**self.upstreams.load()).clone();
        if upstreams.remove(name).is_none() {
            return false;
        }
        self.upstreams.store(Arc::new(upstreams));
        if let Some(stop) = supervisors.remove(name) {
            stop.cancel();
        }
        drop(supervisors);
        self.metrics.forget_server(name);
        tracing::info!(server = name, "MCP server removed");
        self.rebuild();
        true
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

    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams.load().get(name).cloned()
    }

    /// The registered servers, by name.
    pub fn servers(&self) -> Vec<Arc<Upstream>> {
        self.upstreams.load().values().cloned().collect()
    }

    pub fn health(&self) -> Vec<(Arc<str>, Health)> {
        self.upstreams
            .load()
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
            .load()
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

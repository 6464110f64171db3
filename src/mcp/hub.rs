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
use super::listeners::{Change, Listener, Listeners, Target};
use super::metrics::{McpMetrics, ToolLabels};
use super::names::ToolKey;
use super::pinning::{DefinitionHash, PendingChange, PinStore};
use super::upstream::{Health, Upstream};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

pub struct McpHub {
    pub settings: McpSettings,
    pub metrics: Arc<McpMetrics>,
    pub pins: PinStore,
    /// Checks access tokens when `[mcp.oauth]` is configured.
    pub oauth: Option<Arc<TokenVerifier>>,
    /// The gateway's own prompt templates, served as the prompts of the
    /// reserved server `switchboard`.
    pub templates: arc_swap::ArcSwap<crate::prompts::Prompts>,
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
    /// The servers registered when the hub started whose first start
    /// attempt has not ended yet (`/readyz` waits for them), and whether
    /// none is left (then they are not looked at again).
    first_starts: parking_lot::Mutex<Vec<Arc<str>>>,
    first_starts_done: AtomicBool,
    /// Clients to tell about changes: legacy sessions and listen streams.
    listeners: Listeners,
    /// Changes upstreams report (prompts, resources), passed on by the keeper.
    changes: mpsc::Sender<Change>,
    changes_rx: parking_lot::Mutex<Option<mpsc::Receiver<Change>>>,
    /// The servers whose prompts and resources were reachable at the last
    /// rebuild: when the set changes, so may the merged prompt and resource lists.
    live: parking_lot::Mutex<BTreeSet<Arc<str>>>,
    /// 2026-07-28 clients' calls waiting for their answers to a server's
    /// requests (`input_bridge.rs`).
    pub parked: super::input_bridge::ParkedCalls,
}

/// Changes reported by upstreams, waiting for the keeper.
const CHANGE_BACKLOG: usize = 256;

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
        let (changes, changes_rx) = mpsc::channel(CHANGE_BACKLOG);
        Arc::new(Self {
            oauth,
            templates: arc_swap::ArcSwap::from_pointee(crate::prompts::Prompts::default()),
            settings,
            metrics,
            pins: PinStore::default(),
            upstreams: ArcSwap::from_pointee(upstreams),
            supervisors: parking_lot::Mutex::new(BTreeMap::new()),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            changed: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            started: AtomicBool::new(false),
            first_starts: parking_lot::Mutex::new(Vec::new()),
            first_starts_done: AtomicBool::new(false),
            listeners: Listeners::default(),
            changes,
            changes_rx: parking_lot::Mutex::new(Some(changes_rx)),
            live: parking_lot::Mutex::new(BTreeSet::new()),
            parked: super::input_bridge::ParkedCalls::default(),
        })
    }

    /// Start every upstream's supervisor and the catalog keeper. Idempotent;
    /// needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let mut supervisors = self.supervisors.lock();
        if self.started.load(Ordering::SeqCst) {
            return;
        }
        // Before `started`, which `/readyz` reads to know that this list is set.
        *self.first_starts.lock() = self.upstreams.load().keys().cloned().collect();
        self.started.store(true, Ordering::SeqCst);
        for upstream in self.upstreams.load().values() {
            self.supervise(&mut supervisors, upstream.clone());
        }
        drop(supervisors);
        // The keeper holds only a weak reference, so dropping the gateway
        // stops it along with the supervisors.
        let weak = Arc::downgrade(self);
        let changed = self.changed.clone();
        let stop = self.stop.clone();
        let mut changes = self.changes_rx.lock().take();
        tokio::spawn(async move {
            loop {
                let reported = async {
                    match changes.as_mut() {
                        Some(changes) => changes.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = changed.notified() => {
                        let Some(hub) = weak.upgrade() else { return };
                        hub.rebuild();
                    }
                    Some(change) = reported => {
                        let Some(hub) = weak.upgrade() else { return };
                        hub.notify(&change);
                    }
                }
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
            self.changes.clone(),
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
        let previous = upstreams.insert(name.clone(), upstream.clone());
        let replaced = previous.is_some();
        if let Some(previous) = previous {
            // Clients keep their resource subscriptions across a replacement:
            // the new server is subscribed once it is up.
            upstream.adopt_subscriptions(&previous);
        }
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
        // Subscriptions to a removed server end with it, so a server added
        // later under the same name starts with none.
        self.listeners.forget_server(name);
        self.metrics.forget_server(name);
        tracing::info!(server = name, "MCP server removed");
        self.rebuild();
        true
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// The servers registered at start whose first start attempt has not
    /// ended (every server, before `start`). Servers added later through the
    /// admin API are not waited for: one slow new server must not take every
    /// replica out of service at once.
    pub fn first_starts_pending(&self) -> Vec<Arc<str>> {
        if self.first_starts_done.load(Ordering::Acquire) {
            return Vec::new();
        }
        if !self.started.load(Ordering::SeqCst) {
            return self.upstreams.load().keys().cloned().collect();
        }
        let upstreams = self.upstreams.load();
        let mut pending = self.first_starts.lock();
        pending.retain(|name| {
            upstreams
                .get(name)
                .is_some_and(|upstream| !upstream.first_attempt_done())
        });
        if pending.is_empty() {
            self.first_starts_done.store(true, Ordering::Release);
        }
        pending.clone()
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

    /// Changed definitions awaiting approval, of registered servers only. The
    /// pins of a removed server are kept, so the same server added again
    /// offering the same changed definition is still blocked until approved.
    pub fn pending_approvals(&self) -> Vec<PendingChange> {
        let upstreams = self.upstreams.load();
        self.pins
            .pending()
            .into_iter()
            .filter(|change| upstreams.contains_key(&change.key.server))
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

    /// Take pins saved by another replica; the catalog is rebuilt when one
    /// changes what is served here (an approval made there).
    pub fn adopt_pins(&self, pins: impl IntoIterator<Item = (ToolKey, DefinitionHash)>) {
        let mut changed = false;
        for (key, hash) in pins {
            changed |= self.pins.adopt(&key, hash);
        }
        if changed {
            self.rebuild();
        }
    }

    /// Tell this client (a legacy session or a listen stream) about
    /// changes from now on, until `forget`.
    pub fn listen(&self, target: Target) -> Arc<Listener> {
        self.listeners.add(target)
    }

    /// Stop telling a client; its resource subscriptions are given back.
    pub fn forget(&self, listener: &Listener) {
        self.listeners.remove(listener, |name| self.upstream(name));
    }

    /// How many clients are listening (legacy sessions and listen streams).
    pub fn listeners(&self) -> usize {
        self.listeners.len()
    }

    pub fn notify(&self, change: &Change) {
        self.listeners.notify(change, |name| self.upstream(name));
    }

    /// Serve `templates` as the gateway's own prompts (at start, and when a
    /// reload reads them again) and tell listening clients the list changed.
    pub fn set_templates(&self, templates: Arc<crate::prompts::Prompts>) {
        self.templates.store(templates);
        self.notify(&Change::Prompts);
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
            self.notify(&Change::Tools);
        }
        // Prompts and resources are listed on demand, not kept: a server
        // coming up, going down, joining or leaving may change their lists.
        let live: BTreeSet<Arc<str>> = self
            .upstreams
            .load()
            .values()
            .filter(|u| u.is_live())
            .map(|u| u.name().clone())
            .collect();
        let before = std::mem::replace(&mut *self.live.lock(), live.clone());
        if before != live {
            self.notify(&Change::Prompts);
            self.notify(&Change::Resources);
        }
    }
}

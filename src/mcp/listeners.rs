//! The clients to tell when something changes: legacy sessions (their
//! standing stream) and `subscriptions/listen` streams of 2026-07-28 clients.
//! Each listener may hold resource subscriptions, kept as (server, URI): an
//! upstream's `notifications/resources/updated` reaches exactly the
//! listeners subscribed to that URI on that server.
//!
//! The upstream side of a subscription (one `resources/subscribe` per server
//! and URI however many clients want it) is counted in `Upstream`; this file
//! only asks for it and gives it back.

use super::upstream::Upstream;
use parking_lot::Mutex;
use rmcp::model::{
    PromptListChangedNotification, ResourceListChangedNotification, ResourceUpdatedNotification,
    ResourceUpdatedNotificationParam, ServerNotification, SubscriptionFilter,
    ToolListChangedNotification,
};
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Tools,
    Prompts,
    Resources,
    /// A resource a client subscribed to changed, on `server`.
    ResourceUpdated {
        server: Arc<str>,
        uri: String,
    },
}

impl Change {
    fn notification(&self) -> ServerNotification {
        match self {
            Self::Tools => ServerNotification::ToolListChangedNotification(
                ToolListChangedNotification::default(),
            ),
            Self::Prompts => ServerNotification::PromptListChangedNotification(
                PromptListChangedNotification::default(),
            ),
            Self::Resources => ServerNotification::ResourceListChangedNotification(
                ResourceListChangedNotification::default(),
            ),
            Self::ResourceUpdated { uri, .. } => {
                ServerNotification::ResourceUpdatedNotification(ResourceUpdatedNotification::new(
                    ResourceUpdatedNotificationParam::new(uri.clone()),
                ))
            }
        }
    }

    /// Whether a listen stream asked for this kind of change.
    fn accepted_by(&self, filter: &SubscriptionFilter) -> bool {
        match self {
            Self::Tools => filter.tools_list_changed == Some(true),
            Self::Prompts => filter.prompts_list_changed == Some(true),
            Self::Resources => filter.resources_list_changed == Some(true),
            Self::ResourceUpdated { uri, .. } => filter
                .resource_subscriptions
                .as_ref()
                .is_some_and(|uris| uris.contains(uri)),
        }
    }
}

/// Where a listener's notifications go.
#[derive(Clone)]
pub enum Target {
    /// A legacy session: every notification goes on its standing stream.
    Session(Peer<RoleServer>),
    /// A `subscriptions/listen` stream: only what its filter accepted.
    Stream(SubscriptionSink),
}

impl Target {
    fn closed(&self) -> bool {
        match self {
            Self::Session(peer) => peer.is_transport_closed(),
            Self::Stream(_) => false,
        }
    }
}

/// One client to tell, with the resources it subscribed to.
pub struct Listener {
    id: u64,
    target: Target,
    subscriptions: Mutex<BTreeSet<(Arc<str>, String)>>,
}

impl Listener {
    fn wants(&self, change: &Change) -> bool {
        if let Change::ResourceUpdated { server, uri } = change
            && !self
                .subscriptions
                .lock()
                .contains(&(server.clone(), uri.clone()))
        {
            return false;
        }
        match &self.target {
            Target::Session(_) => true,
            Target::Stream(sink) => change.accepted_by(sink.accepted()),
        }
    }

    /// Subscribe to `uri` on `upstream`; false if it was already subscribed.
    pub async fn subscribe(&self, upstream: &Upstream, uri: &str) -> bool {
        let key = (upstream.name().clone(), uri.to_owned());
        if !self.subscriptions.lock().insert(key) {
            return false;
        }
        upstream.subscribe(uri).await;
        true
    }

    /// Give back the subscription to `uri` (on whichever server it was);
    /// false if there was none.
    pub fn unsubscribe(&self, uri: &str, upstream: impl Fn(&str) -> Option<Arc<Upstream>>) -> bool {
        let gone: Vec<_> = {
            let mut subscriptions = self.subscriptions.lock();
            let gone = subscriptions
                .iter()
                .filter(|(_, u)| u == uri)
                .cloned()
                .collect();
            subscriptions.retain(|(_, u)| u != uri);
            gone
        };
        for (server, uri) in &gone {
            if let Some(upstream) = upstream(server) {
                upstream.unsubscribe(uri);
            }
        }
        !gone.is_empty()
    }
}

/// Every listener of one hub.
#[derive(Default)]
pub struct Listeners {
    entries: Mutex<Vec<Arc<Listener>>>,
    next_id: AtomicU64,
}

impl Listeners {
    pub fn add(&self, target: Target) -> Arc<Listener> {
        let listener = Arc::new(Listener {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            target,
            subscriptions: Mutex::new(BTreeSet::new()),
        });
        self.entries.lock().push(listener.clone());
        listener
    }

    /// Forget a listener and give its subscriptions back. `upstream` finds
    /// the server of each (gone servers took their subscriptions with them).
    pub fn remove(&self, listener: &Listener, upstream: impl Fn(&str) -> Option<Arc<Upstream>>) {
        self.entries.lock().retain(|l| l.id != listener.id);
        let subscriptions = std::mem::take(&mut *listener.subscriptions.lock());
        for (server, uri) in subscriptions {
            if let Some(upstream) = upstream(&server) {
                upstream.unsubscribe(&uri);
            }
        }
    }

    /// Drop every subscription to `server` (it was removed).
    pub fn forget_server(&self, server: &str) {
        for listener in self.entries.lock().iter() {
            listener
                .subscriptions
                .lock()
                .retain(|(subscribed, _)| **subscribed != *server);
        }
    }

    /// Tell every listener that wants it. Sends run in tasks of their own,
    /// so a slow client never holds up the others (or the caller).
    pub fn notify(&self, change: &Change, upstream: impl Fn(&str) -> Option<Arc<Upstream>>) {
        let (closed, open): (Vec<_>, Vec<_>) = self
            .entries
            .lock()
            .iter()
            .cloned()
            .partition(|l| l.target.closed());
        for listener in closed {
            self.remove(&listener, &upstream);
        }
        for listener in open.into_iter().filter(|l| l.wants(change)) {
            let notification = change.notification();
            tokio::spawn(async move {
                let sent = match &listener.target {
                    Target::Session(peer) => peer
                        .send_notification(notification)
                        .await
                        .map_err(|e| e.to_string()),
                    Target::Stream(sink) => {
                        sink.send(notification).await.map_err(|e| e.to_string())
                    }
                };
                if let Err(error) = sent {
                    tracing::debug!(%error, "could not notify an MCP client");
                }
            });
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! Progress pass-through: a client's `progressToken` on `tools/call` is
//! honoured by relaying the upstream's `notifications/progress` back to the
//! client under the client's own token.
//!
//! The upstream sees the gateway's token for the call, not the client's:
//! tokens are chosen by each client, so two clients may both use `1` against
//! the same upstream, and the gateway must tell their progress apart.

use parking_lot::Mutex;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a client asked for progress: its session (or request stream) and token.
#[derive(Clone)]
pub struct ProgressTarget {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// Upstream progress tokens of calls in flight → the client to tell.
#[derive(Default)]
pub struct ProgressRelay {
    routes: Mutex<HashMap<ProgressToken, ProgressTarget>>,
}

/// Keeps a route open while its call runs; dropping it closes the route, so
/// late notifications of a finished call go nowhere.
pub struct Route {
    relay: Arc<ProgressRelay>,
    upstream: ProgressToken,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.relay.routes.lock().remove(&self.upstream);
    }
}

impl ProgressRelay {
    pub fn open(self: &Arc<Self>, upstream: ProgressToken, target: ProgressTarget) -> Route {
        self.routes.lock().insert(upstream.clone(), target);
        Route {
            relay: self.clone(),
            upstream,
        }
    }

    /// Pass an upstream's progress on to the client that asked for it.
    pub async fn forward(&self, mut progress: ProgressNotificationParam) {
        let target = self.routes.lock().get(&progress.progress_token).cloned();
        let Some(target) = target else {
            // Progress of a call no client asked about, or already answered.
            return;
        };
        progress.progress_token = target.token;
        progress.meta = None;
        if let Err(error) = target.peer.notify_progress(progress).await {
            tracing::debug!(%error, "could not pass progress on to the client");
        }
    }
}

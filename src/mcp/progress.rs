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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where a client asked for progress: its session (or request stream) and token.
#[derive(Clone)]
pub struct ProgressTarget {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// Upstream progress tokens of calls in flight → the client to tell.
#[derive(Default)]
pub struct ProgressRelay {
    routes: Mutex<HashMap<ProgressToken, Arc<RouteState>>>,
}

struct RouteState {
    target: ProgressTarget,
    /// Notifications being passed on right now.
    forwarding: AtomicUsize,
}

/// Keeps a route open while its call runs; dropping it closes the route, so
/// late notifications of a finished call go nowhere.
pub struct Route {
    relay: Arc<ProgressRelay>,
    upstream: ProgressToken,
    state: Arc<RouteState>,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.relay.routes.lock().remove(&self.upstream);
    }
}

/// Longest wait, after the answer came, for progress that arrived before it.
const SETTLE_LIMIT: Duration = Duration::from_millis(100);

impl Route {
    /// Wait until progress the upstream sent before its answer has reached
    /// the client. rmcp reads messages in order but handles each
    /// notification in a task of its own, so the last progress notification
    /// may still be on its way when the answer is already here; a client
    /// drops progress that comes after the answer.
    pub async fn settle(self) {
        wait_for_forwards(&self.state.forwarding).await;
    }
}

/// Wait (briefly) until notifications an upstream sent before its answer
/// have been passed on: rmcp reads messages in order but handles each
/// notification in a task of its own, so the last one may still be on its
/// way when the answer is already here, and a client drops what comes after
/// the answer.
pub async fn wait_for_forwards(forwarding: &AtomicUsize) {
    let started = tokio::time::Instant::now();
    // Handler tasks spawned before the answer was delivered run first.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    while forwarding.load(Ordering::Acquire) > 0 && started.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Who hears about a call while it runs: the client it runs for (log
/// messages, requests from the server), and its progress.
#[derive(Default)]
pub struct CallListeners {
    pub progress: Option<ProgressTarget>,
    pub owner: Option<super::callers::CallOwner>,
    /// The call's span, for the server (`params._meta.traceparent`).
    pub traceparent: Option<String>,
}

impl ProgressRelay {
    pub fn open(self: &Arc<Self>, upstream: ProgressToken, target: ProgressTarget) -> Route {
        let state = Arc::new(RouteState {
            target,
            forwarding: AtomicUsize::new(0),
        });
        self.routes.lock().insert(upstream.clone(), state.clone());
        Route {
            relay: self.clone(),
            upstream,
            state,
        }
    }

    /// Pass an upstream's progress on to the client that asked for it.
    pub async fn forward(&self, mut progress: ProgressNotificationParam) {
        let state = {
            let routes = self.routes.lock();
            let state = routes.get(&progress.progress_token).cloned();
            // Counted under the lock, so `settle` never sees a lookup done
            // but the forwarding not yet counted.
            if let Some(state) = &state {
                state.forwarding.fetch_add(1, Ordering::AcqRel);
            }
            state
        };
        let Some(state) = state else {
            // Progress of a call no client asked about, or already answered.
            return;
        };
        progress.progress_token = state.target.token.clone();
        progress.meta = None;
        if let Err(error) = state.target.peer.notify_progress(progress).await {
            tracing::debug!(%error, "could not pass progress on to the client");
        }
        state.forwarding.fetch_sub(1, Ordering::AcqRel);
    }
}

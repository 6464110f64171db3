//! Log pass-through: the `notifications/message` an upstream sends while
//! tool calls are in flight there reach the clients making those calls, each
//! at the level it asked for: `logging/setLevel` in a session, or a request's
//! `io.modelcontextprotocol/logLevel` in the 2026-07-28 revision (where a
//! request without it hears nothing).
//!
//! The gateway holds one connection per upstream, shared by every client,
//! and a log message names no request. So a message goes to the callers in
//! flight on that upstream only when they are all of one team; otherwise it
//! is dropped, so that one team never reads another team's logs. Messages
//! between calls have no caller and are dropped too.

// Logging is deprecated in the 2026-07-28 revision (SEP-2577), and rmcp
// marks its types so; clients of both revisions still use it.
#![allow(deprecated)]

use parking_lot::Mutex;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::{Peer, RoleServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A client to tell an upstream's log messages while its call runs.
#[derive(Clone)]
pub struct LogTarget {
    pub peer: Peer<RoleServer>,
    pub team: Arc<str>,
    /// The least severe level it wants; `None` for whatever the server sends.
    pub level: Option<LoggingLevel>,
}

/// The callers in flight on one upstream.
#[derive(Default)]
pub struct LogRelay {
    calls: Mutex<Vec<(u64, LogTarget)>>,
    next_id: AtomicU64,
    /// Messages being passed on right now (see `Listening::settle`).
    forwarding: AtomicUsize,
}

/// Keeps a caller listening while its call runs.
pub struct Listening {
    relay: Arc<LogRelay>,
    id: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.relay.calls.lock().retain(|(id, _)| *id != self.id);
    }
}

impl Listening {
    /// Wait until messages the upstream sent before its answer have reached
    /// the client, as for progress.
    pub async fn settle(self) {
        super::progress::wait_for_forwards(&self.relay.forwarding).await;
    }
}

impl LogRelay {
    pub fn open(self: &Arc<Self>, target: LogTarget) -> Listening {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.calls.lock().push((id, target));
        Listening {
            relay: self.clone(),
            id,
        }
    }

    /// Pass one upstream message on to the callers that may hear it.
    pub async fn forward(&self, mut message: LoggingMessageNotificationParam) {
        let peers: Vec<Peer<RoleServer>> = {
            let calls = self.calls.lock();
            let Some((_, first)) = calls.first() else {
                return;
            };
            if calls.iter().any(|(_, call)| call.team != first.team) {
                tracing::debug!(
                    "an upstream log message dropped: calls of several teams in flight"
                );
                return;
            }
            self.forwarding.fetch_add(1, Ordering::AcqRel);
            calls
                .iter()
                .filter(|(_, call)| admits(call.level, message.level))
                .map(|(_, call)| call.peer.clone())
                .collect()
        };
        message.meta = None;
        for peer in peers {
            if let Err(error) = peer.notify_logging_message(message.clone()).await {
                tracing::debug!(%error, "could not pass a log message on to the client");
            }
        }
        self.forwarding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a message at `level` passes a caller's `threshold`.
fn admits(threshold: Option<LoggingLevel>, level: LoggingLevel) -> bool {
    threshold.is_none_or(|threshold| severity(level) >= severity(threshold))
}

/// RFC 5424 order, least severe first.
pub fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_admits_its_level_and_the_more_severe() {
        assert!(admits(None, LoggingLevel::Debug));
        assert!(admits(Some(LoggingLevel::Warning), LoggingLevel::Warning));
        assert!(admits(Some(LoggingLevel::Warning), LoggingLevel::Emergency));
        assert!(!admits(Some(LoggingLevel::Warning), LoggingLevel::Info));
    }
}

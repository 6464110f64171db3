//! The clients whose tool calls are in flight on one upstream server, and
//! what the server sends them meanwhile.
//!
//! The gateway holds one connection per server, shared by every client, and
//! neither a log message nor a request from the server names the call it
//! belongs to. So:
//! - **log messages** (`notifications/message`) go to the callers in flight
//!   when they are all of one team, each at the level it asked for
//!   (`logging/setLevel` in a session, or a 2026-07-28 request's
//!   `io.modelcontextprotocol/logLevel`, without which it hears none);
//!   otherwise they are dropped, so one team never reads another's logs;
//! - **requests to the client** (`sampling/createMessage`,
//!   `elicitation/create`, `roots/list`) go to the caller when exactly one
//!   call is in flight, and are refused with an error otherwise: never sent
//!   to a client that did not cause them. A session's client gets them on
//!   its session; a 2026-07-28 client in its call's `input_required` result
//!   (`input_bridge.rs`).
//!
//! Whatever arrives between calls has no caller and is dropped or refused.

// Logging, sampling and roots are deprecated in the 2026-07-28 revision
// (SEP-2577), and rmcp marks their types so; clients of both revisions
// still use them.
#![allow(deprecated)]

use parking_lot::Mutex;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::{Peer, RoleServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The client a tool call runs for, and what it may be sent.
#[derive(Clone)]
pub struct CallOwner {
    pub peer: Peer<RoleServer>,
    pub team: Arc<str>,
    /// Who called: a sampling request the gateway answers is made for it.
    pub caller: crate::auth::Caller,
    /// `None`: hears no logs; `Some(None)`: what the server sends;
    /// `Some(Some(level))`: that level and the more severe.
    pub logs: Option<Option<LoggingLevel>>,
    /// Whether the team's policy lets servers ask it for sampling.
    pub may_sample: bool,
    /// Whether the team's policy lets servers ask its user for input.
    pub may_elicit: bool,
    /// The call's guardrail route (`mcp/<server>/<tool>`) and what guards
    /// it: a sampling request's texts pass the team's guardrails there.
    pub guard: Option<(super::McpContext, String)>,
    /// A 2026-07-28 client's call: the server's requests go back to the
    /// client as `input_required` (`input_bridge.rs`), not on its peer.
    pub bridge: Option<Bridge>,
}

/// Where a 2026-07-28 client's call sends the server's requests, and which
/// of them the client declared it takes.
#[derive(Clone)]
pub struct Bridge {
    pub asker: super::input_bridge::Asker,
    pub sampling: bool,
    pub elicitation: bool,
    pub roots: bool,
}

/// The calls in flight on one upstream.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<Vec<(u64, CallOwner)>>,
    next_id: AtomicU64,
    /// Log messages being passed on right now (see `Listening::settle`).
    forwarding: AtomicUsize,
}

/// Keeps a call registered while it runs.
pub struct Listening {
    calls: Arc<InFlight>,
    id: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.calls.calls.lock().retain(|(id, _)| *id != self.id);
    }
}

impl Listening {
    /// Wait until log messages the upstream sent before its answer have
    /// reached the client, as for progress.
    pub async fn settle(&self) {
        super::progress::wait_for_forwards(&self.calls.forwarding).await;
    }
}

impl InFlight {
    pub fn open(self: &Arc<Self>, owner: CallOwner) -> Listening {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.calls.lock().push((id, owner));
        Listening {
            calls: self.clone(),
            id,
        }
    }

    /// The one caller a request from the server can belong to.
    pub fn sole_owner(&self) -> Result<CallOwner, &'static str> {
        let calls = self.calls.lock();
        match calls.as_slice() {
            [(_, owner)] => Ok(owner.clone()),
            [] => Err("no client call is in flight on this server"),
            _ => Err("calls of several clients are in flight on this server"),
        }
    }

    /// Pass one upstream log message on to the callers that may hear it.
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
                .filter(|(_, call)| {
                    call.logs
                        .is_some_and(|threshold| admits(threshold, message.level))
                })
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

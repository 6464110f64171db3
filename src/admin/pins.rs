//! MCP tool pins outlive the process: every pin the hub sets (a tool seen
//! for the first time, a change an operator approved) is saved with the
//! other admin changes, in the ledger file and, with Redis, in the document
//! replicas share. At start the saved pins come back before any upstream
//! is contacted, so a tool whose definition changed while the gateway was
//! down is held for approval instead of being trusted on first sight; a
//! replica adopts the pins another one saved when it applies that document.

use crate::directory::pins::saved_key;
use crate::gateway::Gateway;
use std::sync::Arc;
use std::time::Duration;

/// How long a failed save waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often an idle saver checks whether its gateway is gone.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Save the hub's new pins as they come, for as long as the gateway lives.
pub fn keep_saved(gateway: &Arc<Gateway>) {
    super::while_gateway_lives(gateway, |gateway| async move {
        let pins = gateway.mcp.pins.take_unsaved();
        if pins.is_empty() {
            // Hold the hub only briefly, so a gateway dropped meanwhile
            // takes its hub (and the hub's child processes) with it.
            let hub = gateway.mcp.clone();
            drop(gateway);
            let _ = tokio::time::timeout(IDLE_CHECK, hub.pins.wait_for_unsaved()).await;
            return;
        }
        let saved: Vec<(String, String)> = pins
            .iter()
            .map(|(key, hash)| (saved_key(key), hex::encode(hash)))
            .collect();
        if let Err(error) = super::quota::save_mcp_pins(&gateway, &saved).await {
            tracing::warn!(%error, "MCP tool pins not saved yet; trying again");
            gateway.mcp.pins.requeue(pins);
            drop(gateway);
            tokio::time::sleep(RETRY_AFTER).await;
        }
    });
}

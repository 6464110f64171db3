//! MCP tool pins outlive the process: every pin the hub sets (a tool seen
//! for the first time, a change an operator approved) is saved with the
//! other admin changes, in the ledger file and, with Redis, in the document
//! replicas share. At start the saved pins come back before any upstream
//! is contacted, so a tool whose definition changed while the gateway was
//! down is held for approval instead of being trusted on first sight; a
//! replica adopts the pins another one saved when it applies that document.

use crate::gateway::Gateway;
use crate::mcp::names::ToolKey;
use crate::mcp::pinning::DefinitionHash;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a failed save waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often an idle saver checks whether its gateway is gone.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// The saved form's key: server names never contain `/`.
fn saved_key(key: &ToolKey) -> String {
    format!("{}/{}", key.server, key.tool)
}

/// Saved pins as the hub takes them; damaged entries are skipped with a
/// warning (the tool is then pinned again on first sight).
pub fn parse(saved: &BTreeMap<String, String>) -> Vec<(ToolKey, DefinitionHash)> {
    saved
        .iter()
        .filter_map(|(name, hex_hash)| {
            let parsed = name.split_once('/').and_then(|(server, tool)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(hex_hash, &mut hash).ok()?;
                Some((
                    ToolKey {
                        server: Arc::from(server),
                        tool: Arc::from(tool),
                    },
                    hash,
                ))
            });
            if parsed.is_none() {
                tracing::warn!(pin = %name, "skipping a damaged saved MCP tool pin");
            }
            parsed
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_pins_round_trip_and_damage_is_skipped() {
        let key = ToolKey {
            server: Arc::from("fx"),
            tool: Arc::from("read/all"),
        };
        let saved = BTreeMap::from([
            (saved_key(&key), hex::encode([7u8; 32])),
            ("no-slash".to_owned(), hex::encode([1u8; 32])),
            ("fx/short".to_owned(), "abcd".to_owned()),
        ]);
        assert_eq!(parse(&saved), vec![(key, [7u8; 32])]);
    }
}

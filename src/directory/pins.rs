//! MCP tool pins in their saved form (`server/tool` → hex hash), as the
//! admin changes document carries them.

use crate::mcp::names::ToolKey;
use crate::mcp::pinning::DefinitionHash;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The saved form's key: server names never contain `/`.
pub(crate) fn saved_key(key: &ToolKey) -> String {
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

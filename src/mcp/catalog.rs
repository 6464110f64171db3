//! The merged view of every running upstream's tools: exposed names, the
//! reverse map, and each tool's pin state. Rebuilt whenever an upstream's
//! tools change; requests only read it.

use super::names::{NameMap, ToolKey};
use super::pinning::{PinState, PinStore, definition_hash};
use rmcp::model::Tool;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct Entry {
    pub key: ToolKey,
    /// The name clients of `/mcp` see.
    pub exposed: Arc<str>,
    /// `<server>/<tool>`, what policy globs match.
    pub subject: String,
    /// The definition as the upstream offers it.
    pub tool: Tool,
    /// Changed since pinned and not approved.
    pub changed: bool,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: Vec<Entry>,
    by_exposed: HashMap<Arc<str>, usize>,
    by_key: HashMap<ToolKey, usize>,
}

/// A newly seen change of a tool definition, for logging and metrics.
pub struct Change {
    pub key: ToolKey,
}

impl Catalog {
    /// Merge the tools of each server (in server order), pin them, name them.
    pub fn build(servers: &[(Arc<str>, Arc<Vec<Tool>>)], pins: &PinStore) -> (Self, Vec<Change>) {
        let mut changes = Vec::new();
        let keys = servers.iter().flat_map(|(server, tools)| {
            tools.iter().map(|tool| ToolKey {
                server: server.clone(),
                tool: Arc::from(tool.name.as_ref()),
            })
        });
        let names = NameMap::build(keys);
        let mut catalog = Self::default();
        for (server, tools) in servers {
            for tool in tools.iter() {
                let key = ToolKey {
                    server: server.clone(),
                    tool: Arc::from(tool.name.as_ref()),
                };
                if catalog.by_key.contains_key(&key) {
                    // An upstream listing one name twice: the first wins.
                    continue;
                }
                let hash = definition_hash(tool);
                let (state, newly) = pins.observe(&key, hash);
                pins.remember(&key, hash, tool);
                if newly {
                    changes.push(Change { key: key.clone() });
                }
                let Some(exposed) = names.exposed(&key).cloned() else {
                    continue;
                };
                let index = catalog.entries.len();
                catalog.by_exposed.insert(exposed.clone(), index);
                catalog.by_key.insert(key.clone(), index);
                catalog.entries.push(Entry {
                    subject: format!("{}/{}", key.server, key.tool),
                    key,
                    exposed,
                    tool: tool.clone(),
                    changed: state == PinState::Changed,
                });
            }
        }
        (catalog, changes)
    }

    /// Whether a client would see the same tools in both (names,
    /// definitions and pin states).
    pub fn same_tools(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.exposed == b.exposed && a.changed == b.changed && a.tool == b.tool)
    }

    pub fn by_exposed(&self, name: &str) -> Option<&Entry> {
        self.by_exposed.get(name).map(|&i| &self.entries[i])
    }

    pub fn by_key(&self, server: &str, tool: &str) -> Option<&Entry> {
        let key = ToolKey {
            server: Arc::from(server),
            tool: Arc::from(tool),
        };
        self.by_key.get(&key).map(|&i| &self.entries[i])
    }
}

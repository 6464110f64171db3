//! Tool-definition pinning: the hash of a tool's name, description and input
//! schema is recorded when the tool is first seen. A later change is flagged
//! (logged and counted) and, when the policy says so, the tool is blocked
//! until an operator approves its new definition.

use super::names::ToolKey;
use parking_lot::Mutex;
use rmcp::model::Tool;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

pub type DefinitionHash = [u8; 32];

/// Hash of what a model reads about a tool. Object keys are hashed in sorted
/// order so that re-serialisation by an upstream is not mistaken for a change.
pub fn definition_hash(tool: &Tool) -> DefinitionHash {
    let mut hasher = Sha256::new();
    hasher.update(tool.name.as_bytes());
    hasher.update([0]);
    hasher.update(tool.description.as_deref().unwrap_or("").as_bytes());
    hasher.update([0]);
    hash_value(
        &mut hasher,
        &Value::Object(tool.input_schema.as_ref().clone()),
    );
    hasher.finalize().into()
}

fn hash_value(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hash_value(hasher, &Value::String(key.clone()));
                hasher.update(b":");
                hash_value(hasher, &map[key]);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                hash_value(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// What pinning says about a tool as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinState {
    /// Seen for the first time now, or unchanged since it was pinned.
    Pinned,
    /// Its definition differs from the pinned one and was not approved.
    Changed,
}

#[derive(Debug, Clone)]
struct Pin {
    pinned: DefinitionHash,
    current: DefinitionHash,
}

/// A tool whose offered definition differs from the approved one.
#[derive(Debug, Clone)]
pub struct PendingChange {
    pub key: ToolKey,
    pub pinned: DefinitionHash,
    pub current: DefinitionHash,
    /// The definitions themselves, when this process saw them (a pin saved
    /// before a restart is known by its hash only).
    pub pinned_definition: Option<Arc<Value>>,
    pub current_definition: Option<Arc<Value>>,
}

/// The pins of every tool seen, those saved before this process started
/// included. New and approved pins are queued for saving (see
/// `admin::pins`), so a restart never trusts a changed tool on first sight.
#[derive(Debug, Default)]
pub struct PinStore {
    pins: Mutex<HashMap<ToolKey, Pin>>,
    /// Pins set here and not yet saved.
    unsaved: Mutex<Vec<(ToolKey, DefinitionHash)>>,
    /// Woken when `unsaved` gains an entry.
    to_save: tokio::sync::Notify,
    /// The definitions seen, by hash, for each tool: only its pinned and
    /// current ones are kept, so an operator can compare them.
    definitions: Mutex<HashMap<ToolKey, HashMap<DefinitionHash, Arc<Value>>>>,
}

impl PinStore {
    /// Start from the pins saved before (each approved as it was saved).
    pub fn seed(&self, saved: impl IntoIterator<Item = (ToolKey, DefinitionHash)>) {
        let mut pins = self.pins.lock();
        for (key, hash) in saved {
            pins.insert(
                key,
                Pin {
                    pinned: hash,
                    current: hash,
                },
            );
        }
    }

    /// Take a pin another replica saved (it saw the tool first, or an
    /// operator approved a change there). Returns whether anything changed.
    pub fn adopt(&self, key: &ToolKey, hash: DefinitionHash) -> bool {
        let mut pins = self.pins.lock();
        match pins.get_mut(key) {
            Some(pin) if pin.pinned == hash => false,
            Some(pin) => {
                pin.pinned = hash;
                true
            }
            None => {
                pins.insert(
                    key.clone(),
                    Pin {
                        pinned: hash,
                        current: hash,
                    },
                );
                true
            }
        }
    }

    /// The pins set since the last call, to be saved.
    pub fn take_unsaved(&self) -> Vec<(ToolKey, DefinitionHash)> {
        std::mem::take(&mut *self.unsaved.lock())
    }

    /// Put back pins whose saving failed, to be tried again.
    pub fn requeue(&self, pins: Vec<(ToolKey, DefinitionHash)>) {
        self.unsaved.lock().extend(pins);
    }

    /// Resolves when a pin is waiting to be saved.
    pub async fn wait_for_unsaved(&self) {
        self.to_save.notified().await;
    }

    fn queue(&self, key: &ToolKey, hash: DefinitionHash) {
        self.unsaved.lock().push((key.clone(), hash));
        self.to_save.notify_one();
    }

    /// Record the definition now offered; returns its state and whether it
    /// changed since the last observation (so a change is reported once).
    pub fn observe(&self, key: &ToolKey, hash: DefinitionHash) -> (PinState, bool) {
        let mut pins = self.pins.lock();
        let pin = pins.entry(key.clone()).or_insert_with(|| {
            self.queue(key, hash);
            Pin {
                pinned: hash,
                current: hash,
            }
        });
        let newly = pin.current != hash;
        pin.current = hash;
        let state = if pin.pinned == hash {
            PinState::Pinned
        } else {
            PinState::Changed
        };
        (state, newly && state == PinState::Changed)
    }

    /// Keep the definition behind `hash` (offered now) for the approval
    /// view; definitions that are neither pinned nor current are let go.
    pub fn remember(&self, key: &ToolKey, hash: DefinitionHash, definition: &Tool) {
        let (pinned, current) = match self.pins.lock().get(key) {
            Some(pin) => (pin.pinned, pin.current),
            None => return,
        };
        let mut definitions = self.definitions.lock();
        let known = definitions.entry(key.clone()).or_default();
        known
            .entry(hash)
            .or_insert_with(|| Arc::new(serde_json::to_value(definition).unwrap_or_default()));
        known.retain(|kept, _| *kept == pinned || *kept == current);
    }

    pub fn state(&self, key: &ToolKey) -> PinState {
        match self.pins.lock().get(key) {
            Some(pin) if pin.pinned != pin.current => PinState::Changed,
            _ => PinState::Pinned,
        }
    }

    /// Accept a tool's current definition as its new pin. Returns false when
    /// the tool was never seen.
    pub fn approve(&self, key: &ToolKey) -> bool {
        match self.pins.lock().get_mut(key) {
            Some(pin) => {
                pin.pinned = pin.current;
                self.queue(key, pin.pinned);
                true
            }
            None => false,
        }
    }

    /// Tools whose definition changed and awaits approval.
    pub fn changed(&self) -> Vec<ToolKey> {
        self.pending()
            .into_iter()
            .map(|change| change.key)
            .collect()
    }

    /// The changes awaiting approval, with the approved and offered hashes,
    /// sorted by server and tool.
    pub fn pending(&self) -> Vec<PendingChange> {
        let definitions = self.definitions.lock();
        let definition = |key: &ToolKey, hash: &DefinitionHash| {
            definitions
                .get(key)
                .and_then(|known| known.get(hash))
                .cloned()
        };
        let mut out: Vec<PendingChange> = self
            .pins
            .lock()
            .iter()
            .filter(|(_, pin)| pin.pinned != pin.current)
            .map(|(key, pin)| PendingChange {
                key: key.clone(),
                pinned: pin.pinned,
                current: pin.current,
                pinned_definition: definition(key, &pin.pinned),
                current_definition: definition(key, &pin.current),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tool(description: &str, schema: Value) -> Tool {
        let Value::Object(schema) = schema else {
            panic!("schema must be an object")
        };
        Tool::new("t", description.to_owned(), Arc::new(schema))
    }

    #[test]
    fn hash_ignores_key_order_but_not_content() {
        let a = tool(
            "d",
            serde_json::json!({"type": "object", "properties": {"x": {"type": "string"}}}),
        );
        let b = tool(
            "d",
            serde_json::json!({"properties": {"x": {"type": "string"}}, "type": "object"}),
        );
        let c = tool(
            "d2",
            serde_json::json!({"type": "object", "properties": {"x": {"type": "string"}}}),
        );
        let d = tool(
            "d",
            serde_json::json!({"type": "object", "properties": {"x": {"type": "number"}}}),
        );
        assert_eq!(definition_hash(&a), definition_hash(&b));
        assert_ne!(definition_hash(&a), definition_hash(&c));
        assert_ne!(definition_hash(&a), definition_hash(&d));
    }

    #[test]
    fn change_is_flagged_once_and_cleared_by_approval() {
        let store = PinStore::default();
        let key = ToolKey {
            server: Arc::from("s"),
            tool: Arc::from("t"),
        };
        assert_eq!(store.observe(&key, [1; 32]), (PinState::Pinned, false));
        assert_eq!(store.observe(&key, [1; 32]), (PinState::Pinned, false));
        assert_eq!(store.observe(&key, [2; 32]), (PinState::Changed, true));
        assert_eq!(store.observe(&key, [2; 32]), (PinState::Changed, false));
        assert_eq!(store.changed(), vec![key.clone()]);
        assert!(store.approve(&key));
        assert_eq!(store.state(&key), PinState::Pinned);
        assert_eq!(store.observe(&key, [2; 32]), (PinState::Pinned, false));
        // Changing back to the old definition is a change too.
        assert_eq!(store.observe(&key, [1; 32]), (PinState::Changed, true));
        // The first sight and the approval were queued for saving.
        assert_eq!(
            store.take_unsaved(),
            vec![(key.clone(), [1; 32]), (key.clone(), [2; 32])]
        );
        assert!(store.take_unsaved().is_empty());
    }

    #[test]
    fn saved_pins_hold_after_a_restart_and_adopted_ones_apply() {
        let key = ToolKey {
            server: Arc::from("s"),
            tool: Arc::from("t"),
        };
        let store = PinStore::default();
        store.seed([(key.clone(), [1; 32])]);
        // A changed definition on first sight after the restart is a change.
        assert_eq!(store.observe(&key, [2; 32]), (PinState::Changed, true));
        assert!(store.take_unsaved().is_empty(), "nothing new to save");
        // Another replica's operator approved it.
        assert!(store.adopt(&key, [2; 32]));
        assert!(!store.adopt(&key, [2; 32]));
        assert_eq!(store.state(&key), PinState::Pinned);
    }

    #[test]
    fn the_pinned_and_offered_definitions_are_kept_side_by_side() {
        let store = PinStore::default();
        let key = ToolKey {
            server: Arc::from("s"),
            tool: Arc::from("t"),
        };
        let schema: rmcp::model::JsonObject =
            serde_json::from_value(serde_json::json!({"type": "object"})).unwrap();
        let version = |text: &str| Tool::new("t", text.to_owned(), Arc::new(schema.clone()));
        for text in ["first", "second", "third"] {
            let tool = version(text);
            let hash = definition_hash(&tool);
            store.observe(&key, hash);
            store.remember(&key, hash, &tool);
        }
        let pending = store.pending();
        let described = |d: &Option<Arc<Value>>| d.as_ref().map(|v| v["description"].clone());
        assert_eq!(
            described(&pending[0].pinned_definition),
            Some("first".into())
        );
        assert_eq!(
            described(&pending[0].current_definition),
            Some("third".into())
        );
        // "second" is neither pinned nor offered: let go.
        assert_eq!(store.definitions.lock()[&key].len(), 2);
        // A pin from before a restart is known by its hash only.
        let restored = PinStore::default();
        restored.seed([(key.clone(), [9; 32])]);
        let tool = version("new");
        restored.observe(&key, definition_hash(&tool));
        restored.remember(&key, definition_hash(&tool), &tool);
        let pending = restored.pending();
        assert!(pending[0].pinned_definition.is_none());
        assert!(pending[0].current_definition.is_some());
    }
}

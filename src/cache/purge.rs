//! Purges that reach every replica. An admin purge or delete removes the
//! entries from this replica's table and index and from the shared stores,
//! then announces its scope through the shared store (Redis pub/sub); every
//! other replica applies the same scope to its own in-memory table, so none
//! keeps serving a purged answer from memory.

use super::ResponseCache;
use super::exact::Entry;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};

/// What a purge removes: entries of a team, of a model, or one entry by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PurgeScope {
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub id: Option<u64>,
}

impl PurgeScope {
    pub fn selects(&self, entry: &Entry) -> bool {
        self.team.as_ref().is_none_or(|team| &entry.team == team)
            && self
                .model
                .as_ref()
                .is_none_or(|model| &entry.model == model)
            && self.id.is_none_or(|id| entry.id == id)
    }
}

/// An announcement on the wire: the scope, and which replica purged (so it
/// ignores its own).
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: u64,
    scope: PurgeScope,
}

impl ResponseCache {
    /// Purge `scope` here and in the shared stores, and tell the other
    /// replicas; returns how many entries this replica removed.
    pub fn purge_scope(&self, scope: &PurgeScope) -> usize {
        let removed = self.purge(|entry| scope.selects(entry));
        if let Some(shared) = self.shared.clone()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let message = Announcement {
                origin: self.replica,
                scope: scope.clone(),
            };
            let message = serde_json::to_string(&message).unwrap_or_default();
            let errors = self.metrics.store_errors.clone();
            runtime.spawn(async move {
                if let Err(error) = shared.announce_purge(message).await {
                    errors.inc();
                    tracing::warn!(%error, "cannot announce a cache purge to the other replicas");
                }
            });
        }
        removed
    }

    /// Apply other replicas' purges for as long as the cache lives.
    pub(super) fn listen_for_purges(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        let Some(mut announcements) = self.shared.as_ref().and_then(|s| s.purge_announcements())
        else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            while let Some(message) = announcements.recv().await {
                let Some(cache) = weak.upgrade() else { break };
                match serde_json::from_str::<Announcement>(&message) {
                    Ok(announcement) if announcement.origin != cache.replica => {
                        let removed = cache.purge(|entry| announcement.scope.selects(entry));
                        tracing::debug!(removed, "applied another replica's cache purge");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "ignoring a malformed cache purge announcement")
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_selects_by_team_model_and_id() {
        let scope = PurgeScope {
            team: Some("alpha".into()),
            ..PurgeScope::default()
        };
        let round_trip: PurgeScope =
            serde_json::from_str(&serde_json::to_string(&scope).unwrap()).unwrap();
        assert_eq!(round_trip, scope);
        let only_id: PurgeScope = serde_json::from_str(r#"{"id": 7}"#).unwrap();
        assert_eq!(only_id.id, Some(7));
        assert_eq!(only_id.team, None);
    }
}

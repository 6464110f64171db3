//! The directory of teams and keys the admin API manages: the config's
//! teams and keys with the admin's saved changes (the overlay) on top, and
//! the key store and limit book it builds.

pub mod pins;
pub mod sealed;
mod state;

pub use sealed::Seal;
pub use state::AdminState;

use crate::auth::KeyStore;
use crate::auth::{KeyEntry, Team, parse_key_hash};
use crate::mcp::config::RawServer;
use crate::quota::book::LimitBook;
use crate::quota::limits::RawLimits;
use crate::quota::settings::TeamLimits;
use globset::{Glob, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A team as the admin API shows and takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamDoc {
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub user_limits: RawLimits,
    #[serde(default)]
    pub hard_cutoff: bool,
}

fn all_models() -> Vec<String> {
    vec!["*".to_owned()]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDoc {
    pub team: String,
    /// `sha256:<hex>`; never the plaintext.
    pub hash: String,
    #[serde(default)]
    pub loopback_only: bool,
    #[serde(default)]
    pub limits: RawLimits,
}

/// Everything the admin API changed; `None` marks a revoked id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Overlay {
    pub(super) teams: BTreeMap<String, Option<TeamDoc>>,
    pub(super) keys: BTreeMap<String, Option<KeyDoc>>,
    /// MCP servers by name; `None` marks a removed config server.
    #[serde(default)]
    pub(super) mcp_servers: BTreeMap<String, Option<RawServer>>,
    /// Pinned MCP tool definitions (`server/tool` to the definition's
    /// SHA-256 in hex), kept by `admin::pins`.
    #[serde(default)]
    pub(super) mcp_pins: BTreeMap<String, String>,
    /// Dashboard sessions ended before they expire (signed out): session id
    /// to its expiry in Unix seconds, dropped once expired.
    #[serde(default)]
    pub(super) ended_sessions: BTreeMap<String, u64>,
}

/// The live directory of teams and keys, behind one lock for writers.
#[derive(Debug, Default)]
pub struct Directory {
    pub(super) teams: BTreeMap<String, TeamDoc>,
    pub(super) keys: BTreeMap<String, KeyDoc>,
    pub(super) overlay: Overlay,
}

impl Directory {
    /// The config's teams and keys, with the saved admin changes on top.
    pub fn restore(gateway_config: &crate::config::Config, saved: Option<&str>) -> Self {
        let mut directory = Directory::default();
        let limits_of = |id: &str| {
            gateway_config
                .quota
                .teams
                .iter()
                .find(|(team, _)| team == id)
                .map(|(_, limits)| limits.clone())
                .unwrap_or_default()
        };
        for team in &gateway_config.teams {
            let limits = limits_of(&team.id);
            directory.teams.insert(
                team.id.to_string(),
                TeamDoc {
                    models: team.model_patterns.clone(),
                    limits: limits.limits.to_raw(),
                    user_limits: limits.user_limits.to_raw(),
                    hard_cutoff: limits.hard_cutoff,
                },
            );
        }
        for key in &gateway_config.keys {
            let limits = gateway_config
                .quota
                .keys
                .iter()
                .find(|(id, _)| **id == *key.id)
                .map(|(_, limits)| limits.to_raw())
                .unwrap_or_default();
            directory.keys.insert(
                key.id.to_string(),
                KeyDoc {
                    team: gateway_config.teams[key.team].id.to_string(),
                    hash: format!("sha256:{}", hex::encode(key.hash)),
                    loopback_only: key.loopback_only,
                    limits,
                },
            );
        }
        if let Some(saved) = saved {
            match serde_json::from_str::<Overlay>(saved) {
                Ok(overlay) => {
                    for (id, team) in &overlay.teams {
                        match team {
                            Some(team) => directory.teams.insert(id.clone(), team.clone()),
                            None => directory.teams.remove(id),
                        };
                    }
                    for (id, key) in &overlay.keys {
                        match key {
                            Some(key) => directory.keys.insert(id.clone(), key.clone()),
                            None => directory.keys.remove(id),
                        };
                    }
                    directory.overlay = overlay;
                }
                Err(error) => tracing::error!(%error, "ignoring unreadable saved admin changes"),
            }
        }
        directory
    }

    /// MCP servers the admin API added, replaced (`Some`) or removed (`None`).
    pub fn mcp_servers(&self) -> &BTreeMap<String, Option<RawServer>> {
        &self.overlay.mcp_servers
    }

    /// Dashboard sessions ended before their expiry: id to expiry.
    pub fn ended_sessions(&self) -> &BTreeMap<String, u64> {
        &self.overlay.ended_sessions
    }

    /// The saved MCP tool pins, as `server/tool` to a hex SHA-256.
    pub fn mcp_pins(&self) -> &BTreeMap<String, String> {
        &self.overlay.mcp_pins
    }

    /// The key store and limit book this directory describes. Entries that
    /// no longer check out (a key of a revoked team) are left out.
    pub fn build(&self) -> Result<(KeyStore, LimitBook), String> {
        let mut teams = Vec::with_capacity(self.teams.len());
        let mut book = LimitBook::default();
        let mut problems = Vec::new();
        for (id, doc) in &self.teams {
            let mut builder = GlobSetBuilder::new();
            for pattern in &doc.models {
                builder.add(Glob::new(pattern).map_err(|e| format!("teams.{id}.models: {e}"))?);
            }
            teams.push(Team {
                id: Arc::from(id.as_str()),
                model_patterns: doc.models.clone(),
                models: builder.build().map_err(|e| e.to_string())?,
            });
            let mut problem =
                |path: String, message: String| problems.push(format!("{path}: {message}"));
            book.teams.insert(
                id.clone(),
                TeamLimits {
                    limits: doc
                        .limits
                        .validate(&format!("teams.{id}.limits"), &mut problem),
                    user_limits: doc
                        .user_limits
                        .validate(&format!("teams.{id}.user_limits"), &mut problem),
                    hard_cutoff: doc.hard_cutoff,
                },
            );
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        for (id, doc) in &self.keys {
            let Some(team) = teams.iter().position(|team| *team.id == *doc.team) else {
                continue;
            };
            let mut problem =
                |path: String, message: String| problems.push(format!("{path}: {message}"));
            book.keys.insert(
                id.clone(),
                doc.limits
                    .validate(&format!("keys.{id}.limits"), &mut problem),
            );
            keys.push(KeyEntry {
                id: Arc::from(id.as_str()),
                team,
                hash: parse_key_hash(&doc.hash)?,
                loopback_only: doc.loopback_only,
            });
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok((KeyStore::new(&teams, &keys), book))
    }
}

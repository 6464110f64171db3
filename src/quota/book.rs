//! The live table of limits: per team, per key, and per end user of a team.
//! Built from the config, changed by the admin API, swapped atomically.

use super::limits::Limits;
use super::settings::{QuotaConfig, TeamLimits};
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct LimitBook {
    pub teams: HashMap<String, TeamLimits>,
    pub keys: HashMap<String, Limits>,
}

/// One set of limits that applies to a request, with its counter prefix and
/// the name the 429 gives it.
#[derive(Debug)]
pub struct Scope<'a> {
    pub key: String,
    pub label: String,
    pub limits: &'a Limits,
    /// The limits of one end user of a team (`user_limits`): its counters
    /// expire when idle and the team tracks a bounded number of end users.
    pub end_user: bool,
}

impl LimitBook {
    pub fn from_config(config: &QuotaConfig) -> Self {
        Self {
            teams: config.teams.iter().cloned().collect(),
            keys: config.keys.iter().cloned().collect(),
        }
    }

    pub fn hard_cutoff(&self, team: &str) -> bool {
        self.teams.get(team).is_some_and(|t| t.hard_cutoff)
    }

    /// The team's, the key's and (with a `user`) the end user's limits.
    pub fn scopes(&self, team: &str, key: &str, user: Option<&str>) -> Vec<Scope<'_>> {
        let mut scopes = Vec::with_capacity(3);
        if let Some(team_limits) = self.teams.get(team) {
            if !team_limits.limits.is_empty() {
                scopes.push(Scope {
                    key: format!("t:{team}"),
                    label: format!("team {team}"),
                    limits: &team_limits.limits,
                    end_user: false,
                });
            }
            if let Some(user) = user
                && !team_limits.user_limits.is_empty()
            {
                scopes.push(Scope {
                    key: format!("t:{team}:u:{user}"),
                    label: format!("user {user} in team {team}"),
                    limits: &team_limits.user_limits,
                    end_user: true,
                });
            }
        }
        if let Some(limits) = self.keys.get(key)
            && !limits.is_empty()
        {
            scopes.push(Scope {
                key: format!("k:{key}"),
                label: format!("key {key}"),
                limits,
                end_user: false,
            });
        }
        scopes
    }
}

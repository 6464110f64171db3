//! Authentication: gateway key → `Caller`. Keys are held only as SHA-256
//! hashes and compared in constant time.

use crate::config::{KeyEntry, Team, hash_key};
use crate::error::GatewayError;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Who is calling: the team and key a request is charged to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub team: Arc<str>,
    pub team_index: usize,
    pub key_id: Arc<str>,
    /// The team's policy as it was when the request arrived.
    pub team_entry: Arc<Team>,
}

/// The teams and their keys, indexed by the first eight bytes of each key's
/// hash. Immutable: the admin API builds a new one and swaps it in
/// (`Gateway::keys` is an `ArcSwap`).
#[derive(Debug, Default)]
pub struct KeyStore {
    buckets: HashMap<u64, Vec<KeyEntry>>,
    teams: Vec<Arc<Team>>,
    keys: Vec<KeyEntry>,
}

fn bucket_of(hash: &[u8; 32]) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(prefix)
}

impl KeyStore {
    pub fn new(teams: &[Team], keys: &[KeyEntry]) -> Self {
        let mut buckets: HashMap<u64, Vec<KeyEntry>> = HashMap::new();
        for key in keys {
            buckets
                .entry(bucket_of(&key.hash))
                .or_default()
                .push(key.clone());
        }
        Self {
            buckets,
            teams: teams.iter().cloned().map(Arc::new).collect(),
            keys: keys.to_vec(),
        }
    }

    pub fn teams(&self) -> &[Arc<Team>] {
        &self.teams
    }

    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The key a request presents: `Authorization: Bearer`, `api-key` (Azure
    /// SDKs) or `x-api-key` (Anthropic SDKs).
    pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let text = value.to_str().ok()?;
            let (scheme, token) = text.split_once(' ')?;
            return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
        }
        ["api-key", "x-api-key"]
            .iter()
            .find_map(|name| headers.get(*name))
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    }

    /// The entry of a presented key, compared in constant time.
    pub fn find(&self, presented: &str) -> Option<&KeyEntry> {
        let hash = hash_key(presented);
        let candidates = self
            .buckets
            .get(&bucket_of(&hash))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut found: Option<&KeyEntry> = None;
        for entry in candidates {
            if bool::from(entry.hash.ct_eq(&hash)) {
                found = Some(entry);
            }
        }
        found
    }

    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, GatewayError> {
        let presented = Self::presented_key(headers)
            .filter(|key| !key.is_empty())
            .ok_or(GatewayError::Unauthenticated(
                "missing API key: send `Authorization: Bearer <key>`",
            ))?;
        let entry = self
            .find(presented)
            .ok_or(GatewayError::Unauthenticated("invalid API key"))?;
        if entry.loopback_only && !peer.is_some_and(|addr| addr.ip().is_loopback()) {
            return Err(GatewayError::Unauthenticated(
                "this development key is accepted only from loopback clients",
            ));
        }
        let team = self
            .teams
            .get(entry.team)
            .ok_or_else(|| GatewayError::Internal("a key names a missing team".into()))?;
        Ok(Caller {
            team: team.id.clone(),
            team_index: entry.team,
            key_id: entry.id.clone(),
            team_entry: team.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::GlobSet;

    fn store() -> KeyStore {
        let teams = vec![Team {
            id: Arc::from("t"),
            model_patterns: vec![],
            models: GlobSet::empty(),
        }];
        let keys = vec![
            KeyEntry {
                id: Arc::from("k1"),
                team: 0,
                hash: hash_key("sk-one"),
                loopback_only: false,
            },
            KeyEntry {
                id: Arc::from("dev"),
                team: 0,
                hash: hash_key("sk-dev"),
                loopback_only: true,
            },
        ];
        KeyStore::new(&teams, &keys)
    }

    fn check(header: (&str, &str), peer: &str, expected: Result<&str, ()>) {
        let store = store();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::HeaderName::from_bytes(header.0.as_bytes()).unwrap(),
            header.1.parse().unwrap(),
        );
        let result = store.authenticate(&headers, Some(peer.parse().unwrap()));
        match expected {
            Ok(key) => assert_eq!(&*result.unwrap().key_id, key),
            Err(()) => assert!(matches!(result, Err(GatewayError::Unauthenticated(_)))),
        }
    }

    #[test]
    fn keys_by_header() {
        check(("authorization", "Bearer sk-one"), "10.0.0.1:1", Ok("k1"));
        check(("authorization", "bearer sk-one"), "10.0.0.1:1", Ok("k1"));
        check(("api-key", "sk-one"), "10.0.0.1:1", Ok("k1"));
        check(("x-api-key", "sk-one"), "10.0.0.1:1", Ok("k1"));
        check(("authorization", "Bearer sk-two"), "10.0.0.1:1", Err(()));
        check(("authorization", "Basic sk-one"), "10.0.0.1:1", Err(()));
        check(("authorization", "Bearer "), "10.0.0.1:1", Err(()));
        check(("x-other", "sk-one"), "10.0.0.1:1", Err(()));
    }

    #[test]
    fn development_keys_only_from_loopback() {
        check(("authorization", "Bearer sk-dev"), "127.0.0.1:5", Ok("dev"));
        check(("authorization", "Bearer sk-dev"), "[::1]:5", Ok("dev"));
        check(("authorization", "Bearer sk-dev"), "192.168.1.2:5", Err(()));
    }
}

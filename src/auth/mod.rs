//! Authentication: gateway key → `Caller`. Keys are held only as SHA-256
//! hashes and compared in constant time.

mod teams;

use crate::error::GatewayError;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
pub use teams::{KeyEntry, Team, hash_key, parse_key_hash};

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

/// Headers a proxy adds when it forwards a request. A loopback-only key is
/// refused on a request carrying any of them: behind a reverse proxy on the
/// same machine every client's connection comes from loopback, so the peer
/// address alone would make every remote client look local.
const FORWARDING_HEADERS: [&str; 8] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "via",
];

/// Whether the request came straight from a client on this machine: its
/// peer is a loopback address and no proxy says it forwarded it.
fn direct_from_loopback(headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|addr| addr.ip().is_loopback())
        && !FORWARDING_HEADERS
            .iter()
            .any(|name| headers.contains_key(*name))
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
        if entry.loopback_only && !direct_from_loopback(headers, peer) {
            return Err(GatewayError::Unauthenticated(
                "this development key is accepted only from loopback clients connecting \
                 directly, not through a proxy (no Forwarded, X-Forwarded-For or X-Real-IP)",
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
        check_with(&[header], peer, expected);
    }

    fn check_with(sent: &[(&str, &str)], peer: &str, expected: Result<&str, ()>) {
        let store = store();
        let mut headers = HeaderMap::new();
        for (name, value) in sent {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
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

    #[test]
    fn development_keys_never_through_a_proxy() {
        let dev = ("authorization", "Bearer sk-dev");
        // A reverse proxy on this machine connects from loopback and says
        // whom it forwards: the development key is refused.
        for forwarded in [
            ("forwarded", "for=203.0.113.7"),
            ("x-forwarded-for", "203.0.113.7"),
            ("X-Forwarded-For", "127.0.0.1"),
            ("x-real-ip", "203.0.113.7"),
            ("via", "1.1 proxy"),
        ] {
            check_with(&[dev, forwarded], "127.0.0.1:5", Err(()));
            check_with(&[dev, forwarded], "[::1]:5", Err(()));
        }
        // Other keys do not care.
        check_with(
            &[
                ("authorization", "Bearer sk-one"),
                ("x-forwarded-for", "203.0.113.7"),
            ],
            "127.0.0.1:5",
            Ok("k1"),
        );
        check_with(
            &[dev, ("user-agent", "OpenAI/Python")],
            "127.0.0.1:5",
            Ok("dev"),
        );
    }
}

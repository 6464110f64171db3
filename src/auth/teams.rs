//! Teams and keys as the gateway holds them: a team's model policy, a key's
//! hash and team. Built by the config's checks, read by every area that
//! acts for a team.

use globset::GlobSet;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Team {
    pub id: Arc<str>,
    pub model_patterns: Vec<String>,
    pub models: GlobSet,
}

impl Team {
    /// Whether the team may use a model, by its public name.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_match(model)
    }
}

#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub id: Arc<str>,
    /// Index into `Config::teams`.
    pub team: usize,
    pub hash: [u8; 32],
    pub loopback_only: bool,
}

/// The SHA-256 of a key, the only form in which keys are kept.
pub fn hash_key(plaintext: &str) -> [u8; 32] {
    Sha256::digest(plaintext.as_bytes()).into()
}

/// Parse `sha256:<64 hex>`.
pub fn parse_key_hash(text: &str) -> Result<[u8; 32], String> {
    let hex_digits = text
        .strip_prefix("sha256:")
        .ok_or_else(|| "must start with `sha256:`".to_owned())?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut out)
        .map_err(|_| "must be `sha256:` followed by 64 hex digits".to_owned())?;
    Ok(out)
}

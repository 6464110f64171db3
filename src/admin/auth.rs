//! The admin credential: one bearer token, configured as its SHA-256 (or read
//! from an environment variable and hashed at load), compared in constant
//! time. Team keys never open `/admin`.

use crate::auth::KeyStore;
use crate::config::{hash_key, parse_key_hash};
use crate::error::GatewayError;
use http::HeaderMap;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// `[admin]`: the credential of the admin API under `/admin`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The admin token's SHA-256, as `sha256:<64 hex digits>` (`switchboard hash-key` prints it).
    #[serde(default)]
    pub hash: Option<String>,
    /// Or: the environment variable that holds the admin token (hashed at load).
    #[serde(default)]
    pub key_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredential {
    hash: [u8; 32],
}

pub fn validate(
    raw: &RawAdmin,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> Option<AdminCredential> {
    let hash = match (&raw.hash, &raw.key_env) {
        (Some(text), None) => parse_key_hash(text)
            .map_err(|message| problem("admin.hash".into(), message))
            .ok(),
        (None, Some(var)) => match env(var) {
            Some(value) if !value.is_empty() => Some(hash_key(&value)),
            _ => {
                problem(
                    "admin.key_env".into(),
                    format!("environment variable `{var}` is not set"),
                );
                None
            }
        },
        _ => {
            problem(
                "admin.hash".into(),
                "set exactly one of `hash` or `key_env`".into(),
            );
            None
        }
    };
    hash.map(|hash| AdminCredential { hash })
}

impl AdminCredential {
    /// Whether the request carries the admin token.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let presented = KeyStore::presented_key(headers)
            .filter(|key| !key.is_empty())
            .ok_or(GatewayError::Unauthenticated(
                "missing admin token: send `Authorization: Bearer <token>`",
            ))?;
        if bool::from(hash_key(presented).ct_eq(&self.hash)) {
            Ok(())
        } else {
            Err(GatewayError::Unauthenticated("invalid admin token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_checked_by_hash() {
        let raw = RawAdmin {
            hash: Some(format!("sha256:{}", hex::encode(hash_key("adm")))),
            key_env: None,
        };
        let credential = validate(&raw, &|_| None, &mut |_, _| panic!("valid")).unwrap();
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.parse().unwrap());
            credential.check(&headers).is_ok()
        };
        assert!(check("Bearer adm"));
        assert!(!check("Bearer adm2"));
        assert!(!check("Basic adm"));
        let mut problems = Vec::new();
        validate(&RawAdmin::default(), &|_| None, &mut |path, _| {
            problems.push(path)
        });
        assert_eq!(problems, ["admin.hash"]);
    }
}

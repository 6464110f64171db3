//! The admin credential: `[admin]` in the config, checked on every `/admin`
//! request. Held only as a SHA-256 hash, compared in constant time.

use crate::auth::KeyStore;
use crate::config::{hash_key, parse_key_hash};
use crate::error::GatewayError;
use http::HeaderMap;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// `[admin]` as written. Without it, the admin API answers 401 to everyone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The admin key's SHA-256, as `sha256:<64 hex digits>` (`switchboard hash-key` prints it).
    #[serde(default)]
    pub hash: Option<String>,
    /// Or: the environment variable that holds the admin key (hashed at load).
    #[serde(default)]
    pub key_env: Option<String>,
}

/// The validated admin credential.
#[derive(Debug, Clone, Default)]
pub struct AdminAuth {
    hash: Option<[u8; 32]>,
}

impl AdminAuth {
    pub fn from_hash(hash: [u8; 32]) -> Self {
        Self { hash: Some(hash) }
    }

    /// Check `[admin]`; problems go to `problem(key path, message)`.
    pub fn validate(
        raw: &RawAdmin,
        env: &dyn Fn(&str) -> Option<String>,
        problem: &mut dyn FnMut(String, String),
    ) -> Self {
        let hash = match (&raw.hash, &raw.key_env) {
            (Some(_), Some(_)) => {
                problem("admin".into(), "set `hash` or `key_env`, not both".into());
                None
            }
            (Some(text), None) => parse_key_hash(text)
                .map_err(|message| problem("admin.hash".into(), message))
                .ok(),
            (None, Some(name)) => match env(name).filter(|value| !value.is_empty()) {
                Some(value) => Some(hash_key(&value)),
                None => {
                    problem(
                        "admin.key_env".into(),
                        format!("environment variable `{name}` is not set"),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        Self { hash }
    }

    /// Whether the request presents the admin key.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let Some(expected) = &self.hash else {
            return Err(GatewayError::Unauthenticated(
                "the admin API is off: no `[admin]` credential is configured",
            ));
        };
        let Some(presented) = KeyStore::presented_key(headers) else {
            return Err(GatewayError::Unauthenticated("missing admin key"));
        };
        if bool::from(hash_key(presented).ct_eq(expected)) {
            Ok(())
        } else {
            Err(GatewayError::Unauthenticated("invalid admin key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn only_the_admin_key_passes() {
        let raw = RawAdmin {
            hash: None,
            key_env: Some("ADMIN".into()),
        };
        let env = |name: &str| (name == "ADMIN").then(|| "sk-admin".to_owned());
        let auth = AdminAuth::validate(&raw, &env, &mut |p, m| panic!("{p}: {m}"));
        assert!(auth.check(&headers("sk-admin")).is_ok());
        assert!(auth.check(&headers("sk-other")).is_err());
        assert!(auth.check(&HeaderMap::new()).is_err());
        assert!(AdminAuth::default().check(&headers("sk-admin")).is_err());
    }

    #[test]
    fn bad_settings_are_named() {
        let mut found = Vec::new();
        let raw = RawAdmin {
            hash: Some("md5:00".into()),
            key_env: None,
        };
        AdminAuth::validate(&raw, &|_| None, &mut |path, _| found.push(path));
        assert_eq!(found, ["admin.hash"]);
    }
}

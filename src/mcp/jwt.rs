//! Access-token checks for OAuth resource-server mode: the issuer's key set
//! (inline, or fetched and cached), then signature, issuer, audience and
//! lifetime of the JWT, then the claim that names the caller's team.

use super::oauth::{JwksSource, OAuthSettings};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A token naming a key id the cached set lacks fetches the set again, but
/// not more often than this: unknown key ids must not turn clients into a
/// flood of requests to the issuer.
const MIN_REFETCH: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a valid token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `sub`, else `client_id`, else `azp`: who the token was issued to.
    pub subject: String,
    /// The value of the team claim.
    pub team: String,
}

/// The scopes a token carries: its `scope` claim (space separated, RFC
/// 8693 §4.2) or, as some issuers write it, `scp` (a string or a list).
fn scopes(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<&str> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(serde_json::Value::String(text)) => text.split_whitespace().collect(),
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not acceptable; the reason is safe to show the client.
    #[error("{0}")]
    Invalid(String),
    /// The issuer's keys could not be had, so no token can be checked.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// A valid token without every required scope; names the missing ones.
    #[error("the token lacks the required scope(s): {0}")]
    InsufficientScope(String),
}

struct Cached {
    keys: Arc<JwkSet>,
    fetched: Instant,
}

pub struct TokenVerifier {
    settings: OAuthSettings,
    http: reqwest::Client,
    cache: parking_lot::RwLock<Option<Cached>>,
    /// One fetch at a time; others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

impl TokenVerifier {
    pub fn new(settings: OAuthSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            settings,
            http,
            cache: parking_lot::RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// Whether a presented credential has the shape of a JWT (three
    /// base64url parts), as opposed to a gateway key.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let header = decode_header(token)
            .map_err(|_| TokenError::Invalid("the token is not a well-formed JWT".into()))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(TokenError::Invalid(format!(
                "the token's algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway.as_secs();
        let data = decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map_err(|error| TokenError::Invalid(describe(error.kind())))?;
        let claims = data.claims;
        let team = claims
            .get(&self.settings.team_claim)
            .and_then(serde_json::Value::as_str)
            .filter(|team| !team.is_empty())
            .ok_or_else(|| {
                TokenError::Invalid(format!(
                    "the token has no `{}` claim naming a team",
                    self.settings.team_claim
                ))
            })?;
        let granted = scopes(&claims);
        let missing: Vec<&str> = self
            .settings
            .required_scopes
            .iter()
            .map(String::as_str)
            .filter(|scope| !granted.contains(scope))
            .collect();
        if !missing.is_empty() {
            return Err(TokenError::InsufficientScope(missing.join(" ")));
        }
        let subject = ["sub", "client_id", "azp"]
            .iter()
            .find_map(|claim| claims.get(*claim).and_then(serde_json::Value::as_str))
            .unwrap_or("unknown");
        Ok(Verified {
            subject: subject.to_owned(),
            team: team.to_owned(),
        })
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, TokenError> {
        let keys = self.keys(false).await?;
        let jwk = match select(&keys, kid) {
            Some(jwk) => jwk.clone(),
            None => {
                // The issuer may have rotated its keys since the last fetch.
                let keys = self.keys(true).await?;
                select(&keys, kid).cloned().ok_or_else(|| {
                    TokenError::Invalid(match kid {
                        Some(kid) => format!("no key `{kid}` in the issuer's key set"),
                        None => "the token names no key id (`kid`)".to_owned(),
                    })
                })?
            }
        };
        DecodingKey::from_jwk(&jwk)
            .map_err(|error| TokenError::KeysUnavailable(format!("unusable key: {error}")))
    }

    /// The key set: inline, cached, or fetched now. `refetch` asks for a
    /// fresh copy (at most every `MIN_REFETCH`).
    async fn keys(&self, refetch: bool) -> Result<Arc<JwkSet>, TokenError> {
        let url = match &self.settings.jwks {
            JwksSource::Inline(keys) => return Ok(Arc::new(keys.clone())),
            JwksSource::Url(url) => url,
        };
        let usable = |cached: &Cached| {
            let age = cached.fetched.elapsed();
            if refetch {
                age < MIN_REFETCH
            } else {
                age < self.settings.jwks_cache
            }
        };
        if let Some(cached) = self.cache.read().as_ref().filter(|c| usable(c)) {
            return Ok(cached.keys.clone());
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(cached) = self.cache.read().as_ref().filter(|c| usable(c)) {
            return Ok(cached.keys.clone());
        }
        match self.fetch(url).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.cache.write() = Some(Cached {
                    keys: keys.clone(),
                    fetched: Instant::now(),
                });
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(url, %reason, "cannot fetch the OAuth issuer's key set");
                // A stale set beats no set while the issuer is unreachable.
                match self.cache.read().as_ref() {
                    Some(cached) => Ok(cached.keys.clone()),
                    None => Err(TokenError::KeysUnavailable(reason)),
                }
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, String> {
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|error| error.to_string())?;
        serde_json::from_slice(&body).map_err(|error| format!("not a JWK Set: {error}"))
    }
}

fn select<'a>(keys: &'a JwkSet, kid: Option<&str>) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        // Without a key id, only an unambiguous set can be used.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token is not meant for this resource (aud)".into(),
        ErrorKind::InvalidIssuer => "the token was not issued by the trusted issuer (iss)".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        _ => "the token is not valid".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let claims = |value: serde_json::Value| value.as_object().unwrap().clone();
        let spaced = claims(serde_json::json!({"scope": "a  b"}));
        assert_eq!(scopes(&spaced), ["a", "b"]);
        let listed = claims(serde_json::json!({"scp": ["a", "b"]}));
        assert_eq!(scopes(&listed), ["a", "b"]);
        assert!(scopes(&claims(serde_json::json!({}))).is_empty());
    }

    #[test]
    fn jwts_are_told_from_gateway_keys() {
        assert!(TokenVerifier::looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!TokenVerifier::looks_like_jwt("sk-alpha-test"));
        assert!(!TokenVerifier::looks_like_jwt("a.b.c.d"));
        assert!(!TokenVerifier::looks_like_jwt("a.b c.d"));
    }
}

//! OAuth 2.1 resource-server mode for `/mcp` (`[mcp.oauth]`): what the
//! gateway accepts as an access token, the Protected Resource Metadata it
//! publishes (RFC 9728), and the `WWW-Authenticate` challenge that points
//! clients at it. Token checks live in `jwt.rs`.

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use std::time::Duration;

/// `[mcp.oauth]`: accept access tokens (JWTs) issued by an authorization
/// server for this gateway, as well as (unless turned off) gateway keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    /// The canonical URL of this gateway's MCP endpoint as clients reach it,
    /// e.g. `"https://gateway.example.com/mcp"`. Published as `resource` in
    /// the Protected Resource Metadata, whose URL is derived from it.
    pub resource: String,
    /// The authorization server's issuer identifier; a token's `iss` must equal it.
    pub issuer: String,
    /// The value a token's `aud` must contain. Default: `resource`.
    #[serde(default)]
    pub audience: Option<String>,
    /// URL of the issuer's JSON Web Key Set, fetched when first needed and
    /// cached for `jwks_cache` (and fetched again early when a token names a
    /// key id not in the cached set). Set this or `jwks`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The issuer's keys inline, as a JWK Set (`{ keys = [ ... ] }`). Set this or `jwks_url`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// How long a fetched key set is used before it is fetched again, e.g. `"10m"`.
    #[serde(default = "default_jwks_cache")]
    pub jwks_cache: String,
    /// The claim whose (string) value names the caller's team, one of `[[teams]]`.
    #[serde(default = "default_team_claim")]
    pub team_claim: String,
    /// Signature algorithms accepted, e.g. `["RS256", "ES256"]`. `none` and
    /// HMAC algorithms are refused: an issuer's public keys cannot check them.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Tolerated clock difference with the issuer when checking `exp` and `nbf`, e.g. `"30s"`.
    #[serde(default = "default_leeway")]
    pub leeway: String,
    /// Authorization servers listed in the metadata. Default: `[issuer]`.
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    /// Scopes listed in the metadata as `scopes_supported` (informational).
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Scopes every access token must carry (in its `scope` claim, space
    /// separated, or `scp`), e.g. `["mcp:tools"]`. A valid token lacking one
    /// is refused with 403 and `WWW-Authenticate: Bearer
    /// error="insufficient_scope", scope="..."` (RFC 6750 §3.1) naming them
    /// all. Gateway keys are not scoped. Default: none.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Also accept gateway keys on `/mcp`. Set to false to require tokens.
    #[serde(default = "yes")]
    pub gateway_keys: bool,
}

fn yes() -> bool {
    true
}
fn default_jwks_cache() -> String {
    "10m".to_owned()
}
fn default_team_claim() -> String {
    "team".to_owned()
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_owned(), "ES256".to_owned()]
}
fn default_leeway() -> String {
    "30s".to_owned()
}

#[derive(Debug, Clone)]
pub enum JwksSource {
    Url(String),
    Inline(JwkSet),
}

/// Validated `[mcp.oauth]`.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub resource: String,
    /// Where the Protected Resource Metadata is served (absolute URL).
    pub metadata_url: String,
    /// The path part of `metadata_url`.
    pub metadata_path: String,
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    pub jwks_cache: Duration,
    pub team_claim: String,
    pub algorithms: Vec<Algorithm>,
    pub leeway: Duration,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub required_scopes: Vec<String>,
    pub gateway_keys: bool,
}

impl OAuthSettings {
    /// The RFC 9728 document.
    pub fn metadata(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": self
                .algorithms
                .iter()
                .map(|alg| format!("{alg:?}"))
                .collect::<Vec<_>>(),
            "resource_name": "Switchboard MCP gateway",
        });
        if !self.scopes_supported.is_empty() {
            doc["scopes_supported"] = serde_json::json!(self.scopes_supported);
        }
        doc
    }

    /// The `WWW-Authenticate` value of a 401: where the metadata is and, for
    /// a token that was presented and refused, why (RFC 6750 §3).
    pub fn challenge(&self, invalid_token: Option<&str>) -> String {
        let mut value = format!("Bearer resource_metadata=\"{}\"", self.metadata_url);
        if let Some(reason) = invalid_token {
            // Quotes and backslashes cannot appear in a quoted-string unescaped.
            let reason: String = reason
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            value.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{reason}\""
            ));
        }
        value
    }

    /// The `WWW-Authenticate` value of a 403 for a token without the
    /// required scopes (RFC 6750 §3.1), naming every scope required.
    pub fn insufficient_scope_challenge(&self) -> String {
        format!(
            "Bearer resource_metadata=\"{}\", error=\"insufficient_scope\", scope=\"{}\"",
            self.metadata_url,
            self.required_scopes.join(" ")
        )
    }
}

/// A scope token as RFC 6749 §3.3 allows: printable ASCII except space,
/// `"` and `\`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// RFC 9728 §3.1: the metadata of `https://host/path` lives at
/// `https://host/.well-known/oauth-protected-resource/path`.
fn metadata_location(resource: &str) -> Option<(String, String)> {
    let uri: http::Uri = resource.parse().ok()?;
    let scheme = uri.scheme_str()?;
    if (scheme != "https" && scheme != "http") || uri.query().is_some() {
        return None;
    }
    let authority = uri.authority()?;
    let path = uri.path().trim_end_matches('/');
    let metadata_path = format!("/.well-known/oauth-protected-resource{path}");
    Some((
        format!("{scheme}://{authority}{metadata_path}"),
        metadata_path,
    ))
}

pub(crate) fn validate(
    raw: &RawOAuth,
    problem: &mut dyn FnMut(String, String),
) -> Option<OAuthSettings> {
    let path = |field: &str| format!("mcp.oauth.{field}");
    let mut ok = true;
    let mut fail = |field: &str, message: String, ok: &mut bool| {
        problem(path(field), message);
        *ok = false;
    };
    let (metadata_url, metadata_path) = metadata_location(&raw.resource).unwrap_or_else(|| {
        fail(
            "resource",
            format!(
                "`{}` is not an absolute http(s) URL without a query",
                raw.resource
            ),
            &mut ok,
        );
        (String::new(), String::new())
    });
    if raw.issuer.is_empty() {
        fail("issuer", "must not be empty".into(), &mut ok);
    }
    let jwks = match (&raw.jwks_url, &raw.jwks) {
        (Some(url), None) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                fail(
                    "jwks_url",
                    format!("`{url}` is not an http(s) URL"),
                    &mut ok,
                );
            }
            JwksSource::Url(url.clone())
        }
        (None, Some(inline)) => match serde_json::from_value::<JwkSet>(inline.clone()) {
            Ok(set) if !set.keys.is_empty() => JwksSource::Inline(set),
            Ok(_) => {
                fail("jwks", "holds no keys".into(), &mut ok);
                JwksSource::Inline(JwkSet { keys: Vec::new() })
            }
            Err(error) => {
                fail("jwks", format!("not a JWK Set: {error}"), &mut ok);
                JwksSource::Inline(JwkSet { keys: Vec::new() })
            }
        },
        _ => {
            fail(
                "jwks_url",
                "set either `jwks_url` or `jwks`".into(),
                &mut ok,
            );
            JwksSource::Inline(JwkSet { keys: Vec::new() })
        }
    };
    let mut duration = |field: &str, text: &str| {
        humantime::parse_duration(text).unwrap_or_else(|error| {
            fail(
                field,
                format!("`{text}` is not a duration like \"5s\": {error}"),
                &mut ok,
            );
            Duration::ZERO
        })
    };
    let jwks_cache = duration("jwks_cache", &raw.jwks_cache);
    let leeway = duration("leeway", &raw.leeway);
    let mut algorithms = Vec::new();
    for (index, name) in raw.algorithms.iter().enumerate() {
        match name.parse::<Algorithm>() {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | Err(_) => fail(
                &format!("algorithms[{index}]"),
                format!(
                    "`{name}` is not an asymmetric JWS algorithm (RS256, PS256, ES256, EdDSA, ...)"
                ),
                &mut ok,
            ),
            Ok(alg) => algorithms.push(alg),
        }
    }
    if raw.algorithms.is_empty() {
        fail(
            "algorithms",
            "must name at least one algorithm".into(),
            &mut ok,
        );
    }
    if raw.team_claim.is_empty() {
        fail("team_claim", "must not be empty".into(), &mut ok);
    }
    for (index, scope) in raw.required_scopes.iter().enumerate() {
        if !is_scope_token(scope) {
            fail(
                &format!("required_scopes[{index}]"),
                format!(
                    "`{scope}` is not a scope (printable ASCII without spaces, quotes or backslashes)"
                ),
                &mut ok,
            );
        }
    }
    ok.then(|| OAuthSettings {
        resource: raw.resource.clone(),
        metadata_url,
        metadata_path,
        issuer: raw.issuer.clone(),
        audience: raw.audience.clone().unwrap_or_else(|| raw.resource.clone()),
        jwks,
        jwks_cache,
        team_claim: raw.team_claim.clone(),
        algorithms,
        leeway,
        authorization_servers: raw
            .authorization_servers
            .clone()
            .unwrap_or_else(|| vec![raw.issuer.clone()]),
        scopes_supported: raw.scopes_supported.clone(),
        required_scopes: raw.required_scopes.clone(),
        gateway_keys: raw.gateway_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_follows_rfc_9728() {
        assert_eq!(
            metadata_location("https://gw.example.com/mcp").unwrap(),
            (
                "https://gw.example.com/.well-known/oauth-protected-resource/mcp".to_owned(),
                "/.well-known/oauth-protected-resource/mcp".to_owned()
            )
        );
        assert_eq!(
            metadata_location("http://127.0.0.1:8080/").unwrap().0,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        assert!(metadata_location("gw.example.com/mcp").is_none());
        assert!(metadata_location("https://gw.example.com/mcp?x=1").is_none());
    }

    #[test]
    fn problems_name_their_fields() {
        let raw: RawOAuth = serde_json::from_value(serde_json::json!({
            "resource": "not a url",
            "issuer": "https://issuer",
            "algorithms": ["HS256", "ES256"],
            "leeway": "soon",
        }))
        .unwrap();
        let mut paths = Vec::new();
        assert!(validate(&raw, &mut |path, _| paths.push(path)).is_none());
        assert_eq!(
            paths,
            [
                "mcp.oauth.resource",
                "mcp.oauth.jwks_url",
                "mcp.oauth.leeway",
                "mcp.oauth.algorithms[0]"
            ]
        );
    }

    #[test]
    fn required_scopes_are_scope_tokens() {
        let raw: RawOAuth = serde_json::from_value(serde_json::json!({
            "resource": "https://gw.example.com/mcp",
            "issuer": "https://issuer",
            "jwks_url": "https://issuer/jwks",
            "required_scopes": ["mcp:tools", "two words", ""],
        }))
        .unwrap();
        let mut paths = Vec::new();
        assert!(validate(&raw, &mut |path, _| paths.push(path)).is_none());
        assert_eq!(
            paths,
            [
                "mcp.oauth.required_scopes[1]",
                "mcp.oauth.required_scopes[2]"
            ]
        );
    }

    #[test]
    fn challenge_points_at_the_metadata() {
        let raw: RawOAuth = serde_json::from_value(serde_json::json!({
            "resource": "https://gw.example.com/mcp",
            "issuer": "https://issuer",
            "jwks_url": "https://issuer/jwks",
        }))
        .unwrap();
        let settings = validate(&raw, &mut |p, m| panic!("{p}: {m}")).unwrap();
        assert_eq!(settings.audience, "https://gw.example.com/mcp");
        assert_eq!(
            settings.challenge(Some("expired \"token\"")),
            "Bearer resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\", \
             error=\"invalid_token\", error_description=\"expired token\""
        );
        assert_eq!(
            settings.metadata()["authorization_servers"][0],
            "https://issuer"
        );
    }
}

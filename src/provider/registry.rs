//! Providers as configured: the data files, the operator's overrides and the
//! environment decide which providers are on, where they live and which key
//! they use.

use super::Provider;
use super::adapters::{AdapterSettings, build_adapter};
use super::{ProviderSettings, UpstreamSettings};
use crate::catalog::{AuthScheme, Catalog, ProviderSpec, Wire};
use crate::shapes::ConfigError;
use http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One provider and whether it can serve.
pub struct ProviderEntry {
    /// `spec.id`, shared: request log rows and spans name the provider
    /// without a copy.
    pub id: Arc<str>,
    pub spec: ProviderSpec,
    pub allow_unlisted_models: bool,
    /// `None` when the provider is off; the reason is in `disabled_reason`.
    pub adapter: Option<Arc<dyn Provider>>,
    pub disabled_reason: Option<String>,
}

/// All providers by id.
pub struct Providers {
    pub entries: BTreeMap<String, Arc<ProviderEntry>>,
}

impl Providers {
    pub fn build(
        catalog: &Catalog,
        configured: &BTreeMap<String, ProviderSettings>,
        upstream: &UpstreamSettings,
        client: &reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        for id in configured.keys() {
            if catalog.get(id).is_none() {
                problems.push((
                    format!("providers.{id}"),
                    format!("no provider `{id}` in the provider data"),
                ));
            }
        }
        let mut entries = BTreeMap::new();
        for (id, spec) in &catalog.providers {
            let overrides = configured.get(id).cloned().unwrap_or_default();
            let key_env = overrides.api_key_env.as_ref().or(spec.api_key_env.as_ref());
            let key = key_env
                .into_iter()
                .chain(&spec.api_key_env_fallbacks)
                .find_map(|name| env(name).filter(|k| !k.is_empty()));
            let env_base_url = spec.base_url_env.as_ref().and_then(|name| env(name));
            let base_url = overrides
                .base_url
                .clone()
                .or(env_base_url.clone())
                .unwrap_or_else(|| spec.base_url.clone());
            let automatic = match (spec.wire, spec.auth) {
                (Wire::Mock, _) => true,
                (_, AuthScheme::None) => env_base_url.is_some() || overrides.base_url.is_some(),
                _ => key.is_some(),
            };
            let enabled = overrides.enabled.unwrap_or(automatic);
            let mut disabled_reason = None;
            let mut adapter: Option<Arc<dyn Provider>> = None;
            if !enabled {
                disabled_reason = Some(match (overrides.enabled, spec.auth, key_env) {
                    (Some(false), _, _) => "turned off in the configuration".to_owned(),
                    (_, AuthScheme::None, _) => format!(
                        "set {} or providers.{id}.base_url to use it",
                        spec.base_url_env.as_deref().unwrap_or("its base URL")
                    ),
                    (_, _, Some(var)) => format!("set {var} to use it"),
                    (_, _, None) => "no key is configured".to_owned(),
                });
            } else {
                let auth = match auth_header(spec.auth, key.as_deref()) {
                    Ok(auth) => auth,
                    Err(message) => {
                        problems.push((format!("providers.{id}"), message));
                        None
                    }
                };
                let settings = AdapterSettings {
                    id,
                    spec,
                    base_url,
                    auth,
                    client,
                    upstream,
                    env,
                    key: key.as_deref(),
                };
                adapter = match build_adapter(settings) {
                    Ok(adapter) => Some(adapter),
                    Err(message) => {
                        problems.push((format!("providers.{id}.base_url"), message));
                        None
                    }
                };
            }
            entries.insert(
                id.clone(),
                Arc::new(ProviderEntry {
                    id: spec.id.as_str().into(),
                    allow_unlisted_models: overrides
                        .allow_unlisted_models
                        .unwrap_or(spec.allow_unlisted_models),
                    spec: spec.clone(),
                    adapter,
                    disabled_reason,
                }),
            );
        }
        if problems.is_empty() {
            Ok(Self { entries })
        } else {
            Err(ConfigError {
                source_name: "configuration".to_owned(),
                problems,
            })
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ProviderEntry>> {
        self.entries.get(id)
    }
}

/// The header that carries the provider key, marked sensitive.
fn auth_header(
    scheme: AuthScheme,
    key: Option<&str>,
) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let (name, value) = match (scheme, key) {
        (AuthScheme::None, _) => return Ok(None),
        (_, None) => return Err("enabled, but its key env var is not set".to_owned()),
        // Signed per request by the Bedrock adapter.
        (AuthScheme::AwsSigv4, Some(_)) => return Ok(None),
        (AuthScheme::Bearer, Some(key)) => (http::header::AUTHORIZATION, format!("Bearer {key}")),
        (AuthScheme::ApiKey, Some(key)) => (HeaderName::from_static("api-key"), key.to_owned()),
        (AuthScheme::XApiKey, Some(key)) => (HeaderName::from_static("x-api-key"), key.to_owned()),
        (AuthScheme::XGoogApiKey, Some(key)) => {
            (HeaderName::from_static("x-goog-api-key"), key.to_owned())
        }
    };
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| "the provider key contains characters not allowed in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}

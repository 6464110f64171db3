//! The providers' settings from the config: per-provider overrides of the
//! data in `providers/`, and the upstream HTTP client's timeouts.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProviderOverride {
    /// Force the provider on or off. Default: on when its key env var (or, for
    /// providers without auth, its base-URL env var) is set.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Base URL, overriding the data file and its env var.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Env var that holds the provider key, overriding the data file.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Pass through requests for models that the data file does not list.
    #[serde(default)]
    pub allow_unlisted_models: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
    pub pool_max_idle_per_host: usize,
}

/// Per-provider overrides, unchanged from the file (checked against the
/// provider data when the gateway is built).
pub type ProviderSettings = RawProviderOverride;

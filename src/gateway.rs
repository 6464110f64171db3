//! The gateway's shared state, built from a validated config: keys, routes,
//! stores, metrics. Built once; request handlers only read it.

use crate::auth::KeyStore;
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::mcp::McpHub;
use crate::metrics::Metrics;
use crate::provider::{Providers, build_client};
use crate::routing::Router;
use crate::seams::cache::CacheStore;
use crate::seams::guardrail::Guardrail;
use crate::seams::quota::{InMemoryQuotaStore, QuotaStore};
use std::sync::Arc;

pub struct Gateway {
    pub config: Config,
    pub keys: KeyStore,
    pub router: Router,
    pub metrics: Metrics,
    pub quota: Arc<dyn QuotaStore>,
    /// Exact response cache; off until configured.
    pub cache: Option<Arc<dyn CacheStore>>,
    /// Guardrails bound to every request; none until configured.
    pub guardrails: Vec<Arc<dyn Guardrail>>,
    /// MCP upstream servers and the merged tool catalog.
    pub mcp: Arc<McpHub>,
}

impl Gateway {
    /// Build from config, reading provider keys from the process environment.
    pub fn build(config: Config) -> Result<Arc<Self>, Vec<ConfigError>> {
        Self::build_with_env(config, &|name| std::env::var(name).ok())
    }

    pub fn build_with_env(
        config: Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, Vec<ConfigError>> {
        let catalog = Catalog::load(config.providers_dir.as_deref())?;
        let client = build_client(&config.upstream).map_err(|error| {
            vec![ConfigError::single(
                "upstream",
                "",
                format!("cannot build the HTTP client: {error}"),
            )]
        })?;
        let providers = Providers::build(&catalog, &config, &client, env).map_err(|e| vec![e])?;
        let router = Router::new(&config, providers).map_err(|e| vec![e])?;
        let metrics = Metrics::default();
        let mcp = McpHub::new(config.mcp.clone(), metrics.mcp.clone());
        Ok(Arc::new(Self {
            keys: KeyStore::new(&config.keys),
            router,
            metrics,
            mcp,
            quota: Arc::new(InMemoryQuotaStore::default()),
            cache: None,
            guardrails: Vec::new(),
            config,
        }))
    }
}

//! The gateway's shared state, built from a validated config: keys, routes,
//! stores, metrics. Built once; request handlers only read it. The parts a
//! config reload changes (the config itself, routes and providers,
//! guardrails, teams and keys) are swapped whole (`reload.rs`): a request
//! reads each once and finishes on what it read; the stateful parts
//! (quota counters, cache, MCP servers, metrics) live on across reloads.

use crate::auth::KeyStore;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::guardrails::Guardrails;
use crate::mcp::McpHub;
use crate::metrics::Metrics;
use crate::provider::UpstreamSettings;
use crate::provider::{Providers, build_client};
use crate::quota::Quota;
use crate::quota::window::Clock;
use crate::routing::Router;
use crate::shapes::ConfigError;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub struct Gateway {
    /// The config in force: swapped by a reload, restart-only sections kept.
    pub config: ArcSwap<Config>,
    /// Teams and keys; swapped whole by the admin API.
    pub keys: Arc<ArcSwap<KeyStore>>,
    /// Routes and providers; rebuilt by a reload.
    pub router: ArcSwap<Router>,
    pub metrics: Metrics,
    /// Budgets and rate limits: reserve before the upstream call, settle after.
    pub quota: Arc<Quota>,
    /// The response cache (exact and semantic); `None` when `[cache]` is off.
    pub response_cache: Option<Arc<crate::cache::ResponseCache>>,
    /// Prompt templates (`prompts/` and `[server] prompts_dir`), swapped
    /// whole by a reload.
    pub prompts: ArcSwap<crate::prompts::Prompts>,
    /// Responses kept for `previous_response_id` and `/v1/responses/{id}`.
    pub responses: Arc<crate::stored_responses::ResponseStore>,
    /// One row per model call, for `/admin/requests` and the dashboard.
    pub request_log: Arc<crate::request_log::RequestLog>,
    /// Finished spans on their way to the OTLP collector (`[otel]`).
    pub traces: Arc<crate::traces::Exporter>,
    /// Guardrail bindings, compiled from `[guardrails]`; none until
    /// configured; rebuilt by a reload.
    pub guardrails: Arc<ArcSwap<Guardrails>>,
    /// The embedding model semantic guardrail rules use, kept across reloads.
    pub(crate) guardrail_embedder: Option<crate::guardrails::encoder::SemanticModels>,
    /// The admin API's view of teams and keys.
    pub admin: crate::directory::AdminState,
    /// MCP upstream servers and the merged tool catalog.
    pub mcp: Arc<McpHub>,
    /// What `/readyz` checks, and whether the process is draining.
    pub readiness: crate::readiness::Readiness,
    /// Config reloads applied and refused.
    pub reloads: crate::metrics::ReloadCounters,
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
        let (router, client) = build_router(&config, env, None)?;
        let quota = Quota::build(&config.quota, Clock::System)
            .map_err(|message| vec![ConfigError::single("quota", "quota", message)])?;
        // Teams and keys changed through the admin API come back on top of the config.
        let directory = crate::directory::Directory::restore(&config, quota.saved_admin_overlay());
        let (keys, book) = directory
            .build()
            .map_err(|message| vec![ConfigError::single("admin changes", "", message)])?;
        quota.update_book(|current| *current = book.clone());
        // MCP servers changed through the admin API come back the same way.
        let mut mcp_settings = config.mcp.clone();
        mcp_settings.servers = crate::mcp::registry::with_saved(
            mcp_settings.servers,
            directory.mcp_servers(),
            &mcp_settings.admin_commands,
        );
        let saved_pins = crate::directory::pins::parse(directory.mcp_pins());
        let seal = config
            .admin
            .as_ref()
            .map(|admin| crate::directory::Seal::new(&admin.key_hash));
        let admin = crate::directory::AdminState::new(directory, seal);
        let mut metrics = Metrics::default();
        metrics.register_counter(
            "admin_shared_documents_refused",
            "Admin documents read from Redis and refused: their seal did not match this gateway's admin credential",
            admin.refused_documents.clone(),
        );
        metrics.register_counter(
            "quota_store_errors",
            "Calls to the shared quota store that failed (then handled by quota.on_store_error)",
            quota.store_errors.clone(),
        );
        if let Some(trips) = quota.round_trips() {
            metrics.register_counter(
                "quota_redis_round_trips_request",
                "Round trips to the quota Redis that a request waited for (one reservation each)",
                trips.request.clone(),
            );
            metrics.register_counter(
                "quota_redis_round_trips_background",
                "Round trips to the quota Redis off the request path (batched settles, admin reads, change polls)",
                trips.background.clone(),
            );
        }
        router.attach_metrics(&metrics);
        // The cache and MCP keep their metrics' types; they show with the rest.
        let cache_metrics = crate::cache::stats::CacheMetrics::default();
        cache_metrics.register(metrics.registry_mut());
        let mcp_metrics = std::sync::Arc::new(crate::mcp::metrics::McpMetrics::default());
        mcp_metrics.register(metrics.registry_mut());
        let response_cache = crate::cache::ResponseCache::from_settings(
            &config.cache,
            cache_metrics,
            router.providers(),
        );
        let embedder = crate::guardrails::semantic::embedding_service(
            &config.guardrails.semantic_rules(),
            response_cache.as_deref(),
            config.cache.model_dir.as_deref(),
        );
        let guardrails =
            Guardrails::build(&config.guardrails, &config.teams, &client, embedder.clone())?;
        let mcp = McpHub::new(mcp_settings, mcp_metrics);
        // Before any upstream is contacted: a changed tool is never trusted
        // on first sight after a restart.
        mcp.pins.seed(saved_pins);
        let readiness = crate::readiness::Readiness::new(&config);
        let reloads = crate::metrics::ReloadCounters::default();
        reloads.register(&mut metrics);
        let responses = Arc::new(
            crate::stored_responses::ResponseStore::open(&config.responses)
                .map_err(|error| vec![ConfigError::single("config", "responses", error)])?,
        );
        let request_log = Arc::new(
            crate::request_log::RequestLog::open(&config.request_log)
                .map_err(|error| vec![ConfigError::single("config", "request_log", error)])?,
        );
        let renders = crate::prompts::PromptRenders::default();
        metrics.registry_mut().register(
            "prompt_renders",
            "Prompt template renders by template, version and outcome (ok, not_found, invalid)",
            renders.clone(),
        );
        let prompts = Arc::new(
            crate::prompts::Prompts::load(config.prompts_dir.as_deref())?.with_renders(renders),
        );
        mcp.set_templates(prompts.clone());
        let gateway = Arc::new(Self {
            keys: Arc::new(ArcSwap::from_pointee(keys)),
            admin,
            router: ArcSwap::from_pointee(router),
            metrics,
            response_cache,
            responses,
            request_log,
            traces: Arc::new(crate::traces::Exporter::new(&config.otel)),
            prompts: ArcSwap::new(prompts),
            quota: Arc::new(quota),
            mcp,
            guardrails: Arc::new(ArcSwap::from_pointee(guardrails)),
            guardrail_embedder: embedder,
            readiness,
            reloads,
            config: ArcSwap::from_pointee(config),
        });
        Ok(gateway)
    }

    /// What the MCP front door uses of the gateway.
    /// The chat stages that answer servers' sampling (`sampler`) are above
    /// this module: the HTTP layer adds them (`ChatSampler`).
    pub fn mcp_context(&self) -> crate::mcp::McpContext {
        crate::mcp::McpContext {
            mcp: self.mcp.clone(),
            keys: self.keys.clone(),
            guardrails: self.guardrails.clone(),
            decisions: self.metrics.guardrail_decisions.clone(),
            quota: self.quota.clone(),
            traces: self.traces.clone(),
            sampler: None,
        }
    }

    /// What `/readyz` needs from the areas, gathered for `Readiness::report`.
    pub fn readiness_facts(&self) -> crate::readiness::Facts {
        let serving_providers = self
            .router
            .load()
            .providers()
            .entries
            .values()
            .filter(|entry| entry.adapter.is_some())
            .count();
        // Without a model configured, the semantic layer is documented to
        // stay off (the exact layer serves): no reason to hold traffic back.
        let config = self.config.load();
        let settings = &config.cache;
        let configured = matches!(
            settings.embedding,
            crate::cache::config::EmbeddingSource::Provider { .. }
        ) || settings.model_dir.is_some();
        let embedding_model_loaded =
            (settings.enabled && settings.semantic && configured).then(|| {
                self.response_cache
                    .as_ref()
                    .is_some_and(|cache| cache.semantic_enabled())
            });
        crate::readiness::Facts {
            serving_providers,
            embedding_model_loaded,
            mcp_first_starts_pending: self.mcp.first_starts_pending(),
        }
    }
}

/// Routes and providers for `config` (the catalog read from its
/// `providers_dir`), and the HTTP client built from `[upstream]`. On a
/// reload, `previous` hands its targets' breakers and latency on.
pub(crate) fn build_router(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    previous: Option<&Router>,
) -> Result<(Router, reqwest::Client), Vec<ConfigError>> {
    let catalog = Catalog::load(config.providers_dir.as_deref())?;
    let client = build_client(&config.upstream).map_err(|error| {
        vec![ConfigError::single(
            "upstream",
            "",
            format!("cannot build the HTTP client: {error}"),
        )]
    })?;
    let providers = Providers::build(&catalog, &config.providers, &config.upstream, &client, env)
        .map_err(|e| vec![e])?;
    // Routes with their own connect timeout get their own client.
    let with_connect = |connect_timeout| {
        let settings = UpstreamSettings {
            connect_timeout,
            ..config.upstream.clone()
        };
        let client = build_client(&settings).map_err(|error| {
            ConfigError::single(
                "routes",
                "",
                format!("cannot build an HTTP client: {error}"),
            )
        })?;
        Providers::build(&catalog, &config.providers, &config.upstream, &client, env).map(Some)
    };
    let router = match previous {
        Some(previous) => {
            Router::carrying_health(config.routing(), providers, &with_connect, previous)
        }
        None => Router::new_with(config.routing(), providers, &with_connect),
    }
    .map_err(|e| vec![e])?;
    Ok((router, client))
}

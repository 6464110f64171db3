//! Reloading the config and the data files it names (provider catalogs,
//! guardrail packs) without a restart, on SIGHUP.
//!
//! A reload is all or nothing: the new config is read and validated, then
//! routes, providers and guardrails are built from it and the teams and keys
//! are rebuilt with the admin API's changes on top; only when every part
//! builds are they swapped in, together, under the admin directory's lock
//! (so an admin change never interleaves). A config that fails leaves the
//! gateway as it was and says why. Requests in flight finish on what they
//! read when they started; new requests see the new config.
//!
//! What lives on across a reload: quota counters and the ledger, the cache
//! and its model, MCP servers and their pins, metrics. Sections that shape
//! those, or the listener, need a restart: a reload keeps them as they are
//! and names them in a warning (`RESTART_ONLY`).

use crate::config::{Config, ConfigError};
use crate::gateway::Gateway;
use crate::guardrails::Guardrails;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;

/// Sections a reload never changes, and why: the listener and TLS files are
/// bound at start; the stores, cache, MCP servers and admin credential hold
/// state a reload must not drop; logging is set up once.
pub const RESTART_ONLY: &[&str] = &[
    "server.listen",
    "server.tls",
    "server.shutdown_grace",
    "server.drain_delay",
    "log",
    "admin",
    "cache",
    "quota (store, ledger and settings; budgets and limits reload)",
    "mcp",
];

/// Reloads applied and refused, for `/metrics`.
#[derive(Clone, Default)]
pub struct Counters {
    pub applied: Counter,
    pub refused: Counter,
}

impl Counters {
    pub fn register(&self, metrics: &mut crate::metrics::Metrics) {
        metrics.register_counter(
            "config_reloads_applied",
            "Config reloads (SIGHUP) that took effect",
            self.applied.clone(),
        );
        metrics.register_counter(
            "config_reloads_refused",
            "Config reloads (SIGHUP) refused because the new config or a data file it names did not validate; the gateway kept the config it had",
            self.refused.clone(),
        );
    }
}

/// Where a reload reads the config from: the file and overrides the process
/// started with.
pub type ConfigSource = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Reload from `source` and log the outcome; never fails the process.
pub async fn reload(gateway: &Gateway, source: &ConfigSource) {
    let outcome = match source() {
        Ok(next) => apply(gateway, next).await,
        Err(error) => Err(vec![error]),
    };
    match outcome {
        Ok(kept) => {
            gateway.reloads.applied.inc();
            if kept.is_empty() {
                tracing::info!("config reloaded");
            } else {
                tracing::warn!(
                    sections = ?kept,
                    "config reloaded; these sections changed but need a restart, and are kept as they were"
                );
            }
        }
        Err(errors) => {
            gateway.reloads.refused.inc();
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::error!(
                ?errors,
                "config reload refused; the gateway keeps the config it had"
            );
        }
    }
}

/// Apply `next` to the running gateway: everything or nothing. Returns the
/// restart-only sections that differed (kept as they were).
pub async fn apply(
    gateway: &Gateway,
    mut next: Config,
) -> Result<Vec<&'static str>, Vec<ConfigError>> {
    let current = gateway.config.load_full();
    let kept = keep_restart_only(&current, &mut next);
    let (router, client) = crate::gateway::build_router(&next, &|name| std::env::var(name).ok())?;
    let embedder = gateway.guardrail_embedder.clone().or_else(|| {
        crate::guardrails::semantic::embedding_service(
            &next.guardrails.semantic_rules(),
            gateway.response_cache.as_deref(),
            next.cache.model_dir.as_deref(),
        )
    });
    let guardrails = Guardrails::build(&next.guardrails, &next.teams, &client, embedder)?;
    let next = Arc::new(next);
    crate::admin::quota::rebase(gateway, &next, |keys, book| {
        router.attach_metrics(&gateway.metrics);
        gateway.router.store(Arc::new(router));
        gateway.guardrails.store(Arc::new(guardrails));
        gateway.keys.store(Arc::new(keys));
        gateway.quota.update_book(|current| *current = book.clone());
        gateway.config.store(next.clone());
    })
    .await
    .map_err(|message| vec![ConfigError::single("admin changes", "", message)])?;
    Ok(kept)
}

/// Copy the restart-only sections of `current` into `next`, returning the
/// names of those that differed.
fn keep_restart_only(current: &Config, next: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    let mut keep = |name: &'static str, differs: bool| {
        if differs {
            kept.push(name);
        }
    };
    // Compared by their debug form: these are plain settings, and a false
    // "differs" only costs a warning.
    fn differ<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    keep(RESTART_ONLY[0], current.listen != next.listen);
    next.listen = current.listen;
    keep(RESTART_ONLY[1], differ(&current.tls, &next.tls));
    next.tls.clone_from(&current.tls);
    keep(
        RESTART_ONLY[2],
        current.shutdown_grace != next.shutdown_grace,
    );
    next.shutdown_grace = current.shutdown_grace;
    keep(RESTART_ONLY[3], current.drain_delay != next.drain_delay);
    next.drain_delay = current.drain_delay;
    keep(
        RESTART_ONLY[4],
        current.log_format != next.log_format || current.log_level != next.log_level,
    );
    next.log_format = current.log_format;
    next.log_level.clone_from(&current.log_level);
    keep(RESTART_ONLY[5], differ(&current.admin, &next.admin));
    next.admin.clone_from(&current.admin);
    keep(RESTART_ONLY[6], differ(&current.cache, &next.cache));
    next.cache = current.cache.clone();
    let limits = (
        std::mem::take(&mut next.quota.teams),
        std::mem::take(&mut next.quota.keys),
    );
    let mut settings = current.quota.clone();
    settings.teams = Vec::new();
    settings.keys = Vec::new();
    keep(RESTART_ONLY[7], differ(&settings, &next.quota));
    next.quota = crate::quota::settings::QuotaConfig {
        teams: limits.0,
        keys: limits.1,
        ..settings
    };
    keep(RESTART_ONLY[8], differ(&current.mcp, &next.mcp));
    next.mcp = current.mcp.clone();
    kept
}

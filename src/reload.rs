//! Reloading the config and the data files it names (provider catalogs,
//! guardrail packs, prompt templates) without a restart: on SIGHUP, and when
//! the config file or a file under those folders changes (checked every
//! `WATCH_EVERY`).
//!
//! A reload is all or nothing: the new config is read and validated, then
//! routes, providers, guardrails and prompt templates are built from it
//! (a template that does not load refuses the reload) and the teams and keys
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

use crate::config::Config;
use crate::gateway::Gateway;
use crate::guardrails::Guardrails;
use crate::shapes::ConfigError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    "responses",
    "request_log",
    "otel",
];

/// Where a reload reads the config from: the file and overrides the
/// process started with.
pub struct ConfigSource {
    /// The config file, watched for changes; `None` for the built-in default.
    pub path: Option<PathBuf>,
    pub read: Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>,
}

/// How often the watched files are compared with what was last loaded.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// At most this many files are compared per data folder: the folders are
/// the operator's, small by nature; a bound keeps a check cheap whatever
/// lands there.
const MAX_WATCHED_FILES: usize = 4096;

/// Reload on every SIGHUP and whenever the watched files change, one
/// reload at a time, for as long as the process serves.
pub fn follow(gateway: Arc<Gateway>, source: ConfigSource) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangups =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(hangups) => Some(hangups),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGHUP: reload on file changes only");
                    None
                }
            };
        let mut seen = fingerprint_off_thread(&source, &gateway).await;
        let mut ticks = tokio::time::interval(WATCH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hangups.as_mut() {
                    Some(signals) => signals.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                signal = hangup => {
                    if signal.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: reloading the config");
                }
                _ = ticks.tick() => {
                    let now = fingerprint_off_thread(&source, &gateway).await;
                    if now == seen {
                        continue;
                    }
                    tracing::info!("the config or a data file changed: reloading");
                }
            }
            reload(&gateway, &source).await;
            // What was read now is what the next change is compared with,
            // whether it loaded or not (a refused file is not retried until
            // it changes again).
            seen = fingerprint_off_thread(&source, &gateway).await;
        }
    });
}

/// The fingerprint of the files the gateway's config was read from, taken
/// on a blocking thread (it reads directories).
async fn fingerprint_off_thread(source: &ConfigSource, gateway: &Gateway) -> Fingerprint {
    let (path, config) = (source.path.clone(), gateway.config.load_full());
    tokio::task::spawn_blocking(move || fingerprint(path.as_deref(), &config))
        .await
        .unwrap_or_default()
}

/// Modification time and length of the config file and of every file under
/// the data folders the config names (provider catalogs, guardrail packs,
/// prompt templates).
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn fingerprint(config_path: Option<&Path>, config: &Config) -> Fingerprint {
    let stat = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    let mut files: Fingerprint = Vec::new();
    if let Some(path) = config_path {
        files.push((path.to_owned(), stat(path)));
    }
    for dir in [
        config.providers_dir.as_deref(),
        config.guardrails.dir.as_deref(),
        config.prompts_dir.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        let mut pending = vec![dir.to_owned()];
        let mut listed = 0;
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                listed += 1;
                if listed > MAX_WATCHED_FILES {
                    break;
                }
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                } else {
                    let stat = stat(&path);
                    files.push((path, stat));
                }
            }
        }
    }
    files.sort();
    files
}

/// Reload from `source` and log the outcome; never fails the process.
pub async fn reload(gateway: &Gateway, source: &ConfigSource) {
    let outcome = match (source.read)() {
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
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::error!(
                ?errors,
                "config reload refused; the gateway keeps the config it had"
            );
            gateway.reloads.refused.inc();
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
    let (router, client) = crate::gateway::build_router(
        &next,
        &|name| std::env::var(name).ok(),
        Some(&gateway.router.load()),
    )?;
    let embedder = gateway.guardrail_embedder.clone().or_else(|| {
        crate::guardrails::semantic::embedding_service(
            &next.guardrails.semantic_rules(),
            gateway.response_cache.as_deref(),
            next.cache.model_dir.as_deref(),
        )
    });
    let guardrails = Guardrails::build(&next.guardrails, &next.teams, &client, embedder)?;
    // The templates count their renders in the family the gateway registered.
    let current_prompts = gateway.prompts.load_full();
    let prompts = Arc::new(
        crate::prompts::Prompts::load(next.prompts_dir.as_deref())?
            .with_renders(current_prompts.renders().clone()),
    );
    let prompts_changed = !prompts.same_templates(&current_prompts);
    let next = Arc::new(next);
    crate::admin::quota::rebase(gateway, &next, |keys, book| {
        router.attach_metrics(&gateway.metrics);
        gateway.router.store(Arc::new(router));
        gateway.guardrails.store(Arc::new(guardrails));
        gateway.keys.store(Arc::new(keys));
        gateway.quota.update_book(|current| *current = book.clone());
        gateway.prompts.store(prompts.clone());
        if prompts_changed {
            // MCP clients listening are told the prompt list changed.
            gateway.mcp.set_templates(prompts);
        } else {
            gateway.mcp.templates.store(prompts);
        }
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
    keep(RESTART_ONLY[9], differ(&current.responses, &next.responses));
    next.responses = current.responses.clone();
    keep(
        RESTART_ONLY[10],
        differ(&current.request_log, &next.request_log),
    );
    next.request_log = current.request_log.clone();
    keep(RESTART_ONLY[11], differ(&current.otel, &next.otel));
    next.otel = current.otel.clone();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_data_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let packs = dir.path().join("packs");
        std::fs::create_dir_all(packs.join("nested")).unwrap();
        let config_path = dir.path().join("gateway.toml");
        let text = "[guardrails]\ndir = \"packs\"\n";
        std::fs::write(&config_path, text).unwrap();
        let config = crate::config::load_str("gateway.toml", text, None, dir.path()).unwrap();
        let before = fingerprint(Some(&config_path), &config);
        assert_eq!(before, fingerprint(Some(&config_path), &config));
        std::fs::write(packs.join("nested/team.toml"), "id = \"x\"").unwrap();
        let after = fingerprint(Some(&config_path), &config);
        assert_ne!(before, after, "a file added under the guardrail packs");
        std::fs::write(packs.join("nested/team.toml"), "id = \"x\"\n# longer").unwrap();
        assert_ne!(after, fingerprint(Some(&config_path), &config));
    }

    #[test]
    fn a_changed_prompt_template_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
        let config_path = dir.path().join("gateway.toml");
        let text = "[server]\nprompts_dir = \"prompts\"\n";
        std::fs::write(&config_path, text).unwrap();
        let config = crate::config::load_str("gateway.toml", text, None, dir.path()).unwrap();
        let before = fingerprint(Some(&config_path), &config);
        std::fs::write(dir.path().join("prompts/p.toml"), "name = \"p\"").unwrap();
        assert_ne!(before, fingerprint(Some(&config_path), &config));
    }
}

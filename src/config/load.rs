//! Reading the configuration: file or embedded default, then decode, then validate.

use super::RawConfig;
use super::validate::{Config, validate};
use crate::shapes::{ConfigError, decode_toml};
use std::path::{Path, PathBuf};

/// The configuration the binary runs with when none is given: loopback only,
/// the built-in mock provider, a well-known development key that is accepted
/// only from loopback clients, and any real provider whose key env var is set.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Load from a file, or the embedded default when `path` is `None`.
/// `listen_override` (from `SWITCHBOARD_LISTEN`) replaces `server.listen`.
pub fn load(path: Option<&Path>, listen_override: Option<&str>) -> Result<Config, ConfigError> {
    match path {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|error| ConfigError::single(&name, "", format!("cannot read: {error}")))?;
            let base_dir = path.parent().unwrap_or(Path::new("."));
            load_str(&name, &text, listen_override, base_dir)
        }
        None => load_str(
            "<embedded default>",
            DEFAULT_CONFIG,
            listen_override,
            Path::new("."),
        ),
    }
}

/// Decode and validate configuration text. Relative paths resolve against `base_dir`.
pub fn load_str(
    source_name: &str,
    text: &str,
    listen_override: Option<&str>,
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut raw: RawConfig = decode_toml(source_name, text)?;
    if let Some(listen) = listen_override {
        raw.server.listen = listen.to_owned();
    }
    if let Some(dir) = raw.server.prompts_dir.as_mut()
        && dir.is_relative()
    {
        *dir = base_dir.join(&*dir);
    }
    if let Some(dir) = &raw.server.providers_dir
        && dir.is_relative()
    {
        raw.server.providers_dir = Some(base_dir.join(dir));
    }
    if let Some(dir) = &raw.guardrails.dir
        && dir.is_relative()
    {
        raw.guardrails.dir = Some(base_dir.join(dir));
    }
    for file in [&mut raw.server.tls_cert, &mut raw.server.tls_key] {
        if let Some(path) = file.as_mut()
            && path.is_relative()
        {
            *path = base_dir.join(&*path);
        }
    }
    // The ledger lives next to the config file unless its path says otherwise.
    let ledger = raw
        .quota
        .ledger
        .take()
        .unwrap_or_else(|| "switchboard-ledger.sqlite".into());
    raw.quota.ledger = Some(
        if ledger.is_relative() && ledger.as_os_str() != ":memory:" {
            base_dir.join(ledger)
        } else {
            ledger
        },
    );
    // Kept responses and the request log live with the ledger: beside its
    // file, or in memory when it is, unless their own path says otherwise.
    let ledger = raw.quota.ledger.clone();
    let beside_ledger = |path: Option<PathBuf>, name: &str| -> PathBuf {
        match path {
            Some(path) if path.is_relative() && path.as_os_str() != ":memory:" => {
                base_dir.join(path)
            }
            Some(path) => path,
            None => match ledger.as_deref() {
                Some(ledger) if ledger.as_os_str() == ":memory:" => ":memory:".into(),
                Some(ledger) => ledger.with_file_name(name),
                None => base_dir.join(name),
            },
        }
    };
    raw.responses.path = Some(beside_ledger(
        raw.responses.path.take(),
        "switchboard-responses.sqlite",
    ));
    raw.request_log.path = Some(beside_ledger(
        raw.request_log.path.take(),
        "switchboard-requests.sqlite",
    ));
    validate(raw, &|name| std::env::var(name).ok()).map_err(|problems| ConfigError {
        source_name: source_name.to_owned(),
        problems,
    })
}

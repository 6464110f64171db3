//! Pure validation: raw TOML shapes in, typed settings out, every problem
//! reported with its key path. No network, no files.

use super::routes::{AdminSettings, validate_admin, validate_breaker, validate_routes};
use super::{RawConfig, RawKey, RawTeam};
use crate::auth::{KeyEntry, Team, hash_key, parse_key_hash};
use crate::provider::{ProviderSettings, UpstreamSettings};
use crate::routing::{BreakerSettings, RouteSettings};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A validated configuration, ready to build the gateway from.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// Serving on (with `/readyz` draining) after a shutdown signal.
    pub drain_delay: Duration,
    /// TLS on the front door, when configured.
    pub tls: Option<crate::tls::TlsFiles>,
    pub providers_dir: Option<PathBuf>,
    pub prompts_dir: Option<PathBuf>,
    pub upstream: UpstreamSettings,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub teams: Vec<Team>,
    pub keys: Vec<KeyEntry>,
    pub aliases: BTreeMap<String, String>,
    pub providers: BTreeMap<String, ProviderSettings>,
    pub routes: BTreeMap<String, RouteSettings>,
    pub breaker: BreakerSettings,
    pub admin: Option<AdminSettings>,
    pub cache: crate::cache::config::CacheSettings,
    /// Checked against the rule packs when the gateway is built.
    pub guardrails: crate::guardrails::RawGuardrails,
    pub quota: crate::quota::settings::QuotaConfig,
    pub mcp: crate::mcp::McpSettings,
    pub responses: crate::stored_responses::ResponsesSettings,
    pub tool_loop: crate::config::tool_loop::ToolLoopSettings,
    pub request_log: crate::request_log::RequestLogSettings,
    pub otel: crate::traces::OtelSettings,
}

impl Config {
    /// The routing sections, as the router is built from them.
    pub fn routing(&self) -> crate::routing::RoutingConfig<'_> {
        crate::routing::RoutingConfig {
            aliases: &self.aliases,
            routes: &self.routes,
            breaker: self.breaker,
            connect_timeout: self.upstream.connect_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// `[quota]`, with each team's and key's limits as written beside them.
fn validate_quota(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> crate::quota::settings::QuotaConfig {
    use crate::quota::settings::{RawKeyLimits, RawTeamLimits};
    let teams: Vec<RawTeamLimits<'_>> = raw
        .teams
        .iter()
        .map(|team| RawTeamLimits {
            id: &team.id,
            limits: team.limits.as_ref(),
            user_limits: team.user_limits.as_ref(),
            hard_cutoff: team.hard_cutoff,
        })
        .collect();
    let keys: Vec<RawKeyLimits<'_>> = raw
        .keys
        .iter()
        .map(|key| RawKeyLimits {
            id: &key.id,
            limits: key.limits.as_ref(),
        })
        .collect();
    crate::quota::settings::validate(&raw.quota, &teams, &keys, env, problem)
}

type Problems = Vec<(String, String)>;

pub(super) fn validate(
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Problems> {
    let mut problems = Problems::new();
    let mut problem = |path: String, message: String| problems.push((path, message));

    let listen = raw
        .server
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| {
            problem(
                "server.listen".into(),
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    raw.server.listen
                ),
            )
        })
        .ok();
    if raw.server.max_body_bytes < 1024 {
        problem(
            "server.max_body_bytes".into(),
            "must be at least 1024".into(),
        );
    }
    let mut duration = |path: &str, text: &str| -> Duration {
        humantime::parse_duration(text).unwrap_or_else(|error| {
            problem(
                path.into(),
                format!("`{text}` is not a duration like \"5s\": {error}"),
            );
            Duration::ZERO
        })
    };
    let shutdown_grace = duration("server.shutdown_grace", &raw.server.shutdown_grace);
    let drain_delay = duration("server.drain_delay", &raw.server.drain_delay);
    let upstream = UpstreamSettings {
        connect_timeout: duration("upstream.connect_timeout", &raw.upstream.connect_timeout),
        first_byte_timeout: duration(
            "upstream.first_byte_timeout",
            &raw.upstream.first_byte_timeout,
        ),
        total_timeout: duration("upstream.total_timeout", &raw.upstream.total_timeout),
        pool_max_idle_per_host: raw.upstream.pool_max_idle_per_host,
    };

    let log_format = raw.log.format.as_deref().and_then(|text| {
        let parsed = LogFormat::parse(text);
        if parsed.is_none() {
            problem(
                "log.format".into(),
                format!("`{text}` is not \"text\" or \"json\""),
            );
        }
        parsed
    });

    let teams = validate_teams(&raw.teams, &mut problem);
    let keys = validate_keys(&raw.keys, &teams, env, &mut problem);
    let quota = validate_quota(&raw, env, &mut problem);
    let mcp = crate::mcp::config::validate(&raw.mcp, &teams, env, &mut problem);
    let responses = crate::stored_responses::validate(&raw.responses, &quota.store, &mut problem);
    let tool_loop = crate::config::tool_loop::validate(&raw.tool_loop, &mut problem);
    let request_log = crate::request_log::validate(&raw.request_log, &mut problem);
    for team in &request_log.capture {
        if !teams.iter().any(|t| *t.id == **team) {
            problem(
                "request_log.capture".into(),
                format!("no team `{team}` in [[teams]]"),
            );
        }
    }
    let otel = crate::traces::validate(&raw.otel, &mut problem);

    for (alias, target) in &raw.aliases {
        if target
            .split_once('/')
            .is_none_or(|(p, m)| p.is_empty() || m.is_empty())
        {
            problem(
                format!("aliases.{alias}"),
                format!("`{target}` must be `provider/model`"),
            );
        }
        if alias.contains('/') {
            problem(
                format!("aliases.{alias}"),
                "an alias must not contain `/` (that form is reserved for provider/model)".into(),
            );
        }
    }

    let routes = validate_routes(&raw.routes, &mut problem);
    for name in routes.keys() {
        if raw.aliases.contains_key(name) {
            problem(
                format!("routes.{name}"),
                "an alias of the same name exists; keep one".into(),
            );
        }
    }
    let breaker = validate_breaker(&raw.breaker, &mut problem);
    let tls = match (raw.server.tls_cert.clone(), raw.server.tls_key.clone()) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let files = crate::tls::TlsFiles { cert, key };
            match crate::tls::load(&files) {
                Ok(_) => Some(files),
                Err(error) => {
                    problem("server.tls_cert".into(), error);
                    None
                }
            }
        }
        (Some(_), None) => {
            problem("server.tls_key".into(), "set it with `tls_cert`".into());
            None
        }
        (None, Some(_)) => {
            problem("server.tls_cert".into(), "set it with `tls_key`".into());
            None
        }
    };
    let key_hashes: Vec<[u8; 32]> = keys.iter().map(|key| key.hash).collect();
    let admin = validate_admin(raw.admin.as_ref(), &key_hashes, env, &mut problem);
    let cache = crate::cache::config::validate(raw.cache, env, &mut problem);

    if problems.is_empty()
        && let Some(listen) = listen
        && let Some(cache) = cache
    {
        return Ok(Config {
            listen,
            max_body_bytes: raw.server.max_body_bytes,
            shutdown_grace,
            drain_delay,
            tls,
            providers_dir: raw.server.providers_dir,
            prompts_dir: raw.server.prompts_dir,
            upstream,
            log_format,
            log_level: raw.log.level,
            teams,
            keys,
            aliases: raw.aliases,
            providers: raw.providers,
            routes,
            breaker,
            cache,
            admin,
            guardrails: raw.guardrails,
            quota,
            mcp,
            responses,
            tool_loop,
            request_log,
            otel,
        });
    }
    Err(problems)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn validate_teams(raw: &[RawTeam], problem: &mut impl FnMut(String, String)) -> Vec<Team> {
    let mut seen = HashSet::new();
    let mut teams = Vec::with_capacity(raw.len());
    for (index, team) in raw.iter().enumerate() {
        if !valid_id(&team.id) {
            problem(
                format!("teams[{index}].id"),
                "must be 1-64 letters, digits, `-`, `_` or `.`".into(),
            );
        }
        if !seen.insert(team.id.as_str()) {
            problem(
                format!("teams[{index}].id"),
                format!("duplicate team `{}`", team.id),
            );
        }
        let mut builder = GlobSetBuilder::new();
        for (pattern_index, pattern) in team.models.iter().enumerate() {
            match Glob::new(pattern) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(error) => problem(
                    format!("teams[{index}].models[{pattern_index}]"),
                    error.to_string(),
                ),
            }
        }
        let models = builder.build().unwrap_or_else(|_| GlobSet::empty());
        teams.push(Team {
            id: Arc::from(team.id.as_str()),
            model_patterns: team.models.clone(),
            models,
        });
    }
    teams
}

fn validate_keys(
    raw: &[RawKey],
    teams: &[Team],
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(String, String),
) -> Vec<KeyEntry> {
    let mut seen_ids = HashSet::new();
    let mut seen_hashes = HashSet::new();
    let mut keys = Vec::with_capacity(raw.len());
    for (index, key) in raw.iter().enumerate() {
        let path = |field: &str| format!("keys[{index}].{field}");
        if !valid_id(&key.id) {
            problem(
                path("id"),
                "must be 1-64 letters, digits, `-`, `_` or `.`".into(),
            );
        }
        if !seen_ids.insert(key.id.as_str()) {
            problem(path("id"), format!("duplicate key id `{}`", key.id));
        }
        let team = teams.iter().position(|team| *team.id == *key.team);
        if team.is_none() {
            problem(path("team"), format!("no team `{}` is defined", key.team));
        }
        let hash = match (&key.hash, &key.value_env) {
            (Some(text), None) => parse_key_hash(text)
                .map_err(|message| problem(path("hash"), message))
                .ok(),
            (None, Some(var)) => match env(var) {
                Some(value) if !value.is_empty() => Some(hash_key(&value)),
                _ => {
                    problem(
                        path("value_env"),
                        format!("environment variable `{var}` is not set"),
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                problem(
                    path("hash"),
                    "set either `hash` or `value_env`, not both".into(),
                );
                None
            }
            (None, None) => {
                problem(path("hash"), "set `hash` or `value_env`".into());
                None
            }
        };
        if let Some(hash) = hash
            && !seen_hashes.insert(hash)
        {
            problem(path("hash"), "the same key is configured twice".into());
        }
        if let (Some(team), Some(hash)) = (team, hash) {
            keys.push(KeyEntry {
                id: Arc::from(key.id.as_str()),
                team,
                hash,
                loopback_only: key.loopback_only,
            });
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::decode_toml;

    fn check(text: &str, expected: &[&str]) {
        let raw: RawConfig = decode_toml("test.toml", text).expect("decodes");
        let env = |name: &str| (name == "SET_VAR").then(|| "sk-from-env".to_owned());
        match validate(raw, &env) {
            Ok(_) => assert!(expected.is_empty(), "expected problems {expected:?}"),
            Err(problems) => {
                let paths: Vec<&str> = problems.iter().map(|(path, _)| path.as_str()).collect();
                assert_eq!(paths, expected, "{problems:?}");
            }
        }
    }

    #[test]
    fn problems_name_their_key_paths() {
        check("", &[]);
        check("[server]\nlisten = \"nope\"", &["server.listen"]);
        check(
            "[upstream]\nconnect_timeout = \"soon\"",
            &["upstream.connect_timeout"],
        );
        check("[log]\nformat = \"xml\"", &["log.format"]);
        check(
            "[[teams]]\nid = \"a\"\n[[keys]]\nid = \"k\"\nteam = \"b\"\nhash = \"md5:1\"",
            &["keys[0].team", "keys[0].hash"],
        );
        check(
            "[[teams]]\nid = \"a\"\n[[keys]]\nid = \"k\"\nteam = \"a\"\nvalue_env = \"UNSET_VAR\"",
            &["keys[0].value_env"],
        );
        check(
            "[[teams]]\nid = \"a\"\n[[keys]]\nid = \"k\"\nteam = \"a\"\nvalue_env = \"SET_VAR\"",
            &[],
        );
        check(
            "[[teams]]\nid = \"a\"\n[[teams]]\nid = \"a\"",
            &["teams[1].id"],
        );
        check("[aliases]\nfast = \"gpt\"", &["aliases.fast"]);
    }

    #[test]
    fn unknown_keys_are_errors_with_paths() {
        let error =
            decode_toml::<RawConfig>("t.toml", "[server]\nlisten = \"127.0.0.1:1\"\nport = 1")
                .unwrap_err();
        assert_eq!(error.problems[0].0, "server.port");
        assert!(
            error.problems[0].1.contains("unknown field `port`"),
            "{error}"
        );
        let error =
            decode_toml::<RawConfig>("t.toml", "[server]\nmax_body_bytes = \"big\"").unwrap_err();
        assert_eq!(error.problems[0].0, "server.max_body_bytes");
    }

    #[test]
    fn key_hash_round_trip() {
        let hash = hash_key("sk-switchboard-local");
        let text = format!("sha256:{}", hex::encode(hash));
        assert_eq!(parse_key_hash(&text).unwrap(), hash);
        assert!(parse_key_hash("sha256:zz").is_err());
    }
}

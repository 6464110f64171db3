//! The operator's configuration: raw TOML shapes (this file), validation into
//! typed settings (`validate.rs`) and loading from disk or the embedded default
//! (`load.rs`).
//!
//! The doc comment on every field here is the configuration reference.

mod load;
mod routes;
pub mod tool_loop;
mod validate;

pub use load::{DEFAULT_CONFIG, load, load_str};
pub use routes::{AdminSettings, RawAdmin, RawBreaker, RawRoute};
pub use validate::{Config, LogFormat};

use crate::provider::RawProviderOverride;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `switchboard.toml` as written. Unknown keys anywhere are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The listener and request limits.
    #[serde(default)]
    pub server: RawServer,
    /// Timeouts and pooling for calls to model providers.
    #[serde(default)]
    pub upstream: RawUpstream,
    /// Log format and level.
    #[serde(default)]
    pub log: RawLog,
    /// Teams: the unit that owns keys, policies and (later) budgets.
    #[serde(default)]
    pub teams: Vec<RawTeam>,
    /// Gateway keys. Each belongs to one team.
    #[serde(default)]
    pub keys: Vec<RawKey>,
    /// Public model names mapped to `provider/model`, e.g. `fast = "openai/gpt-4o-mini"`.
    /// An alias is a route with one target and the default retries (as is a
    /// `provider/model` name used directly).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Per-provider overrides of the data in `providers/`, keyed by provider id.
    #[serde(default)]
    pub providers: BTreeMap<String, RawProviderOverride>,
    /// Public model names served by a group of targets, with a strategy,
    /// timeouts and retries. A route and an alias may not share a name.
    #[serde(default)]
    pub routes: BTreeMap<String, RawRoute>,
    /// The circuit breaker of every target (a `provider/model`).
    #[serde(default)]
    pub breaker: RawBreaker,
    /// The admin API under `/admin`; off unless configured.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    /// The response cache (exact and semantic).
    #[serde(default)]
    pub cache: crate::cache::config::RawCache,
    /// Guardrail rule packs and where they apply (see `guardrails::RawGuardrails`).
    #[serde(default)]
    pub guardrails: crate::guardrails::RawGuardrails,
    /// Where budgets and rate counters live (`crate::quota::settings::RawQuota`).
    #[serde(default)]
    pub quota: crate::quota::settings::RawQuota,
    /// The MCP gateway: tool servers, and each team's tool policy.
    #[serde(default)]
    pub mcp: crate::mcp::RawMcp,
    /// Where the Responses API keeps responses (`crate::stored_responses::RawResponses`).
    #[serde(default)]
    pub responses: crate::stored_responses::RawResponses,
    /// The bounds of the gateway's tool loops
    /// (`crate::config::tool_loop::RawToolLoop`).
    #[serde(default)]
    pub tool_loop: crate::config::tool_loop::RawToolLoop,
    /// The request log (`crate::request_log::RawRequestLog`).
    #[serde(default)]
    pub request_log: crate::request_log::RawRequestLog,
    /// OpenTelemetry traces over OTLP (`crate::traces::RawOtel`).
    #[serde(default)]
    pub otel: crate::traces::RawOtel,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on, e.g. `127.0.0.1:8080`. `SWITCHBOARD_LISTEN` overrides it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest request body accepted, in bytes; larger bodies get a 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Extra provider data files; a file here replaces the built-in one with the same id.
    #[serde(default)]
    pub providers_dir: Option<PathBuf>,
    /// Extra prompt templates; a file here adds to the built-in ones in
    /// `prompts/` (or replaces one of the same name and version). Read again
    /// by a config reload; a template that does not load refuses the reload.
    #[serde(default)]
    pub prompts_dir: Option<PathBuf>,
    /// How long in-flight requests may take to finish after a shutdown signal, e.g. `"10s"`.
    #[serde(default = "default_grace")]
    pub shutdown_grace: String,
    /// How long the gateway keeps serving after a shutdown signal, with
    /// `/readyz` answering 503 (draining), before it stops taking new
    /// connections and `shutdown_grace` starts, e.g. `"15s"`: a little more
    /// than the load balancer's readiness-check interval, so that it stops
    /// sending traffic first. Default `"0s"`.
    #[serde(default = "default_drain_delay")]
    pub drain_delay: String,
    /// TLS on the front door: the certificate chain, PEM (set with
    /// `tls_key`). Both files are read again when either changes, so a
    /// rotated certificate is served without a restart. Default: plain HTTP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert`, PEM (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            providers_dir: None,
            prompts_dir: None,
            shutdown_grace: default_grace(),
            drain_delay: default_drain_delay(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Time allowed to open a connection to a provider, e.g. `"5s"`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Time allowed until the provider's response headers arrive, e.g. `"60s"`.
    #[serde(default = "default_first_byte_timeout")]
    pub first_byte_timeout: String,
    /// Time allowed for a whole non-streaming response, e.g. `"600s"`.
    #[serde(default = "default_total_timeout")]
    pub total_timeout: String,
    /// Idle connections kept per provider host.
    #[serde(default = "default_pool_idle")]
    pub pool_max_idle_per_host: usize,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            connect_timeout: default_connect_timeout(),
            first_byte_timeout: default_first_byte_timeout(),
            total_timeout: default_total_timeout(),
            pool_max_idle_per_host: default_pool_idle(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `"text"` (default) or `"json"`. `SWITCHBOARD_LOG_FORMAT` overrides it.
    #[serde(default)]
    pub format: Option<String>,
    /// A tracing filter such as `"info"` or `"switchboard=debug"`. `RUST_LOG` overrides it.
    #[serde(default)]
    pub level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    /// Team id: letters, digits, `-` and `_`.
    pub id: String,
    /// Models the team may use, as globs over `provider/model` ids and alias names.
    /// Default: every model.
    #[serde(default = "default_models")]
    pub models: Vec<String>,
    /// Budgets and rate limits of the whole team (`crate::quota::limits::RawLimits`).
    #[serde(default)]
    pub limits: Option<crate::quota::limits::RawLimits>,
    /// Limits applied to each end user of the team on their own, by the
    /// request's `user` field.
    #[serde(default)]
    pub user_limits: Option<crate::quota::limits::RawLimits>,
    /// End a stream with an error event when it would spend more than was
    /// reserved for it, instead of charging the overrun.
    #[serde(default)]
    pub hard_cutoff: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Key id, used in logs and metrics (never the key itself).
    pub id: String,
    /// The team this key belongs to.
    pub team: String,
    /// The key's SHA-256, as `sha256:<64 hex digits>`; `switchboard hash-key` prints it.
    #[serde(default)]
    pub hash: Option<String>,
    /// Or: the environment variable that holds the key's plaintext (hashed at load).
    #[serde(default)]
    pub value_env: Option<String>,
    /// Accept this key only from loopback clients connecting directly (for
    /// well-known development keys): refused from other addresses, and on
    /// requests a proxy forwarded (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`,
    /// `Via`, ...), since a reverse proxy on this machine connects from loopback.
    #[serde(default)]
    pub loopback_only: bool,
    /// Budgets and rate limits of this key alone, on top of its team's.
    #[serde(default)]
    pub limits: Option<crate::quota::limits::RawLimits>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_grace() -> String {
    "10s".to_owned()
}
fn default_drain_delay() -> String {
    "0s".to_owned()
}
fn default_connect_timeout() -> String {
    "5s".to_owned()
}
fn default_first_byte_timeout() -> String {
    "60s".to_owned()
}
fn default_total_timeout() -> String {
    "600s".to_owned()
}
fn default_pool_idle() -> usize {
    256
}
fn default_models() -> Vec<String> {
    vec!["*".to_owned()]
}

//! The `[mcp]` section of `switchboard.toml`: raw shapes (the doc comment on
//! every field is the reference) and their validation into typed settings.

use super::policy::{Condition, RateRule, TeamPolicy};
pub use super::rest_config::{RawApiAuth, RestApi};
use crate::auth::Team;
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// `[mcp]`: the MCP gateway at `/mcp` (all servers a team may use) and
/// `/mcp/{server}` (one server).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcp {
    /// `Host` header values the MCP endpoint accepts (names or `host:port`), a
    /// defence against DNS rebinding. Default: loopback names only. Add the
    /// gateway's public host names when it serves beyond loopback.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint, e.g.
    /// `"https://app.example.com:443"` (`:*` for any port). Requests carrying
    /// any other `Origin` are refused; requests without `Origin` (non-browser
    /// clients) pass. Default: loopback origins only (`localhost`,
    /// `127.0.0.1`, `[::1]`, any port), as the MCP specification asks of a
    /// local server: a DNS-rebinding page carries its own foreign origin, and
    /// every call still needs a key. Set the list to replace the default.
    #[serde(default = "default_allowed_origins")]
    pub allowed_origins: Vec<String>,
    /// Serve clients of the session-based protocol revisions (up to
    /// 2025-11-25) with `Mcp-Session-Id` sessions. Clients of 2026-07-28 and
    /// later are always served statelessly.
    #[serde(default = "yes")]
    pub legacy_sessions: bool,
    /// Redis URL where legacy sessions are kept, so that any replica can
    /// continue a session another one opened, e.g. `"redis://127.0.0.1:6379"`.
    /// Default: sessions live in this process only.
    #[serde(default)]
    pub session_store: Option<String>,
    /// How long an idle legacy session is kept in the session store, e.g. `"24h"`.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: String,
    /// Interval of keep-alive pings on open SSE streams, e.g. `"15s"`.
    #[serde(default = "default_keep_alive")]
    pub sse_keep_alive: String,
    /// Largest JSON-RPC request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// What to do when a tool's name, description or schema changes after it
    /// was first seen: `"block"` (hide it and refuse calls until an operator
    /// approves the new definition) or `"flag"` (log and count, keep serving).
    #[serde(default = "default_on_change")]
    pub on_tool_change: String,
    /// What the audit log records of a call's arguments: `"keys"` (argument
    /// names and size only) or `"redacted"` (the arguments as the guardrail
    /// stage passed them on, redactions applied).
    #[serde(default = "default_audit_arguments")]
    pub audit_arguments: String,
    /// Longest wait between restarts of a failed upstream server (the wait
    /// doubles from 200ms up to this), e.g. `"30s"`.
    #[serde(default = "default_backoff_max")]
    pub restart_backoff_max: String,
    /// Programs the admin API (`POST /admin/mcp/servers`) may start over
    /// stdio, each as the exact `command` string, e.g.
    /// `["/usr/local/bin/mcp-server-time"]`. Default: none, so the admin API
    /// registers HTTP servers only. Servers in this file are not limited.
    #[serde(default)]
    pub admin_commands: Vec<String>,
    /// Tool servers behind the gateway.
    #[serde(default)]
    pub servers: Vec<RawServer>,
    /// Per-team tool policy. A team without an entry here may use no tool.
    #[serde(default)]
    pub teams: Vec<RawTeamPolicy>,
    /// OAuth 2.1 resource-server mode: accept access tokens (JWTs) from an
    /// authorization server on `/mcp`. Default: gateway keys only.
    #[serde(default)]
    pub oauth: Option<super::oauth::RawOAuth>,
}

impl Default for RawMcp {
    fn default() -> Self {
        Self {
            allowed_hosts: default_allowed_hosts(),
            allowed_origins: default_allowed_origins(),
            legacy_sessions: true,
            session_store: None,
            session_ttl: default_session_ttl(),
            sse_keep_alive: default_keep_alive(),
            max_body_bytes: default_max_body(),
            on_tool_change: default_on_change(),
            audit_arguments: default_audit_arguments(),
            restart_backoff_max: default_backoff_max(),
            admin_commands: Vec::new(),
            servers: Vec::new(),
            teams: Vec::new(),
            oauth: None,
        }
    }
}

/// `[[mcp.servers]]`: one upstream tool server, reached over stdio
/// (`command`) or streamable HTTP (`url`). The admin API takes the same
/// shape as JSON (`POST /admin/mcp/servers`).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Server name: letters, digits, `-` and `_`; prefixes its tools' names
    /// (`<name>__<tool>`) and names its endpoint `/mcp/<name>`.
    pub name: String,
    /// stdio: the program to run; the gateway starts it and restarts it when it exits.
    #[serde(default)]
    pub command: Option<String>,
    /// stdio: the program's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// stdio: environment variables set for the program. The program does not
    /// inherit the gateway's environment (which holds provider keys), only
    /// `PATH`, `HOME`, `LANG` and the names in `inherit_env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// stdio: names of gateway environment variables passed on to the program.
    #[serde(default)]
    pub inherit_env: Vec<String>,
    /// HTTP: the server's streamable HTTP endpoint, e.g. `"http://127.0.0.1:3001/mcp"`.
    #[serde(default)]
    pub url: Option<String>,
    /// HTTP: headers sent with every request to the server.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP: headers whose values are read from the gateway's environment at
    /// startup (header name → variable name), for credentials.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// Time allowed to start (or connect to) the server and complete the
    /// MCP handshake, e.g. `"20s"`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Time allowed for one request to the server (a tool call, a listing), e.g. `"60s"`.
    #[serde(default = "default_call_timeout")]
    pub call_timeout: String,
    /// Whether the server may ask clients, during a call, for a model
    /// completion, for the user's input or for roots (the gateway then
    /// offers those capabilities to it and passes the requests on). Default:
    /// yes; each team's `sampling` and `elicitation` still apply.
    #[serde(default = "yes")]
    pub client_requests: bool,
    /// A model or route that answers the server's sampling requests
    /// (`sampling/createMessage`) in the gateway, for the team whose call
    /// caused them and under its budget and guardrails, instead of the
    /// client's model. Default: none (the client is asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_model: Option<String>,
    /// REST: the API's OpenAPI 3.0/3.1 description (JSON or YAML), a file path or
    /// an http(s) URL; each operation becomes a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    /// REST: where the API is served, e.g. `"https://api.example.com/v1"`.
    /// Default: the description's first `servers` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// REST: the credential the gateway sends with every call (the client's
    /// own token is never passed on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawApiAuth>,
    /// REST: only operations with one of these tags (default: every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_tags: Vec<String>,
    /// REST: operations with one of these tags are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tags: Vec<String>,
    /// REST: only operations whose path matches one of these globs, e.g. `"/pets/*"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_paths: Vec<String>,
    /// REST: only these operations, by `operationId` or tool name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_operations: Vec<String>,
    /// REST: operations left out, by `operationId` or tool name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_operations: Vec<String>,
    /// REST: longest answer body passed on to the client; longer ones are
    /// cut, with a note saying so.
    #[serde(default = "super::rest_config::default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Price of one call in USD, by the tool's name on this server; `"*"`
    /// prices every tool not named, e.g. `{ get_current_time = 0.001, "*" =
    /// 0.0005 }`. Charged to the calling team's budgets like model spend
    /// (held before the call, settled after; a budget that cannot take it
    /// refuses the call), whether a client calls on `/mcp` or the gateway's
    /// tool loop does. Default: calls are free.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_prices: BTreeMap<String, f64>,
}

/// `[[mcp.teams]]`: what one team may do with tools. Tool patterns are globs
/// over `<server>/<tool>` with the upstream's own tool name, e.g. `"time/*"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeamPolicy {
    /// The team (from `[[teams]]`) this policy belongs to.
    pub team: String,
    /// Tools the team may list and call. Default: every tool.
    #[serde(default = "default_allow")]
    pub allow: Vec<String>,
    /// Tools the team may not use, even when `allow` matches.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Conditions on arguments: a call to a matching tool must carry
    /// arguments that satisfy the JSON Schema.
    #[serde(default)]
    pub conditions: Vec<RawCondition>,
    /// Rate limits on calls, counted per team and per tool: in this process
    /// with the embedded quota store, shared by every replica (in Redis) when
    /// `[quota] store = "redis"`.
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
    /// Whether servers may ask this team's clients for a model completion
    /// (`sampling/createMessage`) during a call. Default: yes (a client
    /// takes it only if it declared the capability).
    #[serde(default = "yes")]
    pub sampling: bool,
    /// Whether servers may ask this team's users for input
    /// (`elicitation/create`) during a call. Default: yes.
    #[serde(default = "yes")]
    pub elicitation: bool,
}

/// `[[mcp.teams.conditions]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// The tools this condition applies to (a glob over `<server>/<tool>`).
    pub tools: String,
    /// A JSON Schema (draft 2020-12 unless `$schema` says otherwise) the
    /// call's arguments object must satisfy.
    pub schema: serde_json::Value,
}

/// `[[mcp.teams.rate_limits]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// The tools this limit applies to (a glob over `<server>/<tool>`); each
    /// matching tool has its own allowance.
    pub tools: String,
    /// Calls allowed per `per` period (also the burst size).
    pub calls: u32,
    /// The period, e.g. `"1m"`.
    pub per: String,
}

fn yes() -> bool {
    true
}
fn default_allowed_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1", "[::1]"]
        .map(str::to_owned)
        .to_vec()
}
fn default_allowed_origins() -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .flat_map(|host| ["http", "https"].map(|scheme| format!("{scheme}://{host}:*")))
        .collect()
}
fn default_session_ttl() -> String {
    "24h".to_owned()
}
fn default_keep_alive() -> String {
    "15s".to_owned()
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_on_change() -> String {
    "block".to_owned()
}
fn default_audit_arguments() -> String {
    "keys".to_owned()
}
fn default_backoff_max() -> String {
    "30s".to_owned()
}
fn default_connect_timeout() -> String {
    "20s".to_owned()
}
fn default_call_timeout() -> String {
    "60s".to_owned()
}
fn default_allow() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Validated `[mcp]` settings.
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub legacy_sessions: bool,
    pub session_store: Option<String>,
    pub session_ttl: Duration,
    pub sse_keep_alive: Duration,
    pub max_body_bytes: usize,
    pub block_changed_tools: bool,
    pub audit_redacted_arguments: bool,
    pub restart_backoff_max: Duration,
    /// What the admin API may start over stdio (`mcp.admin_commands`).
    pub admin_commands: Vec<String>,
    pub servers: Vec<ServerSettings>,
    /// By team id; a team without one may use no tool. Looked up by id, not
    /// by position: the live key store orders teams its own way.
    pub policies: std::collections::HashMap<Arc<str>, Arc<TeamPolicy>>,
    pub oauth: Option<super::oauth::OAuthSettings>,
}

impl Default for McpSettings {
    fn default() -> Self {
        let mut problems = Vec::new();
        validate(&RawMcp::default(), &[], &|_| None, &mut |p, m| {
            problems.push((p, m));
        })
    }
}

impl McpSettings {
    /// The tool policy of a team, if it has one.
    pub fn policy(&self, team: &str) -> Option<&Arc<TeamPolicy>> {
        self.policies.get(team)
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub name: Arc<str>,
    pub transport: Transport,
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    /// Whether the server may send requests to clients during calls.
    pub client_requests: bool,
    /// The model or route that answers its sampling requests, if the
    /// gateway answers them.
    pub sampling_model: Option<Arc<str>>,
    /// Prices per call, charged to the caller's budgets.
    pub tool_prices: super::pricing::ToolPrices,
}

#[derive(Debug, Clone)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        /// Header name → value; values may be credentials and are never logged.
        headers: Vec<(String, crate::shapes::Secret)>,
    },
    /// A REST API served as tools by the gateway itself.
    OpenApi(Arc<RestApi>),
}

impl Transport {
    /// The transport's kind and target, for listings.
    pub fn describe(&self) -> (&'static str, &str) {
        match self {
            Self::Stdio { command, .. } => ("stdio", command),
            Self::Http { url, .. } => ("http", url),
            Self::OpenApi(api) => ("openapi", &api.source),
        }
    }
}

/// The reserved server name under which the gateway serves its own prompt
/// templates at `/mcp` (`switchboard__<prompt>`; policy globs see
/// `switchboard/<prompt>`).
pub const TEMPLATES_SERVER: &str = "switchboard";

/// A server name is also a path segment and a tool-name prefix.
pub fn valid_server_name(name: &str) -> bool {
    name != TEMPLATES_SERVER
        && !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.contains("__")
}

fn duration(path: &str, text: &str, problem: &mut dyn FnMut(String, String)) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|error| {
        problem(
            path.into(),
            format!("`{text}` is not a duration like \"5s\": {error}"),
        );
        Duration::from_secs(1)
    })
}

pub(crate) fn validate(
    raw: &RawMcp,
    teams: &[Team],
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> McpSettings {
    let block_changed_tools = match raw.on_tool_change.as_str() {
        "block" => true,
        "flag" => false,
        other => {
            problem(
                "mcp.on_tool_change".into(),
                format!("`{other}` is not \"block\" or \"flag\""),
            );
            true
        }
    };
    let audit_redacted_arguments = match raw.audit_arguments.as_str() {
        "keys" => false,
        "redacted" => true,
        other => {
            problem(
                "mcp.audit_arguments".into(),
                format!("`{other}` is not \"keys\" or \"redacted\""),
            );
            false
        }
    };
    if raw.allowed_hosts.is_empty() {
        // rmcp reads an empty list as "any host"; that must be a deliberate choice.
        problem(
            "mcp.allowed_hosts".into(),
            "must name at least one host (the gateway's own names)".into(),
        );
    }
    if raw.max_body_bytes < 1024 {
        problem("mcp.max_body_bytes".into(), "must be at least 1024".into());
    }
    for (index, origin) in raw.allowed_origins.iter().enumerate() {
        if origin != "null" && !origin.contains("://") {
            problem(
                format!("mcp.allowed_origins[{index}]"),
                "must include a scheme, e.g. \"https://app.example.com:443\"".into(),
            );
        }
    }
    let sse_keep_alive = duration("mcp.sse_keep_alive", &raw.sse_keep_alive, problem);
    let session_ttl = duration("mcp.session_ttl", &raw.session_ttl, problem);
    if let Some(url) = &raw.session_store
        && let Err(error) = redis::Client::open(url.as_str())
    {
        problem(
            "mcp.session_store".into(),
            format!("not a Redis URL: {error}"),
        );
    }
    let restart_backoff_max =
        duration("mcp.restart_backoff_max", &raw.restart_backoff_max, problem);

    let mut servers = Vec::with_capacity(raw.servers.len());
    for (index, server) in raw.servers.iter().enumerate() {
        let prefix = format!("mcp.servers[{index}].");
        if raw.servers[..index].iter().any(|s| s.name == server.name) {
            problem(
                format!("{prefix}name"),
                format!("duplicate server `{}`", server.name),
            );
        }
        if let Some(settings) = validate_server(server, &prefix, env, problem) {
            servers.push(settings);
        }
    }

    let mut policies: Vec<Option<Arc<TeamPolicy>>> = vec![None; teams.len()];
    for (index, raw_policy) in raw.teams.iter().enumerate() {
        let path = |field: &str| format!("mcp.teams[{index}].{field}");
        let Some(team) = teams.iter().position(|t| *t.id == *raw_policy.team) else {
            problem(
                path("team"),
                format!("no team `{}` is defined", raw_policy.team),
            );
            continue;
        };
        if policies[team].is_some() {
            problem(
                path("team"),
                format!("team `{}` has two MCP policies", raw_policy.team),
            );
        }
        let allow = glob_set(&raw_policy.allow, &path("allow"), problem);
        let deny = glob_set(&raw_policy.deny, &path("deny"), problem);
        let mut conditions = Vec::new();
        for (c, condition) in raw_policy.conditions.iter().enumerate() {
            let cpath = format!("mcp.teams[{index}].conditions[{c}]");
            let tools = matcher(&condition.tools, &format!("{cpath}.tools"), problem);
            match jsonschema::validator_for(&condition.schema) {
                Ok(validator) => {
                    if let Some(tools) = tools {
                        conditions.push(Condition {
                            tools,
                            pattern: condition.tools.clone(),
                            validator: Arc::new(validator),
                        });
                    }
                }
                Err(error) => problem(
                    format!("{cpath}.schema"),
                    format!("not a valid JSON Schema: {error}"),
                ),
            }
        }
        let mut rate_limits = Vec::new();
        for (r, limit) in raw_policy.rate_limits.iter().enumerate() {
            let rpath = format!("mcp.teams[{index}].rate_limits[{r}]");
            let tools = matcher(&limit.tools, &format!("{rpath}.tools"), problem);
            let per = duration(&format!("{rpath}.per"), &limit.per, problem);
            let Some(calls) = NonZeroU32::new(limit.calls) else {
                problem(format!("{rpath}.calls"), "must be at least 1".into());
                continue;
            };
            if per.is_zero() {
                problem(format!("{rpath}.per"), "must be longer than zero".into());
                continue;
            }
            if let Some(tools) = tools {
                rate_limits.push(RateRule::new(tools, limit.tools.clone(), calls, per));
            }
        }
        policies[team] = Some(Arc::new(TeamPolicy {
            allow,
            deny,
            conditions,
            rate_limits,
            sampling: raw_policy.sampling,
            elicitation: raw_policy.elicitation,
        }));
    }

    let policies = teams
        .iter()
        .zip(policies)
        .filter_map(|(team, policy)| Some((team.id.clone(), policy?)))
        .collect();
    let oauth = raw
        .oauth
        .as_ref()
        .and_then(|oauth| super::oauth::validate(oauth, problem));

    McpSettings {
        allowed_hosts: raw.allowed_hosts.clone(),
        allowed_origins: raw.allowed_origins.clone(),
        legacy_sessions: raw.legacy_sessions,
        session_store: raw.session_store.clone(),
        session_ttl,
        sse_keep_alive,
        max_body_bytes: raw.max_body_bytes,
        block_changed_tools,
        audit_redacted_arguments,
        restart_backoff_max,
        admin_commands: raw.admin_commands.clone(),
        servers,
        policies,
        oauth,
    }
}

/// Check one `[[mcp.servers]]` entry (from the config or the admin API);
/// each problem's path is the field's name after `prefix`.
pub(crate) fn validate_server(
    server: &RawServer,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> Option<ServerSettings> {
    let path = |field: &str| format!("{prefix}{field}");
    if !valid_server_name(&server.name) {
        problem(
            path("name"),
            "must be 1-32 letters, digits, `-` or `_`, without `__`".into(),
        );
    }
    let transport = match (&server.command, &server.url) {
        (None, None) if server.openapi.is_some() => {
            super::rest_config::rest_api(server, &path, env, problem)
        }
        (Some(command), None) => {
            let mut vars = BTreeMap::new();
            for name in ["PATH", "HOME", "LANG"]
                .iter()
                .copied()
                .chain(server.inherit_env.iter().map(String::as_str))
            {
                if let Some(value) = env(name) {
                    vars.insert(name.to_owned(), value);
                }
            }
            vars.extend(server.env.clone());
            Some(Transport::Stdio {
                command: command.clone(),
                args: server.args.clone(),
                env: vars,
            })
        }
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problem(path("url"), format!("`{url}` is not an http(s) URL"));
            }
            let mut headers = Vec::new();
            for (name, value) in &server.headers {
                headers.push((name.clone(), crate::shapes::Secret::new(value.clone())));
            }
            for (name, var) in &server.headers_env {
                match env(var) {
                    Some(value) => {
                        headers.push((name.clone(), crate::shapes::Secret::new(value)));
                    }
                    None => problem(
                        path(&format!("headers_env.{name}")),
                        format!("environment variable `{var}` is not set"),
                    ),
                }
            }
            for (name, value) in &headers {
                if http::HeaderName::try_from(name.as_str()).is_err()
                    || http::HeaderValue::try_from(value.expose()).is_err()
                {
                    problem(path("headers"), format!("`{name}` is not a valid header"));
                }
            }
            Some(Transport::Http {
                url: url.clone(),
                headers,
            })
        }
        _ => {
            problem(
                path("command"),
                "set one of `command`, `url` or `openapi`".into(),
            );
            None
        }
    };
    if server.openapi.is_some() && (server.command.is_some() || server.url.is_some()) {
        problem(
            path("openapi"),
            "set one of `command`, `url` or `openapi`".into(),
        );
    }
    let connect_timeout = duration(&path("connect_timeout"), &server.connect_timeout, problem);
    let call_timeout = duration(&path("call_timeout"), &server.call_timeout, problem);
    let tool_prices = super::pricing::ToolPrices::validate(&server.tool_prices, prefix, problem);
    let sampling_model = match server.sampling_model.as_deref().map(str::trim) {
        Some("") => {
            problem(
                path("sampling_model"),
                "name a model or route, or leave it out".into(),
            );
            None
        }
        other => other.map(Arc::from),
    };
    Some(ServerSettings {
        name: Arc::from(server.name.as_str()),
        transport: transport?,
        connect_timeout,
        call_timeout,
        client_requests: server.client_requests,
        sampling_model,
        tool_prices,
    })
}

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(false).build()
}

pub(super) fn glob_set(
    patterns: &[String],
    path: &str,
    problem: &mut dyn FnMut(String, String),
) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for (index, pattern) in patterns.iter().enumerate() {
        match glob(pattern) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(error) => problem(format!("{path}[{index}]"), error.to_string()),
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

fn matcher(
    pattern: &str,
    path: &str,
    problem: &mut dyn FnMut(String, String),
) -> Option<GlobMatcher> {
    glob(pattern)
        .map(|glob| glob.compile_matcher())
        .map_err(|error| problem(path.to_owned(), error.to_string()))
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;
    use crate::shapes::decode_toml as load_decode;

    fn check(text: &str, expected: &[&str]) {
        let raw: RawConfig = load_decode("test.toml", text).expect("decodes");
        let env = |name: &str| (name == "SET_VAR").then(|| "value".to_owned());
        let teams: Vec<crate::auth::Team> = raw
            .teams
            .iter()
            .map(|team| crate::auth::Team {
                id: team.id.as_str().into(),
                model_patterns: Vec::new(),
                models: globset::GlobSet::empty(),
            })
            .collect();
        let mut paths = Vec::new();
        super::validate(&raw.mcp, &teams, &env, &mut |path, _| paths.push(path));
        assert_eq!(paths, expected, "{text}");
    }

    const TEAM: &str = "[[teams]]\nid = \"a\"\n";

    #[test]
    fn problems_name_their_key_paths() {
        check("", &[]);
        check(
            "[mcp]\non_tool_change = \"ignore\"",
            &["mcp.on_tool_change"],
        );
        check("[mcp]\naudit_arguments = \"all\"", &["mcp.audit_arguments"]);
        check(
            "[mcp]\nallowed_origins = [\"example.com\"]",
            &["mcp.allowed_origins[0]"],
        );
        check("[mcp]\nallowed_hosts = []", &["mcp.allowed_hosts"]);
        check(
            "[[mcp.servers]]\nname = \"a__b\"\ncommand = \"x\"",
            &["mcp.servers[0].name"],
        );
        check("[[mcp.servers]]\nname = \"a\"", &["mcp.servers[0].command"]);
        // Reserved for the gateway's own prompt templates.
        check(
            "[[mcp.servers]]\nname = \"switchboard\"\ncommand = \"x\"",
            &["mcp.servers[0].name"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\nurl = \"http://h\"",
            &["mcp.servers[0].command"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\n[[mcp.servers]]\nname = \"a\"\ncommand = \"y\"",
            &["mcp.servers[1].name"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\nurl = \"ftp://h\"",
            &["mcp.servers[0].url"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\nurl = \"http://h\"\nheaders_env = { Authorization = \"UNSET\" }",
            &["mcp.servers[0].headers_env.Authorization"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\nurl = \"http://h\"\nheaders_env = { Authorization = \"SET_VAR\" }\ncall_timeout = \"soon\"",
            &["mcp.servers[0].call_timeout"],
        );
        check(
            "[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\ntool_prices = { get = -0.1, \"*\" = 0.001 }",
            &["mcp.servers[0].tool_prices.get"],
        );
        check("[[mcp.teams]]\nteam = \"nobody\"", &["mcp.teams[0].team"]);
        check(
            &format!("{TEAM}[[mcp.teams]]\nteam = \"a\"\nallow = [\"[\"]"),
            &["mcp.teams[0].allow[0]"],
        );
        check(
            &format!(
                "{TEAM}[[mcp.teams]]\nteam = \"a\"\n[[mcp.teams.conditions]]\ntools = \"*\"\nschema = {{ type = 7 }}"
            ),
            &["mcp.teams[0].conditions[0].schema"],
        );
        check(
            &format!(
                "{TEAM}[[mcp.teams]]\nteam = \"a\"\n[[mcp.teams.rate_limits]]\ntools = \"*\"\ncalls = 0\nper = \"1m\""
            ),
            &["mcp.teams[0].rate_limits[0].calls"],
        );
        check(
            &format!("{TEAM}[[mcp.teams]]\nteam = \"a\"\n[[mcp.teams]]\nteam = \"a\""),
            &["mcp.teams[1].team"],
        );
    }
}

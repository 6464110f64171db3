//! `[routes.*]`, `[breaker]` and `[admin]`: raw shapes with their docs, and
//! their pure validation into typed settings. Cross-references (does the
//! target exist, do the kinds match) are checked when the router is built.

use crate::auth::{hash_key, parse_key_hash};
use crate::routing::{
    BreakerSettings, RetrySettings, RouteSettings, RouteTargetSettings, Strategy,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One public model name served by a group of targets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// How a target is picked: `"priority"` (default: lowest `priority` first,
    /// the others as fallbacks), `"weighted"` (random by `weight`),
    /// `"least-latency"` (the faster of two random targets by time to first
    /// token) or `"lowest-cost"` (cheapest by the price table; unknown prices last).
    #[serde(default)]
    pub strategy: Option<String>,
    /// The targets, at least one.
    pub targets: Vec<RawRouteTarget>,
    /// Time limits for each attempt and for the whole request.
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// Retries of one target before falling back to the next.
    #[serde(default)]
    pub retries: RawRetries,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTarget {
    /// `provider/model`, as in the provider data (or an unlisted model of a
    /// pass-through provider).
    pub model: String,
    /// Relative share of traffic under `"weighted"`, and the tie-break among
    /// equal priorities. Default 1; 0 makes the target a fallback only.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Lower is tried first under `"priority"`; also breaks ties under
    /// `"lowest-cost"`. Default 0.
    #[serde(default)]
    pub priority: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// Time allowed to open a connection to the target's provider on each
    /// attempt (a failed connect is retried, then falls back). Default:
    /// `upstream.connect_timeout`.
    #[serde(default)]
    pub connect: Option<String>,
    /// Per attempt: time until the first token. For streams, until the
    /// provider's first chunk; for complete responses, until the whole body.
    /// Default: `upstream.first_byte_timeout` for streams, `upstream.total_timeout`
    /// otherwise. `upstream.first_byte_timeout` still bounds the wait for the
    /// provider's response headers, so a longer value here does not extend that.
    #[serde(default)]
    pub first_token: Option<String>,
    /// The whole request, every attempt and backoff included, and for streams
    /// until the last chunk. Default: `upstream.total_timeout`.
    #[serde(default)]
    pub total: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    /// Tries per target, the first included, before falling back to the next
    /// target. Default 2; 1 means no retry.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// First backoff before a retry, doubled on each further retry, with
    /// jitter. Default `"200ms"`.
    #[serde(default)]
    pub backoff: Option<String>,
    /// Largest backoff. Default `"5s"`.
    #[serde(default)]
    pub max_backoff: Option<String>,
    /// Largest `Retry-After` the gateway waits for; a provider asking for more
    /// is skipped in favour of the next target. Default `"10s"`.
    #[serde(default)]
    pub max_retry_after: Option<String>,
}

/// The circuit breaker every target has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Consecutive failures that open the breaker. Default 5.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// Share of failed attempts within `window` that opens it, from 0 to 1. Default 0.5.
    #[serde(default)]
    pub error_ratio: Option<f64>,
    /// Attempts needed within `window` before `error_ratio` applies. Default 20.
    #[serde(default)]
    pub min_requests: Option<u32>,
    /// The window the error ratio is measured over. Default `"30s"`.
    #[serde(default)]
    pub window: Option<String>,
    /// How long an open breaker skips its target before letting one probe through. Default `"30s"`.
    #[serde(default)]
    pub cool_down: Option<String>,
}

/// The credential of the `/admin` API. Team keys never open it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The environment variable that holds the admin key (hashed at load).
    #[serde(default)]
    pub key_env: Option<String>,
    /// Or: the admin key's SHA-256 as `sha256:<64 hex digits>`.
    #[serde(default)]
    pub hash: Option<String>,
}

fn default_weight() -> u32 {
    1
}

/// The admin credential, as a SHA-256 hash only.
#[derive(Clone)]
pub struct AdminSettings {
    pub key_hash: [u8; 32],
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSettings { key_hash: *** }")
    }
}

type Problem<'a> = &'a mut dyn FnMut(String, String);

fn duration(path: String, text: Option<&str>, problem: Problem<'_>) -> Option<Duration> {
    let text = text?;
    match humantime::parse_duration(text) {
        Ok(value) if !value.is_zero() => Some(value),
        Ok(_) => {
            problem(path, "must be longer than zero".into());
            None
        }
        Err(error) => {
            problem(
                path,
                format!("`{text}` is not a duration like \"5s\": {error}"),
            );
            None
        }
    }
}

pub(super) fn validate_routes(
    raw: &BTreeMap<String, RawRoute>,
    problem: Problem<'_>,
) -> BTreeMap<String, RouteSettings> {
    let mut out = BTreeMap::new();
    for (name, route) in raw {
        let path = |field: &str| format!("routes.{name}.{field}");
        if name.contains('/') {
            problem(
                format!("routes.{name}"),
                "a route name must not contain `/` (that form is reserved for provider/model)"
                    .into(),
            );
        }
        let strategy = match route.strategy.as_deref() {
            None => Strategy::Priority,
            Some(text) => Strategy::parse(text).unwrap_or_else(|| {
                problem(
                    path("strategy"),
                    format!(
                        "`{text}` is not one of \"priority\", \"weighted\", \"least-latency\", \"lowest-cost\""
                    ),
                );
                Strategy::Priority
            }),
        };
        if route.targets.is_empty() {
            problem(path("targets"), "needs at least one target".into());
        }
        let mut targets = Vec::with_capacity(route.targets.len());
        for (index, target) in route.targets.iter().enumerate() {
            if target
                .model
                .split_once('/')
                .is_none_or(|(p, m)| p.is_empty() || m.is_empty())
            {
                problem(
                    path(&format!("targets[{index}].model")),
                    format!("`{}` must be `provider/model`", target.model),
                );
            }
            if targets
                .iter()
                .any(|t: &RouteTargetSettings| t.model == target.model)
            {
                problem(
                    path(&format!("targets[{index}].model")),
                    format!("`{}` is listed twice", target.model),
                );
            }
            targets.push(RouteTargetSettings {
                model: target.model.clone(),
                weight: target.weight,
                priority: target.priority,
            });
        }
        if strategy == Strategy::Weighted
            && !targets.is_empty()
            && targets.iter().all(|t| t.weight == 0)
        {
            problem(
                path("targets"),
                "under \"weighted\" at least one target needs a weight above 0".into(),
            );
        }
        let connect = duration(
            path("timeouts.connect"),
            route.timeouts.connect.as_deref(),
            problem,
        );
        let first_token = duration(
            path("timeouts.first_token"),
            route.timeouts.first_token.as_deref(),
            problem,
        );
        let total = duration(
            path("timeouts.total"),
            route.timeouts.total.as_deref(),
            problem,
        );
        if let (Some(first), Some(total)) = (first_token, total)
            && first > total
        {
            problem(
                path("timeouts.first_token"),
                "must not be longer than `timeouts.total`".into(),
            );
        }
        let defaults = RetrySettings::default();
        let retries = &route.retries;
        let attempts = retries.attempts.unwrap_or(defaults.attempts);
        if !(1..=10).contains(&attempts) {
            problem(path("retries.attempts"), "must be from 1 to 10".into());
        }
        let backoff = duration(path("retries.backoff"), retries.backoff.as_deref(), problem)
            .unwrap_or(defaults.backoff);
        let max_backoff = duration(
            path("retries.max_backoff"),
            retries.max_backoff.as_deref(),
            problem,
        )
        .unwrap_or(defaults.max_backoff);
        if backoff > max_backoff {
            problem(
                path("retries.backoff"),
                "must not be longer than `retries.max_backoff`".into(),
            );
        }
        let max_retry_after = duration(
            path("retries.max_retry_after"),
            retries.max_retry_after.as_deref(),
            problem,
        )
        .unwrap_or(defaults.max_retry_after);
        out.insert(
            name.clone(),
            RouteSettings {
                strategy,
                targets,
                connect,
                first_token,
                total,
                retries: RetrySettings {
                    attempts,
                    backoff,
                    max_backoff,
                    max_retry_after,
                },
            },
        );
    }
    out
}

pub(super) fn validate_breaker(raw: &RawBreaker, problem: Problem<'_>) -> BreakerSettings {
    let defaults = BreakerSettings::default();
    let consecutive_failures = raw
        .consecutive_failures
        .unwrap_or(defaults.consecutive_failures);
    if consecutive_failures == 0 {
        problem(
            "breaker.consecutive_failures".into(),
            "must be at least 1".into(),
        );
    }
    let error_ratio = raw.error_ratio.unwrap_or(defaults.error_ratio);
    if !(error_ratio > 0.0 && error_ratio <= 1.0) {
        problem(
            "breaker.error_ratio".into(),
            "must be above 0 and at most 1".into(),
        );
    }
    BreakerSettings {
        consecutive_failures,
        error_ratio,
        min_requests: raw.min_requests.unwrap_or(defaults.min_requests).max(1),
        window: duration("breaker.window".into(), raw.window.as_deref(), problem)
            .unwrap_or(defaults.window),
        cool_down: duration(
            "breaker.cool_down".into(),
            raw.cool_down.as_deref(),
            problem,
        )
        .unwrap_or(defaults.cool_down),
    }
}

/// The admin key's hash; it must differ from every gateway key's.
pub(super) fn validate_admin(
    raw: Option<&RawAdmin>,
    team_key_hashes: &[[u8; 32]],
    env: &dyn Fn(&str) -> Option<String>,
    problem: Problem<'_>,
) -> Option<AdminSettings> {
    let raw = raw?;
    let hash = match (&raw.key_env, &raw.hash) {
        (Some(var), None) => match env(var) {
            Some(value) if value.len() >= 16 => Some(hash_key(&value)),
            Some(_) => {
                problem(
                    "admin.key_env".into(),
                    format!("the key in `{var}` must be at least 16 characters"),
                );
                None
            }
            None => {
                problem(
                    "admin.key_env".into(),
                    format!("environment variable `{var}` is not set"),
                );
                None
            }
        },
        (None, Some(text)) => parse_key_hash(text)
            .map_err(|message| problem("admin.hash".into(), message))
            .ok(),
        (Some(_), Some(_)) => {
            problem(
                "admin.hash".into(),
                "set either `key_env` or `hash`, not both".into(),
            );
            None
        }
        (None, None) => {
            problem("admin.key_env".into(), "set `key_env` or `hash`".into());
            None
        }
    }?;
    if team_key_hashes.contains(&hash) {
        problem(
            "admin".into(),
            "the admin key must not also be a gateway key".into(),
        );
        return None;
    }
    Some(AdminSettings { key_hash: hash })
}

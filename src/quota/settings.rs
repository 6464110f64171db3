//! The `[quota]` section and the limits written on teams and keys, validated
//! into `QuotaConfig`.

use super::limits::{Limits, RawLimits};
use crate::shapes::Secret;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[quota]`: where budgets and rate counters live, and what happens when the
/// shared store is down.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    /// `"embedded"` (default: counters in this process, settled spend in the
    /// ledger file) or `"redis"` (counters shared by every replica).
    #[serde(default)]
    pub store: Option<String>,
    /// The SQLite ledger file: one row per settled request, kept in every
    /// mode. Default `switchboard-ledger.sqlite` next to the config file;
    /// `":memory:"` keeps nothing across restarts. Settles are made durable
    /// in `<ledger>-pending.<n>` files beside it first and folded into the
    /// SQLite file within 200 ms (see docs/quota.md).
    #[serde(default)]
    pub ledger: Option<PathBuf>,
    /// `"normal"` (default: a settle survives the process being killed) or
    /// `"full"` (also survives a power cut; one disk flush per batch of settles).
    #[serde(default)]
    pub ledger_sync: Option<String>,
    /// Redis URL for `store = "redis"`, e.g. `redis://127.0.0.1:6379/0`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Or: the environment variable holding the Redis URL (when it carries a password).
    #[serde(default)]
    pub redis_url_env: Option<String>,
    /// Prefix of every Redis key, so several gateways can share one Redis. Default `switchboard`.
    #[serde(default)]
    pub redis_prefix: Option<String>,
    /// How long a Redis call may take before the failure policy applies, e.g. `"250ms"`.
    #[serde(default)]
    pub redis_timeout: Option<String>,
    /// How long a reservation may stay unsettled in Redis before another
    /// request takes it back (its replica was killed before settling), e.g.
    /// `"15m"` (default). Keep it longer than the longest request
    /// (`upstream.total_timeout`): a request settled after it is still
    /// charged exactly, but its hold stopped counting against the limits early.
    #[serde(default)]
    pub redis_hold_ttl: Option<String>,
    /// When Redis cannot be reached: `"fail_closed"` (default: refuse with
    /// 503) or `"local"` (enforce the same limits with this replica's own
    /// counters until Redis answers again). Either way it is logged and
    /// counted in `switchboard_quota_store_errors`.
    #[serde(default)]
    pub on_store_error: Option<String>,
    /// Serve models without a price to teams that have a budget (their
    /// requests then count as zero spend). Default: refused with 403.
    #[serde(default)]
    pub allow_unknown_prices: bool,
    /// Most end users (the request's `user` field) whose `user_limits`
    /// counters one team keeps at once, in each store. A request naming a new
    /// end user while the team is at this many is refused with 429
    /// `too_many_end_users`; end users already tracked are served as usual.
    /// An end user stops being tracked once all its counters have expired.
    /// Default 100000.
    #[serde(default)]
    pub max_end_users: Option<u64>,
    /// How long an end user's `usd_total` counter (under `user_limits`) is
    /// kept without requests, e.g. `"30d"` (default): after that the end
    /// user's total starts again from zero. Windowed counters always last
    /// until their window ends. At least one hour.
    #[serde(default)]
    pub end_user_idle_ttl: Option<String>,
}

/// End users tracked per team at once, by default.
pub const DEFAULT_MAX_END_USERS: u64 = 100_000;
/// An end user's total is forgotten after this long without requests, by default.
pub const DEFAULT_END_USER_IDLE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest `end_user_idle_ttl`: longer than any request.
const MIN_END_USER_IDLE_TTL: Duration = Duration::from_secs(3600);

/// An unsettled Redis hold is taken back after this, by default.
pub const DEFAULT_HOLD_TTL: Duration = Duration::from_secs(15 * 60);

/// What to do when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    FailClosed,
    Local,
}

#[derive(Debug, Clone)]
pub enum StoreKind {
    Embedded,
    Redis {
        url: Secret,
        prefix: String,
        timeout: Duration,
        /// An unsettled hold is taken back after this.
        hold_ttl: Duration,
    },
}

/// Limits of one team, as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamLimits {
    pub limits: Limits,
    /// Applied to each end user (the request's `user` field) on their own.
    pub user_limits: Limits,
    /// End a stream with an error event once it has spent what was reserved.
    pub hard_cutoff: bool,
}

#[derive(Debug, Clone)]
pub struct QuotaConfig {
    pub store: StoreKind,
    /// `None` keeps the ledger in memory.
    pub ledger: Option<PathBuf>,
    pub ledger_full_sync: bool,
    pub on_store_error: OnStoreError,
    pub allow_unknown_prices: bool,
    /// End users tracked per team at once.
    pub max_end_users: u64,
    /// An end user's `usd_total` counter expires after this long without requests.
    pub end_user_idle_ttl: Duration,
    /// By team id, in config order.
    pub teams: Vec<(String, TeamLimits)>,
    /// By key id.
    pub keys: Vec<(String, Limits)>,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::Embedded,
            ledger: None,
            ledger_full_sync: false,
            on_store_error: OnStoreError::FailClosed,
            allow_unknown_prices: false,
            max_end_users: DEFAULT_MAX_END_USERS,
            end_user_idle_ttl: DEFAULT_END_USER_IDLE_TTL,
            teams: Vec::new(),
            keys: Vec::new(),
        }
    }
}

/// A team's limits as written in its `[[teams]]` entry.
pub struct RawTeamLimits<'a> {
    pub id: &'a str,
    pub limits: Option<&'a RawLimits>,
    pub user_limits: Option<&'a RawLimits>,
    pub hard_cutoff: bool,
}

/// A key's limits as written in its `[[keys]]` entry.
pub struct RawKeyLimits<'a> {
    pub id: &'a str,
    pub limits: Option<&'a RawLimits>,
}

pub fn validate(
    raw: &RawQuota,
    teams: &[RawTeamLimits<'_>],
    keys: &[RawKeyLimits<'_>],
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> QuotaConfig {
    let mut redis_url = raw.redis_url.clone();
    if let Some(var) = &raw.redis_url_env {
        match env(var) {
            Some(url) if !url.is_empty() => redis_url = Some(url),
            _ => problem(
                "quota.redis_url_env".into(),
                format!("environment variable `{var}` is not set"),
            ),
        }
    }
    let timeout = match &raw.redis_timeout {
        None => Duration::from_millis(250),
        Some(text) => humantime::parse_duration(text).unwrap_or_else(|error| {
            problem(
                "quota.redis_timeout".into(),
                format!("`{text}` is not a duration like \"250ms\": {error}"),
            );
            Duration::from_millis(250)
        }),
    };
    let hold_ttl = match &raw.redis_hold_ttl {
        None => DEFAULT_HOLD_TTL,
        Some(text) => match humantime::parse_duration(text) {
            Ok(ttl) if !ttl.is_zero() => ttl,
            Ok(_) => {
                problem(
                    "quota.redis_hold_ttl".into(),
                    "must be longer than zero".into(),
                );
                DEFAULT_HOLD_TTL
            }
            Err(error) => {
                problem(
                    "quota.redis_hold_ttl".into(),
                    format!("`{text}` is not a duration like \"15m\": {error}"),
                );
                DEFAULT_HOLD_TTL
            }
        },
    };
    let store = match raw.store.as_deref() {
        None | Some("embedded") => StoreKind::Embedded,
        Some("redis") => match redis_url {
            Some(url) => {
                if redis::Client::open(url.as_str()).is_err() {
                    problem(
                        "quota.redis_url".into(),
                        "is not a Redis URL like redis://127.0.0.1:6379/0".into(),
                    );
                }
                StoreKind::Redis {
                    url: Secret::new(url),
                    prefix: raw
                        .redis_prefix
                        .clone()
                        .unwrap_or_else(|| "switchboard".to_owned()),
                    timeout,
                    hold_ttl,
                }
            }
            None => {
                problem(
                    "quota.redis_url".into(),
                    "set `redis_url` or `redis_url_env` for `store = \"redis\"`".into(),
                );
                StoreKind::Embedded
            }
        },
        Some(other) => {
            problem(
                "quota.store".into(),
                format!("`{other}` is not \"embedded\" or \"redis\""),
            );
            StoreKind::Embedded
        }
    };
    let ledger_full_sync = match raw.ledger_sync.as_deref() {
        None | Some("normal") => false,
        Some("full") => true,
        Some(other) => {
            problem(
                "quota.ledger_sync".into(),
                format!("`{other}` is not \"normal\" or \"full\""),
            );
            false
        }
    };
    let on_store_error = match raw.on_store_error.as_deref() {
        None | Some("fail_closed") => OnStoreError::FailClosed,
        Some("local") => OnStoreError::Local,
        Some(other) => {
            problem(
                "quota.on_store_error".into(),
                format!("`{other}` is not \"fail_closed\" or \"local\""),
            );
            OnStoreError::FailClosed
        }
    };
    let max_end_users = match raw.max_end_users {
        None => DEFAULT_MAX_END_USERS,
        Some(0) => {
            problem("quota.max_end_users".into(), "must be at least 1".into());
            DEFAULT_MAX_END_USERS
        }
        Some(cap) => cap,
    };
    let end_user_idle_ttl = match &raw.end_user_idle_ttl {
        None => DEFAULT_END_USER_IDLE_TTL,
        Some(text) => match humantime::parse_duration(text) {
            Ok(ttl) if ttl >= MIN_END_USER_IDLE_TTL => ttl,
            Ok(_) => {
                problem(
                    "quota.end_user_idle_ttl".into(),
                    "must be at least \"1h\"".into(),
                );
                DEFAULT_END_USER_IDLE_TTL
            }
            Err(error) => {
                problem(
                    "quota.end_user_idle_ttl".into(),
                    format!("`{text}` is not a duration like \"30d\": {error}"),
                );
                DEFAULT_END_USER_IDLE_TTL
            }
        },
    };
    // `load` resolves the path against the config file's folder; without a
    // path (a config built in code) the ledger stays in memory.
    let ledger = raw
        .ledger
        .clone()
        .filter(|path| path.as_os_str() != ":memory:");
    let teams = teams
        .iter()
        .enumerate()
        .map(|(index, team)| {
            let limits = team
                .limits
                .map(|raw| raw.validate(&format!("teams[{index}].limits"), problem))
                .unwrap_or_default();
            let user_limits = team
                .user_limits
                .map(|raw| raw.validate(&format!("teams[{index}].user_limits"), problem))
                .unwrap_or_default();
            (
                team.id.to_owned(),
                TeamLimits {
                    limits,
                    user_limits,
                    hard_cutoff: team.hard_cutoff,
                },
            )
        })
        .collect();
    let keys = keys
        .iter()
        .enumerate()
        .filter_map(|(index, key)| {
            let raw: &RawLimits = key.limits?;
            Some((
                key.id.to_owned(),
                raw.validate(&format!("keys[{index}].limits"), problem),
            ))
        })
        .collect();
    QuotaConfig {
        store,
        ledger,
        ledger_full_sync,
        on_store_error,
        allow_unknown_prices: raw.allow_unknown_prices,
        max_end_users,
        end_user_idle_ttl,
        teams,
        keys,
    }
}

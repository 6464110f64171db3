//! Per-tool rate limits in the gateway's limiter store: with the Redis quota
//! store every replica counts against one shared allowance (one Lua script
//! per rule: GCRA on Redis's own clock, so replicas' clocks need not agree);
//! embedded, each process counts its own (governor, in `policy.rs`).

use super::McpContext;
use super::policy::{RateRule, Refusal, TeamPolicy};
use crate::quota::redis_store::RedisQuotaStore;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS[1]: the theoretical arrival time (ms, Redis clock).
/// ARGV[1]: emission interval (ms per call), ARGV[2]: period (ms).
/// Returns 0 when the call may go, else the wait in ms until it may.
/// `calls` per `period`, all usable at once: like the embedded limiter.
static TAKE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE_LUA));
const TAKE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - period
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1)
return 0
";

/// Take one call from every rate limit of `policy` matching `subject`.
/// Called only when the call passed every other check.
pub async fn take(
    cx: &McpContext,
    team: &str,
    policy: &TeamPolicy,
    subject: &str,
) -> Result<(), Refusal> {
    let Some(store) = cx.quota.shared() else {
        return policy.take_local(subject);
    };
    for rule in policy
        .rate_limits
        .iter()
        .filter(|rule| rule.tools.is_match(subject))
    {
        match take_shared(store, team, rule, subject).await {
            Ok(None) => {}
            Ok(Some(retry_after)) => {
                return Err(Refusal::RateLimited {
                    pattern: rule.pattern.clone(),
                    retry_after,
                });
            }
            Err(error) => {
                // Like the model API's counters: the local limiter stands in
                // while Redis is unreachable, and the failure is counted.
                cx.quota.store_errors.inc();
                tracing::warn!(%error, "MCP rate limit store unavailable; counting locally");
                rule.take_local(subject)?;
            }
        }
    }
    Ok(())
}

async fn take_shared(
    store: &RedisQuotaStore,
    team: &str,
    rule: &RateRule,
    subject: &str,
) -> Result<Option<Duration>, String> {
    let period_ms = rule.per.as_secs_f64() * 1e3;
    let interval_ms = period_ms / f64::from(rule.calls.get());
    // The limit is part of the key: a changed limit starts a fresh count
    // instead of reading another limit's state.
    let key = store.key(&format!(
        "mcp:rate:{team}:{}:{}:{}:{subject}",
        rule.pattern,
        rule.calls,
        rule.per.as_millis()
    ));
    let mut connection = store.connection().await.map_err(|error| error.0)?;
    let wait_ms: u64 = TAKE
        .key(key)
        .arg(format!("{interval_ms:.3}"))
        .arg(format!("{period_ms:.3}"))
        .invoke_async(&mut connection)
        .await
        .map_err(|error| error.to_string())?;
    Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
}

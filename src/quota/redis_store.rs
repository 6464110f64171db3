//! The Redis store: the same counters as the in-process store, shared by every
//! replica. Each operation is one Lua script (`EVALSHA`), so a reservation
//! checks and adds every counter atomically in one round trip; settles are
//! batched by `quota::settler`, many to a script call.
//!
//! Money is integer nano-USD; Redis adds with `INCRBY` on the arguments as
//! sent, and Lua compares in doubles, exact below 2^53 nano-USD (9 million USD
//! per counter). Keys of one request may land on different cluster slots, so
//! this store expects a single Redis (or a primary with replicas), not Cluster.

use super::redis_spend::SpendDelta;
use crate::seams::quota::{Adjustment, Charge, Entrant, QuotaStore, Refused, StoreError, Tripped};
use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;
use tokio::sync::OnceCell;

/// KEYS[1]: the sorted set of open holds, KEYS[2]: this request's hold,
/// KEYS[3]: the registry of tracked end users to admit a member into (a
/// sorted set, member → when it stops being tracked), KEYS[4..]: counters.
/// ARGV[1]: how long a hold may stay open (ms), ARGV[2]: the member,
/// ARGV[3]: the registry's cap (-1: no member to admit), ARGV[4]: until when
/// the member is tracked (ms); then per counter: amount, limit (-1: none),
/// expires_ms (0: never).
/// Returns {0, values...} on success, {index, current} when a limit trips,
/// {-1, tracked, frees_at_ms} when the member is new and the registry full.
/// The registry's members leave it once their time has passed, and the
/// registry itself expires with its last member.
///
/// A hold records what it added to each counter, so that one whose settle
/// never comes (its replica was killed) is taken back once it is older than
/// the hold TTL: each reservation first frees a few such holds. Counters and
/// holds reaped here are named inside the hold, not in KEYS: this store
/// expects a single Redis, not Cluster.
const RESERVE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
for _, hold in ipairs(stale) do
  local held = redis.call('HGETALL', hold)
  for j = 1, #held, 2 do
    if redis.call('EXISTS', held[j]) == 1 then
      local value = redis.call('DECRBY', held[j], held[j + 1])
      if value < 0 then redis.call('SET', held[j], '0', 'KEEPTTL') end
    end
  end
  redis.call('DEL', hold)
  redis.call('ZREM', KEYS[1], hold)
end
local cap = tonumber(ARGV[3])
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
    local tracked = redis.call('ZCARD', KEYS[3])
    if tracked >= cap then
      local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
      return {-1, tracked, tonumber(first[2] or '0')}
    end
  end
end
for i = 4, #KEYS do
  local limit = tonumber(ARGV[i * 3 - 6])
  if limit >= 0 then
    local current = tonumber(redis.call('GET', KEYS[i]) or '0')
    if current + tonumber(ARGV[i * 3 - 7]) > limit then
      return {i - 3, current}
    end
  end
end
local out = {0}
for i = 4, #KEYS do
  local amount = ARGV[i * 3 - 7]
  out[i - 2] = redis.call('INCRBY', KEYS[i], amount)
  local expires = ARGV[i * 3 - 5]
  if expires ~= '0' then redis.call('PEXPIREAT', KEYS[i], expires) end
  redis.call('HINCRBY', KEYS[2], KEYS[i], amount)
end
if cap >= 0 then
  local until_ms = tonumber(ARGV[4])
  local score = redis.call('ZSCORE', KEYS[3], ARGV[2])
  if not score or tonumber(score) < until_ms then
    redis.call('ZADD', KEYS[3], until_ms, ARGV[2])
    local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[3], string.format('%d', tonumber(last[2])))
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), KEYS[2])
return out
";

/// Many settles in one script (one round trip). KEYS[1]: the sorted set of
/// open holds, KEYS[2]: the set of days with spend; then per settle its
/// marker, its hold, its day's spend hash, and its counters. ARGV per
/// settle: the number of counters, the spend field prefix (empty: no spend to
/// add), cost, prompt and completion tokens, the day; then per counter
/// reserved, actual, expires_ms (0: never).
///
/// A marker already set means this settle was applied before: nothing is
/// counted twice. Markers live an hour, longer than a settle is retried.
/// While the hold is open, a counter moves by `actual - reserved`; once it
/// was reaped (or was never taken here: a request served on local counters
/// while Redis was away), by `actual`. Counters whose window has ended are
/// not recreated.
const SETTLE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local applied = 0
local k, a = 3, 1
while a <= #ARGV do
  local marker, hold, spend = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local counters = tonumber(ARGV[a])
  local field = ARGV[a + 1]
  if redis.call('SET', marker, '1', 'NX', 'PX', 3600000) then
    applied = applied + 1
    local open = redis.call('DEL', hold) == 1
    redis.call('ZREM', KEYS[1], hold)
    for c = 0, counters - 1 do
      local key = KEYS[k + 3 + c]
      local reserved = tonumber(ARGV[a + 6 + c * 3])
      local actual = tonumber(ARGV[a + 7 + c * 3])
      local expires = ARGV[a + 8 + c * 3]
      local delta = actual
      if open then delta = actual - reserved end
      if delta ~= 0 and (expires == '0' or tonumber(expires) > now) then
        local value = redis.call('INCRBY', key, delta)
        if value < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
        if expires ~= '0' then redis.call('PEXPIREAT', key, expires) end
      end
    end
    if field ~= '' then
      redis.call('HINCRBY', spend, field .. 'c', ARGV[a + 2])
      redis.call('HINCRBY', spend, field .. 'p', ARGV[a + 3])
      redis.call('HINCRBY', spend, field .. 'o', ARGV[a + 4])
      redis.call('HINCRBY', spend, field .. 'r', 1)
      redis.call('SADD', KEYS[2], ARGV[a + 5])
    end
  end
  k = k + 3 + counters
  a = a + 6 + counters * 3
end
return applied
";

/// KEYS[1]: version counter, KEYS[2]: document. Publishes the admin API's
/// changes to every replica; returns the new version.
const PUT_OVERLAY: &str = r"
local version = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1])
return version
";

pub struct RedisQuotaStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    reserve: redis::Script,
    settle: redis::Script,
    put_overlay: redis::Script,
    timeout: Duration,
    hold_ttl: Duration,
    /// Round trips to Redis, by who waited for them.
    pub round_trips: RoundTrips,
}

/// Round trips to Redis: those a request waits for (reservations), and those
/// of the background settler, the admin API and the overlay poll.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    pub request: Counter,
    pub background: Counter,
}

/// One settle for the batch: the hold's id, its counters, and the spend to
/// add to the shared aggregates (none when nothing was served).
#[derive(Debug, Clone)]
pub struct PendingSettle {
    pub id: String,
    pub adjustments: Vec<Adjustment>,
    pub spend: Option<SpendDelta>,
}

/// A connection that counts its round trips (a pipeline is one).
pub(super) struct Counted<'c> {
    inner: ConnectionManager,
    trips: &'c Counter,
}

impl ConnectionLike for Counted<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.trips.inc();
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.trips.inc();
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl RedisQuotaStore {
    /// Nothing is contacted until the first request, so a gateway starts (and
    /// applies its failure policy) while Redis is down. A hold not settled
    /// within `hold_ttl` is taken back by a later reservation.
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        hold_ttl: Duration,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix: prefix.to_owned(),
            reserve: redis::Script::new(RESERVE),
            settle: redis::Script::new(SETTLE),
            put_overlay: redis::Script::new(PUT_OVERLAY),
            timeout,
            hold_ttl,
            round_trips: RoundTrips::default(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The shared connection, also used by the MCP gateway's rate limits.
    pub(crate) async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                crate::shared_redis::lazy_connection(&self.client, self.timeout)
            })
            .await
            .map_err(unavailable)?;
        Ok(manager.clone())
    }

    /// The connection of a request's own path.
    async fn request_connection(&self) -> Result<Counted<'_>, StoreError> {
        Ok(Counted {
            inner: self.connection().await?,
            trips: &self.round_trips.request,
        })
    }

    /// The connection of work no request waits for.
    pub(super) async fn background_connection(&self) -> Result<Counted<'_>, StoreError> {
        Ok(Counted {
            inner: self.connection().await?,
            trips: &self.round_trips.background,
        })
    }

    /// `key` under this store's prefix.
    pub(crate) fn key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 1 + key.len());
        out.push_str(&self.prefix);
        out.push(':');
        out.push_str(key);
        out
    }

    /// Apply many settles in one script call: one round trip for the batch.
    /// Each keeps its id, so a batch retried after a lost reply applies only
    /// the settles that had not landed.
    pub async fn settle_batch(&self, batch: &[PendingSettle]) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut connection = self.background_connection().await?;
        let mut invocation = self.settle.prepare_invoke();
        invocation
            .key(self.key("holds"))
            .key(self.key("spend:days"));
        for settle in batch {
            invocation
                .key(self.key(&format!("settled:{}", settle.id)))
                .key(self.key(&format!("hold:{}", settle.id)));
            match &settle.spend {
                Some(spend) => invocation.key(self.key(&spend.hash_key())),
                None => invocation.key(self.key("spend:none")),
            };
            invocation.arg(settle.adjustments.len());
            match &settle.spend {
                Some(spend) => invocation
                    .arg(spend.field_prefix())
                    .arg(spend.cost_nano)
                    .arg(spend.prompt_tokens)
                    .arg(spend.completion_tokens)
                    .arg(&spend.day),
                None => invocation.arg("").arg(0).arg(0).arg(0).arg(""),
            };
            for adjustment in &settle.adjustments {
                invocation
                    .key(self.key(&adjustment.key))
                    .arg(adjustment.reserved)
                    .arg(adjustment.actual)
                    .arg(adjustment.expires_ms);
            }
        }
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}

impl RedisQuotaStore {
    /// Publish the admin API's changes; every replica picks them up.
    pub async fn put_admin_overlay(&self, doc: &str) -> Result<u64, StoreError> {
        let mut connection = self.background_connection().await?;
        self.put_overlay
            .key(self.key("admin:version"))
            .key(self.key("admin:overlay"))
            .arg(doc)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }

    /// The published version, cheap to poll.
    pub async fn admin_overlay_version(&self) -> Result<u64, StoreError> {
        let mut connection = self.background_connection().await?;
        let version: Option<u64> = redis::cmd("GET")
            .arg(self.key("admin:version"))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(version.unwrap_or(0))
    }

    /// The published version and document, read together.
    pub async fn admin_overlay(&self) -> Result<(u64, Option<String>), StoreError> {
        let mut connection = self.background_connection().await?;
        let (version, doc): (Option<u64>, Option<String>) = redis::cmd("MGET")
            .arg(self.key("admin:version"))
            .arg(self.key("admin:overlay"))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((version.unwrap_or(0), doc))
    }
}

pub(super) fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError(error.to_string())
}

#[async_trait::async_trait]
impl QuotaStore for RedisQuotaStore {
    async fn admit_and_reserve(
        &self,
        hold_id: &str,
        charges: &[Charge],
        entrant: Option<&Entrant>,
        _now_ms: u64,
    ) -> Result<Result<Vec<u64>, Refused>, StoreError> {
        let mut connection = self.request_connection().await?;
        let mut invocation = self.reserve.prepare_invoke();
        invocation
            .key(self.key("holds"))
            .key(self.key(&format!("hold:{hold_id}")))
            .arg(self.hold_ttl.as_millis() as u64);
        match entrant {
            Some(entrant) => invocation
                .key(self.key(&entrant.registry))
                .arg(&entrant.member)
                .arg(entrant.cap.min(i64::MAX as u64) as i64)
                .arg(entrant.expires_ms),
            None => invocation
                .key(self.key("users:none"))
                .arg("")
                .arg(-1)
                .arg(0),
        };
        for charge in charges {
            invocation
                .key(self.key(&charge.key))
                .arg(charge.amount)
                .arg(charge.limit.map_or(-1, |limit| limit as i64))
                .arg(charge.expires_ms);
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        match reply.split_first() {
            Some((0, values)) => Ok(Ok(values.iter().map(|v| (*v).max(0) as u64).collect())),
            Some((-1, rest)) => Ok(Err(Refused::Full {
                tracked: rest.first().copied().unwrap_or(0).max(0) as u64,
                frees_at_ms: rest
                    .get(1)
                    .copied()
                    .filter(|at| *at > 0)
                    .map(|at| at as u64),
            })),
            Some((index, rest)) => Ok(Err(Refused::Limit(Tripped {
                index: (*index as usize).saturating_sub(1),
                current: rest.first().copied().unwrap_or(0).max(0) as u64,
            }))),
            None => Err(StoreError("the reserve script returned nothing".into())),
        }
    }

    /// One settle on its own (the gateway batches them in `quota::settler`).
    async fn settle(
        &self,
        settle_id: &str,
        adjustments: &[Adjustment],
        _now_ms: u64,
    ) -> Result<(), StoreError> {
        let pending = PendingSettle {
            id: settle_id.to_owned(),
            adjustments: adjustments.to_vec(),
            spend: None,
        };
        self.settle_batch(std::slice::from_ref(&pending)).await?;
        Ok(())
    }

    async fn current(&self, keys: &[String], _now_ms: u64) -> Result<Vec<u64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.background_connection().await?;
        let keys: Vec<String> = keys.iter().map(|key| self.key(key)).collect();
        let values: Vec<Option<i64>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(values
            .into_iter()
            .map(|v| v.unwrap_or(0).max(0) as u64)
            .collect())
    }
}

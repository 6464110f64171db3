//! The Redis store: the same counters as the in-process store, shared by every
//! replica. Each operation is one Lua script (`EVALSHA`), so a reservation
//! checks and adds every counter atomically in one round trip.
//!
//! Money is integer nano-USD; Redis adds with `INCRBY` on the arguments as
//! sent, and Lua compares in doubles, exact below 2^53 nano-USD (9 million USD
//! per counter). Keys of one request may land on different cluster slots, so
//! this store expects a single Redis (or a primary with replicas), not Cluster.

use crate::seams::quota::{Adjustment, Charge, QuotaStore, StoreError, Tripped};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

/// KEYS: counters. ARGV: per counter amount, limit (-1: none), expires_ms (0: never).
/// Returns {0, values...} on success, {index, current} when a limit trips.
const RESERVE: &str = r"
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 3 - 1])
  if limit >= 0 then
    local current = tonumber(redis.call('GET', KEYS[i]) or '0')
    if current + tonumber(ARGV[i * 3 - 2]) > limit then
      return {i, current}
    end
  end
end
local out = {0}
for i = 1, #KEYS do
  out[i + 1] = redis.call('INCRBY', KEYS[i], ARGV[i * 3 - 2])
  local expires = ARGV[i * 3]
  if expires ~= '0' then redis.call('PEXPIREAT', KEYS[i], expires) end
end
return out
";

/// KEYS[1]: the settle marker; KEYS[2..]: counters. ARGV: per counter the
/// delta (actual - reserved). A marker already set means this settle was
/// applied before: nothing is counted twice. Markers live an hour, longer
/// than the background retries of a settle last. Counters whose window has ended
/// (the key expired) are not recreated.
const SETTLE: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', 3600000) then
  return 0
end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local value = redis.call('INCRBY', KEYS[i], ARGV[i - 1])
    if value < 0 then redis.call('SET', KEYS[i], '0', 'KEEPTTL') end
  end
end
return 1
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
}

impl RedisQuotaStore {
    /// Nothing is contacted until the first request, so a gateway starts (and
    /// applies its failure policy) while Redis is down.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix: prefix.to_owned(),
            reserve: redis::Script::new(RESERVE),
            settle: redis::Script::new(SETTLE),
            put_overlay: redis::Script::new(PUT_OVERLAY),
            timeout,
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
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(unavailable)?;
        Ok(manager.clone())
    }

    /// `key` under this store's prefix.
    pub(crate) fn key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 1 + key.len());
        out.push_str(&self.prefix);
        out.push(':');
        out.push_str(key);
        out
    }
}

impl RedisQuotaStore {
    /// Publish the admin API's changes; every replica picks them up.
    pub async fn put_admin_overlay(&self, doc: &str) -> Result<u64, StoreError> {
        let mut connection = self.connection().await?;
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
        let mut connection = self.connection().await?;
        let version: Option<u64> = redis::cmd("GET")
            .arg(self.key("admin:version"))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(version.unwrap_or(0))
    }

    /// The published version and document, read together.
    pub async fn admin_overlay(&self) -> Result<(u64, Option<String>), StoreError> {
        let mut connection = self.connection().await?;
        let (version, doc): (Option<u64>, Option<String>) = redis::cmd("MGET")
            .arg(self.key("admin:version"))
            .arg(self.key("admin:overlay"))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((version.unwrap_or(0), doc))
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError(error.to_string())
}

#[async_trait::async_trait]
impl QuotaStore for RedisQuotaStore {
    async fn reserve(
        &self,
        charges: &[Charge],
        _now_ms: u64,
    ) -> Result<Result<Vec<u64>, Tripped>, StoreError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.reserve.prepare_invoke();
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
            Some((index, rest)) => Ok(Err(Tripped {
                index: (*index as usize).saturating_sub(1),
                current: rest.first().copied().unwrap_or(0).max(0) as u64,
            })),
            None => Err(StoreError("the reserve script returned nothing".into())),
        }
    }

    async fn settle(
        &self,
        settle_id: &str,
        adjustments: &[Adjustment],
        _now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.settle.prepare_invoke();
        invocation.key(self.key(&format!("settled:{settle_id}")));
        for adjustment in adjustments {
            let delta = adjustment.actual as i64 - adjustment.reserved as i64;
            invocation.key(self.key(&adjustment.key)).arg(delta);
        }
        let _applied: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn current(&self, keys: &[String], _now_ms: u64) -> Result<Vec<u64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
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

//! `QuotaStore`: the counters behind budgets and rate limits. A reservation
//! adds the worst case to every counter a request touches, atomically and only
//! if each stays within its limit; settling replaces the worst case with what
//! was actually used. Reserve-then-settle is what keeps concurrent requests
//! from overshooting. Implementations: in-process (`MemoryQuotaStore`, here)
//! and Redis (`quota::redis_store`); `quota::contract` tests both alike.

use parking_lot::Mutex;
use std::collections::HashMap;

pub use crate::quota::Hold as Reservation;

/// One counter a reservation adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub key: String,
    pub amount: u64,
    /// The counter may not pass this; `None` counts without limiting.
    pub limit: Option<u64>,
    /// When the counter's window ends (Unix ms); 0 for never.
    pub expires_ms: u64,
}

/// The first charge that did not fit, and its counter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripped {
    pub index: usize,
    pub current: u64,
}

/// Replace a charge's reserved amount with the actual one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub key: String,
    pub reserved: u64,
    pub actual: u64,
    pub expires_ms: u64,
}

/// The shared store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("quota store unavailable: {0}")]
pub struct StoreError(pub String);

#[async_trait::async_trait]
pub trait QuotaStore: Send + Sync {
    /// Add every charge, or none: refused with the first that would pass its
    /// limit. On success, the counters' values after the reservation.
    /// `hold_id` names the hold, which its settle later names too: a shared
    /// store takes back a hold that is never settled.
    async fn reserve(
        &self,
        hold_id: &str,
        charges: &[Charge],
        now_ms: u64,
    ) -> Result<Result<Vec<u64>, Tripped>, StoreError>;

    /// Apply `actual - reserved` to every counter, once per `settle_id`
    /// (a retried settle is not counted twice). Counters whose window has
    /// ended are left alone.
    async fn settle(
        &self,
        settle_id: &str,
        adjustments: &[Adjustment],
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// Current values (0 for absent or expired counters).
    async fn current(&self, keys: &[String], now_ms: u64) -> Result<Vec<u64>, StoreError>;
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: u64,
    expires_ms: u64,
}

impl Counter {
    fn live(&self, now_ms: u64) -> bool {
        self.expires_ms == 0 || self.expires_ms > now_ms
    }
}

/// In-process counters: one lock, a few hash lookups per request.
#[derive(Debug, Default)]
pub struct MemoryQuotaStore {
    counters: Mutex<HashMap<String, Counter>>,
    /// Settle ids seen recently, so that a replayed settle is not applied twice.
    settled: Mutex<SettledIds>,
}

#[derive(Debug, Default)]
struct SettledIds {
    current: std::collections::HashSet<String>,
    previous: std::collections::HashSet<String>,
}

impl SettledIds {
    /// Two generations bound the memory: ids older than ~2 × 100k settles drop out.
    fn insert(&mut self, id: &str) -> bool {
        if self.current.contains(id) || self.previous.contains(id) {
            return false;
        }
        if self.current.len() >= 100_000 {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(id.to_owned());
        true
    }
}

impl MemoryQuotaStore {
    /// Seed counters (settled spend loaded from the ledger at start-up).
    pub fn seed(&self, counters: impl IntoIterator<Item = (String, u64, u64)>) {
        let mut map = self.counters.lock();
        for (key, value, expires_ms) in counters {
            map.insert(key, Counter { value, expires_ms });
        }
    }

    /// Drop counters whose window has ended.
    pub fn prune(&self, now_ms: u64) {
        self.counters
            .lock()
            .retain(|_, counter| counter.live(now_ms));
    }

    pub fn reserve_now(&self, charges: &[Charge], now_ms: u64) -> Result<Vec<u64>, Tripped> {
        let mut map = self.counters.lock();
        for (index, charge) in charges.iter().enumerate() {
            let current = map
                .get(&charge.key)
                .filter(|c| c.live(now_ms))
                .map_or(0, |c| c.value);
            if let Some(limit) = charge.limit
                && current.saturating_add(charge.amount) > limit
            {
                return Err(Tripped { index, current });
            }
        }
        let mut values = Vec::with_capacity(charges.len());
        for charge in charges {
            let counter = map.entry(charge.key.clone()).or_insert(Counter {
                value: 0,
                expires_ms: charge.expires_ms,
            });
            if !counter.live(now_ms) {
                counter.value = 0;
            }
            counter.expires_ms = charge.expires_ms;
            counter.value = counter.value.saturating_add(charge.amount);
            values.push(counter.value);
        }
        Ok(values)
    }

    pub fn settle_now(&self, settle_id: &str, adjustments: &[Adjustment], now_ms: u64) {
        if !self.settled.lock().insert(settle_id) {
            return;
        }
        let mut map = self.counters.lock();
        for adjustment in adjustments {
            if let Some(counter) = map.get_mut(&adjustment.key)
                && counter.live(now_ms)
            {
                counter.value = counter
                    .value
                    .saturating_sub(adjustment.reserved)
                    .saturating_add(adjustment.actual);
            }
        }
    }

    pub fn current_now(&self, keys: &[String], now_ms: u64) -> Vec<u64> {
        let map = self.counters.lock();
        keys.iter()
            .map(|key| {
                map.get(key)
                    .filter(|c| c.live(now_ms))
                    .map_or(0, |c| c.value)
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl QuotaStore for MemoryQuotaStore {
    async fn reserve(
        &self,
        _hold_id: &str,
        charges: &[Charge],
        now_ms: u64,
    ) -> Result<Result<Vec<u64>, Tripped>, StoreError> {
        Ok(self.reserve_now(charges, now_ms))
    }

    async fn settle(
        &self,
        settle_id: &str,
        adjustments: &[Adjustment],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.settle_now(settle_id, adjustments, now_ms);
        Ok(())
    }

    async fn current(&self, keys: &[String], now_ms: u64) -> Result<Vec<u64>, StoreError> {
        Ok(self.current_now(keys, now_ms))
    }
}

//! `QuotaStore`: the counters behind budgets and rate limits. A reservation
//! adds the worst case to every counter a request touches, atomically and only
//! if each stays within its limit; settling replaces the worst case with what
//! was actually used. Reserve-then-settle is what keeps concurrent requests
//! from overshooting. Implementations: in-process (`MemoryQuotaStore`, here)
//! and Redis (`quota::redis_store`); `quota::contract` tests both alike.

use parking_lot::Mutex;
use std::collections::HashMap;

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

/// An end user to admit into their team's registry of tracked end users,
/// which holds at most `cap` of them at once. A member is tracked until
/// `expires_ms` (the latest expiry of the counters its requests touch); a
/// member already tracked is always admitted (and its expiry extended), a
/// new one only while the registry has room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrant {
    /// The registry's key, e.g. `users:t:alpha`.
    pub registry: String,
    pub member: String,
    pub cap: u64,
    pub expires_ms: u64,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A charge would pass its limit.
    Limit(Tripped),
    /// The entrant is new and its registry already tracks `cap` members;
    /// the earliest of them stops being tracked at `frees_at_ms`.
    Full {
        tracked: u64,
        frees_at_ms: Option<u64>,
    },
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
    ) -> Result<Result<Vec<u64>, Tripped>, StoreError> {
        Ok(self
            .admit_and_reserve(hold_id, charges, None, now_ms)
            .await?
            .map_err(|refused| match refused {
                Refused::Limit(tripped) => tripped,
                // Only an entrant can be refused for room; there is none here.
                Refused::Full { tracked, .. } => Tripped {
                    index: charges.len(),
                    current: tracked,
                },
            }))
    }

    /// `reserve`, in the same atomic step as admitting `entrant` (when
    /// given) into its registry: refused, with nothing added, when the
    /// entrant is new and its registry is full, or when a charge would pass
    /// its limit. Members whose time has passed leave the registry.
    async fn admit_and_reserve(
        &self,
        hold_id: &str,
        charges: &[Charge],
        entrant: Option<&Entrant>,
        now_ms: u64,
    ) -> Result<Result<Vec<u64>, Refused>, StoreError>;

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

/// A full registry is swept of members whose time has passed at most this
/// often (besides the sweep of `prune`), so that a flood of new end users
/// at the cap does not scan the registry on every request.
const SWEEP_FULL_EVERY_MS: u64 = 1000;

/// In-process counters: one lock, a few hash lookups per request.
#[derive(Debug, Default)]
pub struct MemoryQuotaStore {
    state: Mutex<State>,
    /// Settle ids seen recently, so that a replayed settle is not applied twice.
    settled: Mutex<SettledIds>,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<String, Counter>,
    registries: HashMap<String, Registry>,
}

/// Tracked members of one registry, each with the time it stops being tracked.
#[derive(Debug, Default)]
struct Registry {
    members: HashMap<String, u64>,
    swept_ms: u64,
    /// When the first member stops being tracked, as of the last sweep (a
    /// refusal says so without scanning the members).
    next_free_ms: Option<u64>,
}

impl Registry {
    fn sweep(&mut self, now_ms: u64) {
        self.members.retain(|_, expires_ms| *expires_ms > now_ms);
        self.swept_ms = now_ms;
        self.next_free_ms = self.members.values().min().copied();
    }

    fn tracks(&self, member: &str, now_ms: u64) -> bool {
        self.members
            .get(member)
            .is_some_and(|expires_ms| *expires_ms > now_ms)
    }
}

/// The key a tracked member is kept under among the durable counters (the
/// ledger's), so that a restart tracks it again: `member:<registry>\n<member>`.
/// Registry keys never hold a newline (team ids cannot), so the first one
/// ends the registry whatever the member's name holds.
pub fn member_record_key(registry: &str, member: &str) -> String {
    format!("member:{registry}\n{member}")
}

fn parse_member_record(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("member:")?.split_once('\n')
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
    /// Seed counters (settled spend loaded from the ledger at start-up), and
    /// the tracked members kept among them (`member_record_key`).
    pub fn seed(&self, counters: impl IntoIterator<Item = (String, u64, u64)>) {
        let mut state = self.state.lock();
        for (key, value, expires_ms) in counters {
            if let Some((registry, member)) = parse_member_record(&key) {
                let registry = state.registries.entry(registry.to_owned()).or_default();
                let tracked = registry.members.entry(member.to_owned()).or_default();
                *tracked = (*tracked).max(expires_ms);
                continue;
            }
            state.counters.insert(key, Counter { value, expires_ms });
        }
    }

    /// Drop counters whose window has ended, and members whose time has passed.
    pub fn prune(&self, now_ms: u64) {
        let mut state = self.state.lock();
        state.counters.retain(|_, counter| counter.live(now_ms));
        state.registries.retain(|_, registry| {
            registry.sweep(now_ms);
            !registry.members.is_empty()
        });
    }

    /// How many counters and tracked members are held (for tests of the bounds).
    pub fn sizes(&self) -> (usize, usize) {
        let state = self.state.lock();
        let members = state.registries.values().map(|r| r.members.len()).sum();
        (state.counters.len(), members)
    }

    pub fn reserve_now(&self, charges: &[Charge], now_ms: u64) -> Result<Vec<u64>, Tripped> {
        self.admit_and_reserve_now(charges, None, now_ms)
            .map_err(|refused| match refused {
                Refused::Limit(tripped) => tripped,
                Refused::Full { tracked, .. } => Tripped {
                    index: charges.len(),
                    current: tracked,
                },
            })
    }

    pub fn admit_and_reserve_now(
        &self,
        charges: &[Charge],
        entrant: Option<&Entrant>,
        now_ms: u64,
    ) -> Result<Vec<u64>, Refused> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(entrant) = entrant
            && let Some(registry) = state.registries.get_mut(&entrant.registry)
            && !registry.tracks(&entrant.member, now_ms)
            && registry.members.len() as u64 >= entrant.cap
        {
            if now_ms >= registry.swept_ms.saturating_add(SWEEP_FULL_EVERY_MS) {
                registry.sweep(now_ms);
            }
            if registry.members.len() as u64 >= entrant.cap {
                return Err(Refused::Full {
                    tracked: registry.members.len() as u64,
                    frees_at_ms: registry.next_free_ms,
                });
            }
        }
        for (index, charge) in charges.iter().enumerate() {
            let current = state
                .counters
                .get(&charge.key)
                .filter(|c| c.live(now_ms))
                .map_or(0, |c| c.value);
            if let Some(limit) = charge.limit
                && current.saturating_add(charge.amount) > limit
            {
                return Err(Refused::Limit(Tripped { index, current }));
            }
        }
        let mut values = Vec::with_capacity(charges.len());
        for charge in charges {
            let counter = state.counters.entry(charge.key.clone()).or_insert(Counter {
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
        if let Some(entrant) = entrant {
            let registry = state
                .registries
                .entry(entrant.registry.clone())
                .or_default();
            let expires_ms = registry.members.entry(entrant.member.clone()).or_default();
            *expires_ms = (*expires_ms).max(entrant.expires_ms);
        }
        Ok(values)
    }

    pub fn settle_now(&self, settle_id: &str, adjustments: &[Adjustment], now_ms: u64) {
        if !self.settled.lock().insert(settle_id) {
            return;
        }
        let mut state = self.state.lock();
        for adjustment in adjustments {
            if let Some(counter) = state.counters.get_mut(&adjustment.key)
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
        let state = self.state.lock();
        keys.iter()
            .map(|key| {
                state
                    .counters
                    .get(key)
                    .filter(|c| c.live(now_ms))
                    .map_or(0, |c| c.value)
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl QuotaStore for MemoryQuotaStore {
    async fn admit_and_reserve(
        &self,
        _hold_id: &str,
        charges: &[Charge],
        entrant: Option<&Entrant>,
        now_ms: u64,
    ) -> Result<Result<Vec<u64>, Refused>, StoreError> {
        Ok(self.admit_and_reserve_now(charges, entrant, now_ms))
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

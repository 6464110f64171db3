//! `QuotaStore`: reserve the worst case before a call, settle the actual cost
//! after it. Reserve-then-settle is what keeps concurrent requests from
//! overshooting a budget.

use crate::cost::NanoUsd;
use parking_lot::Mutex;
use std::collections::HashMap;

/// A refusal: the scope, its limit and what is already committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub scope: String,
    pub limit: NanoUsd,
    pub committed: NanoUsd,
}

/// A hold on part of a scope's budget, released by `settle`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation must be settled"]
pub struct Reservation {
    pub scope: String,
    pub amount: NanoUsd,
}

#[async_trait::async_trait]
pub trait QuotaStore: Send + Sync {
    /// Hold `amount` against `scope`; refused when spent + held + amount would
    /// pass `limit`. Atomic: two reservations never both fit into one slot.
    async fn reserve(
        &self,
        scope: &str,
        amount: NanoUsd,
        limit: Option<NanoUsd>,
    ) -> Result<Reservation, QuotaExceeded>;

    /// Release the hold and record what was actually spent.
    async fn settle(&self, reservation: Reservation, actual: NanoUsd);

    /// Settled spend of a scope.
    async fn spent(&self, scope: &str) -> NanoUsd;
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    spent: u64,
    held: u64,
}

/// In-process counters. Nothing survives a restart.
#[derive(Debug, Default)]
pub struct InMemoryQuotaStore {
    counters: Mutex<HashMap<String, Counter>>,
}

#[async_trait::async_trait]
impl QuotaStore for InMemoryQuotaStore {
    async fn reserve(
        &self,
        scope: &str,
        amount: NanoUsd,
        limit: Option<NanoUsd>,
    ) -> Result<Reservation, QuotaExceeded> {
        let mut counters = self.counters.lock();
        let counter = counters.entry(scope.to_owned()).or_default();
        let committed = counter.spent.saturating_add(counter.held);
        if let Some(limit) = limit
            && committed.saturating_add(amount.0) > limit.0
        {
            return Err(QuotaExceeded {
                scope: scope.to_owned(),
                limit,
                committed: NanoUsd(committed),
            });
        }
        counter.held = counter.held.saturating_add(amount.0);
        Ok(Reservation {
            scope: scope.to_owned(),
            amount,
        })
    }

    async fn settle(&self, reservation: Reservation, actual: NanoUsd) {
        let mut counters = self.counters.lock();
        let counter = counters.entry(reservation.scope).or_default();
        counter.held = counter.held.saturating_sub(reservation.amount.0);
        counter.spent = counter.spent.saturating_add(actual.0);
    }

    async fn spent(&self, scope: &str) -> NanoUsd {
        NanoUsd(self.counters.lock().get(scope).map_or(0, |c| c.spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_reservations_never_overshoot() {
        let store = Arc::new(InMemoryQuotaStore::default());
        let limit = Some(NanoUsd(1_000));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                match store.reserve("team", NanoUsd(100), limit).await {
                    Ok(reservation) => {
                        store.settle(reservation, NanoUsd(100)).await;
                        true
                    }
                    Err(_) => false,
                }
            }));
        }
        let mut served = 0;
        for task in tasks {
            served += usize::from(task.await.unwrap());
        }
        assert_eq!(served, 10);
        assert_eq!(store.spent("team").await, NanoUsd(1_000));
    }

    #[tokio::test]
    async fn settle_releases_the_unused_hold() {
        let store = InMemoryQuotaStore::default();
        let first = store
            .reserve("t", NanoUsd(900), Some(NanoUsd(1000)))
            .await
            .unwrap();
        assert!(
            store
                .reserve("t", NanoUsd(200), Some(NanoUsd(1000)))
                .await
                .is_err()
        );
        store.settle(first, NanoUsd(100)).await;
        let second = store
            .reserve("t", NanoUsd(800), Some(NanoUsd(1000)))
            .await
            .unwrap();
        store.settle(second, NanoUsd(0)).await;
        assert_eq!(store.spent("t").await, NanoUsd(100));
    }
}

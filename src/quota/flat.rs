//! Charges at a fixed price, such as a priced MCP tool call: held against
//! the same USD budgets as model calls (team and key), atomically with
//! every other reservation, and settled into the same counters and ledger,
//! so they hold under concurrency and survive restarts like model spend.
//! A charge has no tokens and is no model request: rate, token and
//! concurrency limits and per-model budgets do not apply to it.

use super::refusal::{Measure, RateHeaders};
use super::{Backend, Hold, Quota, counter_key};
use crate::cost::{NanoUsd, Usage};
use crate::error::GatewayError;
use crate::seams::quota::Charge;

/// Who is charged how much, for what.
#[derive(Debug, Clone, Copy)]
pub struct FlatAsk<'a> {
    /// The settle's id (the ledger row's): unique per charge.
    pub id: &'a str,
    pub team: &'a str,
    pub key: &'a str,
    /// What the ledger's `model` column names, e.g. `mcp:time/get_current_time`.
    pub item: &'a str,
    pub cost: NanoUsd,
}

impl Quota {
    /// Hold `ask.cost` against every USD budget of the team and the key, or
    /// refuse with the budget that would be exceeded.
    pub async fn reserve_flat(&self, ask: FlatAsk<'_>) -> Result<Hold, GatewayError> {
        let book = self.book.load();
        let mut hold = Hold {
            id: ask.id.to_owned(),
            charges: Vec::new(),
            measures: Vec::new(),
            backend: Backend::None,
            team: ask.team.to_owned(),
            key: ask.key.to_owned(),
            user: None,
            model: ask.item.to_owned(),
            price: None,
            entrant: None,
            flat: Some(ask.cost),
            reserved_cost: ask.cost,
            hard_cutoff: false,
            headers: RateHeaders::default(),
        };
        let now = self.clock.now_ms();
        let mut labels = Vec::new();
        for scope in book.scopes(ask.team, ask.key, None) {
            for (window, limit) in &scope.limits.budgets {
                let measure = Measure::Usd(*window);
                let (key, expires_ms) = counter_key(measure, &scope.key, now, 0);
                hold.charges.push(Charge {
                    key,
                    amount: ask.cost.0,
                    limit: Some(limit.0),
                    expires_ms,
                });
                hold.measures.push(measure);
                labels.push(scope.label.clone());
            }
        }
        if hold.charges.is_empty() {
            // No budget applies: nothing to hold, the settle still records it.
            return Ok(hold);
        }
        self.hold_in_store(hold, &labels, now).await
    }

    /// Settle a fixed-price hold: `ran` charges its price (counters and a
    /// ledger row), otherwise the hold is released and nothing is recorded.
    pub async fn settle_flat(&self, hold: Hold, ran: bool) {
        self.settle(hold, ran.then(Usage::default)).await;
    }
}

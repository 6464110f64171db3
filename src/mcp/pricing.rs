//! Prices per tool call (`[[mcp.servers]] tool_prices`), charged to the
//! calling team's budgets through the quota's fixed-price charges: held
//! before the call goes to the server (a budget that cannot take it refuses
//! the call), settled after it. Every governed call pays, whether a client
//! made it on `/mcp` or the gateway's own tool loop made it for a
//! Responses request.

use super::front::McpRequest;
use crate::cost::NanoUsd;
use crate::error::GatewayError;
use crate::quota::flat::FlatAsk;
use crate::quota::{Hold, Quota, limits::usd_to_nano};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The key of `tool_prices` that prices every tool not named.
pub const ANY_TOOL: &str = "*";

/// A server's prices per call, by its own tool names; `*` for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPrices {
    tools: BTreeMap<String, NanoUsd>,
    others: Option<NanoUsd>,
}

impl ToolPrices {
    /// Check `tool_prices` as written (USD per call); each bad price is
    /// reported at `<prefix>tool_prices.<tool>`.
    pub fn validate(
        raw: &BTreeMap<String, f64>,
        prefix: &str,
        problem: &mut dyn FnMut(String, String),
    ) -> Self {
        let mut prices = Self::default();
        for (tool, usd) in raw {
            let path = format!("{prefix}tool_prices.{tool}");
            if tool.is_empty() {
                problem(path, "a tool name cannot be empty".into());
                continue;
            }
            let Some(nano) = usd_to_nano(*usd) else {
                problem(
                    path,
                    format!("`{usd}` is not a price in USD per call (a number from 0 up)"),
                );
                continue;
            };
            if tool == ANY_TOOL {
                prices.others = Some(nano);
            } else {
                prices.tools.insert(tool.clone(), nano);
            }
        }
        prices
    }

    /// The price of one call of `tool` (its name on the server); `None`
    /// when it is free.
    pub fn of(&self, tool: &str) -> Option<NanoUsd> {
        self.tools
            .get(tool)
            .or(self.others.as_ref())
            .copied()
            .filter(|price| price.0 > 0)
    }
}

/// The price of one call, held until the call ends. Dropped unsettled (the
/// caller went away while the call was at the server) it is charged: the
/// server may have done the work, as a model stream a client leaves is
/// still paid for.
pub struct ToolCharge {
    quota: Arc<Quota>,
    hold: Option<Hold>,
    pub cost: NanoUsd,
}

impl ToolCharge {
    /// Hold the price of `server`/`tool` for `request`'s team and key, or
    /// refuse with the budget it would exceed. `None` for a free tool.
    pub async fn reserve(
        quota: &Arc<Quota>,
        request: &McpRequest,
        server: &str,
        tool: &str,
        prices: &ToolPrices,
    ) -> Result<Option<Self>, GatewayError> {
        let Some(cost) = prices.of(tool) else {
            return Ok(None);
        };
        // Our own id per call: the ledger keys rows by it, and one request
        // (a tool loop) makes several calls.
        let id = uuid::Uuid::now_v7().to_string();
        let item = format!("mcp:{server}/{tool}");
        let hold = quota
            .reserve_flat(FlatAsk {
                id: &id,
                team: &request.caller.team,
                key: &request.caller.key_id,
                item: &item,
                cost,
            })
            .await?;
        Ok(Some(Self {
            quota: quota.clone(),
            hold: Some(hold),
            cost,
        }))
    }

    /// Charge the price when the server ran the call (`ran`), else release
    /// it. Returns what was charged.
    pub async fn settle(mut self, ran: bool) -> NanoUsd {
        if let Some(hold) = self.hold.take() {
            self.quota.settle_flat(hold, ran).await;
        }
        if ran { self.cost } else { NanoUsd(0) }
    }
}

impl Drop for ToolCharge {
    fn drop(&mut self) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        let quota = self.quota.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { quota.settle_flat(hold, true).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_tool_beats_the_default_and_zero_is_free() {
        let raw: BTreeMap<String, f64> = [("get_time", 0.001), ("*", 0.0005), ("free", 0.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut problems = Vec::new();
        let prices = ToolPrices::validate(&raw, "mcp.servers[0].", &mut |p, m| {
            problems.push((p, m));
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(prices.of("get_time"), Some(NanoUsd(1_000_000)));
        assert_eq!(prices.of("other"), Some(NanoUsd(500_000)));
        assert_eq!(prices.of("free"), None);
        assert_eq!(ToolPrices::default().of("any"), None);
    }

    #[test]
    fn bad_prices_are_named_by_their_path() {
        let raw: BTreeMap<String, f64> = [("neg", -1.0), ("nan", f64::NAN), ("ok", 2.5)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut paths = Vec::new();
        let prices = ToolPrices::validate(&raw, "mcp.servers[1].", &mut |p, _| paths.push(p));
        assert_eq!(
            paths,
            [
                "mcp.servers[1].tool_prices.nan",
                "mcp.servers[1].tool_prices.neg"
            ]
        );
        assert_eq!(prices.of("ok"), Some(NanoUsd(2_500_000_000)));
    }
}

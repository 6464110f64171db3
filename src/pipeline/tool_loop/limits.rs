//! One loop's bounds (`[tool_loop]`, lowered by the request) and what it
//! has used of them: model calls, tool calls, time and dollars. The spend
//! is what was settled: each model call's cost as its settlement computed
//! it, each tool call's price as the governed call charged it; so the loop
//! and the ledger agree to the nano-dollar.

use super::servers::invalid;
use crate::config::tool_loop::ToolLoopSettings;
use crate::cost::{Cost, NanoUsd};
use crate::error::GatewayError;
use crate::quota::limits::usd_to_nano;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What a request may ask of its loop through the `tool_loop` extension:
/// lower bounds, never higher ones.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub max_tool_calls: Option<u32>,
    pub max_cost: Option<NanoUsd>,
}

impl Asked {
    /// The `tool_loop` extension object: `{"max_cost_usd": 0.05}`. Anything
    /// else in it is a 400 naming the field.
    pub fn read(value: Option<&Value>) -> Result<Self, GatewayError> {
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let Some(object) = value.as_object() else {
            return Err(invalid(
                "`tool_loop` must be an object, like {\"max_cost_usd\": 0.05}".into(),
                "tool_loop",
            ));
        };
        if let Some(name) = object.keys().find(|name| *name != "max_cost_usd") {
            return Err(invalid(
                format!("Unknown parameter: 'tool_loop.{name}'."),
                &format!("tool_loop.{name}"),
            ));
        }
        let max_cost = match object.get("max_cost_usd") {
            None => None,
            Some(usd) => Some(
                usd.as_f64()
                    .and_then(usd_to_nano)
                    .filter(|nano| nano.0 > 0)
                    .ok_or_else(|| {
                        invalid(
                            "`tool_loop.max_cost_usd` must be an amount of USD above 0".into(),
                            "tool_loop.max_cost_usd",
                        )
                    })?,
            ),
        };
        Ok(Self {
            max_tool_calls: None,
            max_cost,
        })
    }
}

/// A loop's bounds and its use of them.
pub(super) struct Limits {
    iterations: usize,
    tool_calls: u32,
    wall_time: Duration,
    cost: NanoUsd,
    started: Instant,
    pub model_calls: usize,
    pub calls: u32,
    pub spent: NanoUsd,
}

/// Dollars as people read them: `$0.000123`.
fn usd(nano: NanoUsd) -> String {
    let text = format!("{:.9}", nano.as_usd());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}")
}

impl Limits {
    pub fn new(settings: &ToolLoopSettings, asked: Asked) -> Self {
        let lower = |asked: Option<u32>, most: u32| asked.map_or(most, |asked| asked.min(most));
        Self {
            iterations: settings.max_iterations,
            tool_calls: lower(asked.max_tool_calls, settings.max_tool_calls),
            wall_time: settings.max_wall_time,
            cost: asked
                .max_cost
                .map_or(settings.max_cost, |asked| asked.min(settings.max_cost)),
            started: Instant::now(),
            model_calls: 0,
            calls: 0,
            spent: NanoUsd(0),
        }
    }

    /// A settled model call: its cost (none for a cache hit, nothing
    /// counted for an unpriced model).
    pub fn model_settled(&mut self, cost: Option<Cost>) {
        self.model_calls += 1;
        if let Some(Cost::Known(cost)) = cost {
            self.spent.0 = self.spent.0.saturating_add(cost.0);
        }
    }

    /// A tool call made (it counts against the limit whatever its end), and
    /// what it was charged.
    pub fn tool_called(&mut self, charged: NanoUsd) {
        self.calls += 1;
        self.spent.0 = self.spent.0.saturating_add(charged.0);
    }

    /// Whether the loop has spent anything yet: a budget's refusal after
    /// that ends the loop with what it made, before it is the plain error.
    pub fn started(&self) -> bool {
        self.model_calls > 0 || self.calls > 0
    }

    fn cost_reached(&self) -> Option<String> {
        (self.spent >= self.cost).then(|| {
            format!(
                "the tool loop reached its limit of {} (it spent {} on {} model calls and {} tool calls)",
                usd(self.cost),
                usd(self.spent),
                self.model_calls,
                self.calls
            )
        })
    }

    /// Why another model call may not start, if it may not.
    pub fn before_model(&self) -> Option<String> {
        if self.model_calls >= self.iterations || self.started.elapsed() > self.wall_time {
            return Some(format!(
                "the tool loop stopped after {} model calls and {} tool calls \
                 (limits: {} model calls, {} tool calls, {}s)",
                self.model_calls,
                self.calls,
                self.iterations,
                self.tool_calls,
                self.wall_time.as_secs()
            ));
        }
        self.cost_reached()
    }

    /// Why another tool call may not start, if it may not.
    pub fn before_tool(&self) -> Option<String> {
        if self.calls >= self.tool_calls {
            return Some(format!(
                "the tool loop reached its limit of {} tool calls",
                self.tool_calls
            ));
        }
        self.cost_reached()
    }

    /// What the loop used, as the response reports it (`tool_loop`).
    pub fn report(&self) -> Value {
        json!({
            "model_calls": self.model_calls,
            "tool_calls": self.calls,
            "cost_usd": self.spent.as_usd(),
            "max_cost_usd": self.cost.as_usd(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ToolLoopSettings {
        ToolLoopSettings {
            max_cost: NanoUsd(1_000),
            ..ToolLoopSettings::default()
        }
    }

    #[test]
    fn a_request_lowers_the_dollar_limit_and_never_raises_it() {
        let lowered = Asked::read(Some(&json!({"max_cost_usd": 0.0000005}))).unwrap();
        assert_eq!(Limits::new(&settings(), lowered).cost, NanoUsd(500));
        let raised = Asked::read(Some(&json!({"max_cost_usd": 5.0}))).unwrap();
        assert_eq!(Limits::new(&settings(), raised).cost, NanoUsd(1_000));
    }

    #[test]
    fn bad_extensions_name_their_field() {
        for (value, param) in [
            (json!(3), "tool_loop"),
            (json!({"max_cost_usd": 0}), "tool_loop.max_cost_usd"),
            (json!({"max_cost_usd": "1"}), "tool_loop.max_cost_usd"),
            (json!({"max_cost_usd": -2.0}), "tool_loop.max_cost_usd"),
            (json!({"max_calls": 2}), "tool_loop.max_calls"),
        ] {
            match Asked::read(Some(&value)) {
                Err(GatewayError::InvalidRequest { param: Some(p), .. }) => {
                    assert_eq!(p, param, "{value}");
                }
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn spend_that_reaches_the_limit_stops_the_next_call_of_either_kind() {
        let mut limits = Limits::new(&settings(), Asked::default());
        assert!(!limits.started());
        limits.model_settled(Some(Cost::Known(NanoUsd(600))));
        limits.model_settled(Some(Cost::Unknown));
        limits.model_settled(None);
        assert_eq!(limits.spent, NanoUsd(600));
        assert_eq!(limits.before_model(), None);
        assert_eq!(limits.before_tool(), None);
        limits.tool_called(NanoUsd(400));
        let reached = limits.before_model().expect("the limit is reached");
        assert!(
            reached.contains("limit of $0.000001") && reached.contains("spent $0.000001"),
            "{reached}"
        );
        assert_eq!(limits.before_tool(), Some(reached));
        assert_eq!(limits.report()["cost_usd"], json!(0.000001));
    }

    #[test]
    fn counts_stop_before_the_call_past_them() {
        let settings = ToolLoopSettings {
            max_iterations: 1,
            max_tool_calls: 1,
            ..ToolLoopSettings::default()
        };
        let asked = Asked {
            max_tool_calls: Some(5),
            max_cost: None,
        };
        let mut limits = Limits::new(&settings, asked);
        assert_eq!(limits.before_model(), None);
        limits.model_settled(None);
        assert!(limits.before_model().is_some());
        limits.tool_called(NanoUsd(0));
        assert_eq!(
            limits.before_tool().as_deref(),
            Some("the tool loop reached its limit of 1 tool calls")
        );
    }
}

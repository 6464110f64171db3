//! `[tool_loop]`: the bounds of every tool loop the gateway runs (model
//! calls, tool calls, wall time, dollars; the loop is
//! `pipeline/tool_loop/`). Read when a loop starts, so a reload changes the
//! loops that start after it and never one running.

use crate::cost::NanoUsd;
use crate::quota::limits::usd_to_nano;
use serde::Deserialize;
use std::time::Duration;

/// Most model calls a loop may be allowed: each is a whole chat request.
const ITERATIONS_CEILING: u64 = 100;
/// Most tool calls a loop may be allowed.
const TOOL_CALLS_CEILING: u64 = 1_000;
/// Longest a loop may be allowed to run: a request held open longer is a
/// job, not a request.
const WALL_TIME_CEILING: Duration = Duration::from_secs(3_600);

/// `[tool_loop]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolLoop {
    /// Model calls one loop may make (1 to 100). Default 10.
    #[serde(default)]
    pub max_iterations: Option<u64>,
    /// Tool calls one loop may make (1 to 1000); a Responses request's
    /// `max_tool_calls` may lower it. Default 20.
    #[serde(default)]
    pub max_tool_calls: Option<u64>,
    /// Wall time of one loop, e.g. `"5m"` (the default; at most `"1h"`).
    #[serde(default)]
    pub max_wall_time: Option<String>,
    /// Dollars one loop may spend: its model calls as settled (an unpriced
    /// model counts nothing) and its priced tool calls (`tool_prices`). The
    /// loop ends with `tool_loop_limit` once its spend reaches this, before
    /// its next model or tool call; a call under way is finished and paid.
    /// A request's `tool_loop.max_cost_usd` may lower it. Default 1.0.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
}

/// `[tool_loop]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLoopSettings {
    pub max_iterations: usize,
    pub max_tool_calls: u32,
    pub max_wall_time: Duration,
    pub max_cost: NanoUsd,
}

impl Default for ToolLoopSettings {
    fn default() -> Self {
        Self {
            max_iterations: 10,
            max_tool_calls: 20,
            max_wall_time: Duration::from_secs(300),
            max_cost: NanoUsd(1_000_000_000),
        }
    }
}

/// A count between 1 and `ceiling`, or a problem at `tool_loop.<field>`.
fn count(
    value: Option<u64>,
    field: &str,
    ceiling: u64,
    default: u64,
    problem: &mut dyn FnMut(String, String),
) -> u64 {
    match value {
        None => default,
        Some(n) if (1..=ceiling).contains(&n) => n,
        Some(n) => {
            problem(
                format!("tool_loop.{field}"),
                format!("`{n}` is not a count from 1 to {ceiling}"),
            );
            default
        }
    }
}

pub fn validate(raw: &RawToolLoop, problem: &mut dyn FnMut(String, String)) -> ToolLoopSettings {
    let default = ToolLoopSettings::default();
    let max_iterations = count(
        raw.max_iterations,
        "max_iterations",
        ITERATIONS_CEILING,
        default.max_iterations as u64,
        problem,
    );
    let max_tool_calls = count(
        raw.max_tool_calls,
        "max_tool_calls",
        TOOL_CALLS_CEILING,
        u64::from(default.max_tool_calls),
        problem,
    );
    let max_wall_time = match raw.max_wall_time.as_deref().map(humantime::parse_duration) {
        None => default.max_wall_time,
        Some(Ok(time)) if !time.is_zero() && time <= WALL_TIME_CEILING => time,
        Some(_) => {
            problem(
                "tool_loop.max_wall_time".into(),
                "must be a duration longer than zero and at most \"1h\", like \"5m\"".into(),
            );
            default.max_wall_time
        }
    };
    let max_cost = match raw.max_cost_usd {
        None => default.max_cost,
        Some(usd) => match usd_to_nano(usd).filter(|nano| nano.0 > 0) {
            Some(nano) => nano,
            None => {
                problem(
                    "tool_loop.max_cost_usd".into(),
                    format!("`{usd}` is not an amount of USD above 0 and up to 1e9"),
                );
                default.max_cost
            }
        },
    };
    ToolLoopSettings {
        max_iterations: max_iterations as usize,
        max_tool_calls: max_tool_calls as u32,
        max_wall_time,
        max_cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> (ToolLoopSettings, Vec<String>) {
        let raw: RawToolLoop = toml::from_str(text).expect("the TOML parses");
        let mut paths = Vec::new();
        let settings = validate(&raw, &mut |path, _| paths.push(path));
        (settings, paths)
    }

    #[test]
    fn nothing_written_is_the_defaults() {
        assert_eq!(checked(""), (ToolLoopSettings::default(), Vec::new()));
    }

    #[test]
    fn written_values_are_read() {
        let (settings, problems) = checked(
            "max_iterations = 3\nmax_tool_calls = 4\nmax_wall_time = \"90s\"\nmax_cost_usd = 0.25",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            settings,
            ToolLoopSettings {
                max_iterations: 3,
                max_tool_calls: 4,
                max_wall_time: Duration::from_secs(90),
                max_cost: NanoUsd(250_000_000),
            }
        );
    }

    #[test]
    fn each_bad_value_is_named_by_its_field() {
        let (_, problems) = checked(
            "max_iterations = 0\nmax_tool_calls = 5000\nmax_wall_time = \"2h\"\nmax_cost_usd = 0.0",
        );
        assert_eq!(
            problems,
            [
                "tool_loop.max_iterations",
                "tool_loop.max_tool_calls",
                "tool_loop.max_wall_time",
                "tool_loop.max_cost_usd"
            ]
        );
        let (_, problems) = checked("max_cost_usd = -1.0\nmax_wall_time = \"soon\"");
        assert_eq!(
            problems,
            ["tool_loop.max_wall_time", "tool_loop.max_cost_usd"]
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        assert!(toml::from_str::<RawToolLoop>("max_dollars = 1").is_err());
    }
}

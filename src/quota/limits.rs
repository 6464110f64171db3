//! Limits as the operator writes them (`RawLimits`, in `switchboard.toml` and
//! in admin API bodies) and as the quota stage uses them (`Limits`).

use super::window::Window;
use crate::cost::NanoUsd;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Limits of one scope: a team, a key, one model within either, or each end
/// user of a team. Every limit is optional; an absent limit does not apply.
/// Windows are calendar-aligned in UTC (see `quota::window`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest spend in USD per UTC calendar minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_minute: Option<f64>,
    /// Largest spend in USD per UTC calendar hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_hour: Option<f64>,
    /// Largest spend in USD per UTC calendar day (resets at 00:00 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_day: Option<f64>,
    /// Largest spend in USD per UTC calendar month (resets on the 1st, 00:00 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<f64>,
    /// Largest spend in USD ever; never resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_total: Option<f64>,
    /// Prompt plus completion tokens per UTC calendar minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Requests per UTC calendar minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Requests in flight at once (a stream counts until it ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
    /// Limits for one model, keyed by its public name (`provider/model` or an
    /// alias), applied on top of the limits above to requests for that model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, RawLimits>,
}

/// Validated limits. Money is integer nano-USD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub budgets: Vec<(Window, NanoUsd)>,
    pub tokens_per_minute: Option<u64>,
    pub requests_per_minute: Option<u64>,
    pub max_concurrent: Option<u64>,
    pub models: BTreeMap<String, Limits>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
            && self.tokens_per_minute.is_none()
            && self.requests_per_minute.is_none()
            && self.max_concurrent.is_none()
            && self.models.is_empty()
    }

    /// Whether any spend budget applies to requests for `model`.
    pub fn has_budget_for(&self, model: &str) -> bool {
        !self.budgets.is_empty()
            || self
                .models
                .get(model)
                .is_some_and(|limits| !limits.budgets.is_empty())
    }
}

impl Limits {
    /// Back to the written form, for the admin API's reads.
    pub fn to_raw(&self) -> RawLimits {
        let mut raw = RawLimits {
            tokens_per_minute: self.tokens_per_minute,
            requests_per_minute: self.requests_per_minute,
            max_concurrent: self.max_concurrent,
            models: self
                .models
                .iter()
                .map(|(model, limits)| (model.clone(), limits.to_raw()))
                .collect(),
            ..RawLimits::default()
        };
        for (window, amount) in &self.budgets {
            let usd = Some(amount.as_usd());
            match window {
                Window::Minute => raw.usd_per_minute = usd,
                Window::Hour => raw.usd_per_hour = usd,
                Window::Day => raw.usd_per_day = usd,
                Window::Month => raw.usd_per_month = usd,
                Window::Total => raw.usd_total = usd,
            }
        }
        raw
    }
}

/// USD as written → nano-USD; `None` for negative, non-finite or absurd values.
pub fn usd_to_nano(usd: f64) -> Option<NanoUsd> {
    (usd.is_finite() && (0.0..=1e9).contains(&usd)).then(|| NanoUsd((usd * 1e9).round() as u64))
}

impl RawLimits {
    /// Checks and converts; each problem is reported with its path under `path`.
    pub fn validate(&self, path: &str, problem: &mut dyn FnMut(String, String)) -> Limits {
        self.validate_at(path, true, problem)
    }

    fn validate_at(
        &self,
        path: &str,
        allow_models: bool,
        problem: &mut dyn FnMut(String, String),
    ) -> Limits {
        let mut budgets = Vec::new();
        for (window, field, value) in [
            (Window::Minute, "usd_per_minute", self.usd_per_minute),
            (Window::Hour, "usd_per_hour", self.usd_per_hour),
            (Window::Day, "usd_per_day", self.usd_per_day),
            (Window::Month, "usd_per_month", self.usd_per_month),
            (Window::Total, "usd_total", self.usd_total),
        ] {
            if let Some(usd) = value {
                match usd_to_nano(usd) {
                    Some(nano) => budgets.push((window, nano)),
                    None => problem(
                        format!("{path}.{field}"),
                        format!("`{usd}` is not an amount of USD between 0 and 1e9"),
                    ),
                }
            }
        }
        if !allow_models && !self.models.is_empty() {
            problem(
                format!("{path}.models"),
                "per-model limits cannot be nested inside per-model limits".into(),
            );
        }
        let models = self
            .models
            .iter()
            .map(|(model, raw)| {
                let limits = raw.validate_at(&format!("{path}.models.{model}"), false, problem);
                (model.clone(), limits)
            })
            .collect();
        Limits {
            budgets,
            tokens_per_minute: self.tokens_per_minute,
            requests_per_minute: self.requests_per_minute,
            max_concurrent: self.max_concurrent,
            models,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str, expected_problems: &[&str]) -> Limits {
        let raw: RawLimits = toml::from_str(toml_text).expect("decodes");
        let mut problems = Vec::new();
        let limits = raw.validate("teams[0].limits", &mut |path, _| problems.push(path));
        assert_eq!(problems, expected_problems);
        limits
    }

    #[test]
    fn limits_validate_with_paths() {
        let limits = check("usd_per_day = 1.5\nrequests_per_minute = 10", &[]);
        assert_eq!(limits.budgets, vec![(Window::Day, NanoUsd(1_500_000_000))]);
        check("usd_total = -1", &["teams[0].limits.usd_total"]);
        check(
            "[models.fast]\nusd_per_hour = 0.000000001\n[models.fast.models.x]\nusd_total = 1",
            &["teams[0].limits.models.fast.models"],
        );
        let limits = check("[models.fast]\nusd_per_hour = 0.000000001", &[]);
        assert_eq!(
            limits.models["fast"].budgets,
            vec![(Window::Hour, NanoUsd(1))]
        );
        assert!(limits.has_budget_for("fast"));
        assert!(!limits.has_budget_for("slow"));
        assert!(toml::from_str::<RawLimits>("usd_per_week = 1").is_err());
    }
}

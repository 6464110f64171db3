//! Money and usage. Money is integer nano-USD so that sums are exact; a price
//! the provider data does not give is `Cost::Unknown`, never zero.

use crate::catalog::Price;
use serde::Deserialize;

/// 1e-9 USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct NanoUsd(pub u64);

impl NanoUsd {
    pub fn as_usd(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// Token usage of one request, as providers report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (billed lower).
    pub cached_prompt_tokens: u64,
}

/// The cost of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Known(NanoUsd),
    /// The model has no price in the provider data.
    Unknown,
}

impl Cost {
    pub fn usd(self) -> Option<f64> {
        match self {
            Self::Known(n) => Some(n.as_usd()),
            Self::Unknown => None,
        }
    }
}

/// A model's prices in nano-USD per thousand tokens: exact for any price
/// written to six decimals in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceTable {
    input: u64,
    cached_input: u64,
    output: u64,
}

impl PriceTable {
    pub fn from_price(price: &Price) -> Self {
        // USD per 1M tokens → nano-USD per 1k tokens: × 1e9 / 1e3.
        let convert = |usd_per_mtok: f64| (usd_per_mtok * 1e6).round() as u64;
        let input = convert(price.input);
        Self {
            input,
            cached_input: price.cached_input.map_or(input, convert),
            output: price.output.map_or(0, convert),
        }
    }

    pub fn cost(&self, usage: &Usage) -> NanoUsd {
        let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
        let fresh = usage.prompt_tokens - cached;
        let per_thousand = u128::from(fresh) * u128::from(self.input)
            + u128::from(cached) * u128::from(self.cached_input)
            + u128::from(usage.completion_tokens) * u128::from(self.output);
        // Round up: a request never costs less than its tokens.
        NanoUsd(u64::try_from(per_thousand.div_ceil(1000)).unwrap_or(u64::MAX))
    }
}

/// The `usage` object of an OpenAI response or stream chunk.
#[derive(Debug, Default, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Self {
        Self {
            prompt_tokens: wire.prompt_tokens,
            completion_tokens: wire.completion_tokens,
            cached_prompt_tokens: wire
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(price: Price, usage: Usage, expected_nano: u64) {
        assert_eq!(
            PriceTable::from_price(&price).cost(&usage),
            NanoUsd(expected_nano)
        );
    }

    #[test]
    fn costs_are_exact() {
        let mini = Price {
            input: 0.15,
            cached_input: Some(0.075),
            output: Some(0.60),
        };
        // 1000 prompt tokens at $0.15/M = $0.00015 = 150_000 nano-USD.
        check(
            mini,
            Usage {
                prompt_tokens: 1000,
                completion_tokens: 0,
                cached_prompt_tokens: 0,
            },
            150_000,
        );
        check(
            mini,
            Usage {
                prompt_tokens: 0,
                completion_tokens: 1000,
                cached_prompt_tokens: 0,
            },
            600_000,
        );
        check(
            mini,
            Usage {
                prompt_tokens: 1000,
                completion_tokens: 0,
                cached_prompt_tokens: 1000,
            },
            75_000,
        );
        // A single token at $0.0375/M is 37.5 nano-USD: rounded up, never down.
        let cheap = Price {
            input: 0.0375,
            cached_input: None,
            output: Some(0.0),
        };
        check(
            cheap,
            Usage {
                prompt_tokens: 1,
                completion_tokens: 0,
                cached_prompt_tokens: 0,
            },
            38,
        );
        check(
            cheap,
            Usage {
                prompt_tokens: 2,
                completion_tokens: 0,
                cached_prompt_tokens: 0,
            },
            75,
        );
        let free = Price {
            input: 0.0,
            cached_input: None,
            output: Some(0.0),
        };
        check(
            free,
            Usage {
                prompt_tokens: 10_000,
                completion_tokens: 10_000,
                cached_prompt_tokens: 0,
            },
            0,
        );
    }

    #[test]
    fn unknown_is_not_zero() {
        assert_eq!(Cost::Unknown.usd(), None);
        assert_eq!(Cost::Known(NanoUsd(0)).usd(), Some(0.0));
    }
}

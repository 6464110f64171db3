//! What the client learns about its limits: the 429 body and headers of a
//! refusal, and the `x-ratelimit-*` headers OpenAI sends on every response.

use super::window::Window;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// What a counter measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Usd(Window),
    TokensPerMinute,
    RequestsPerMinute,
    Concurrent,
    /// End users (the `user` field) a team's counters track at once
    /// (`quota.max_end_users`): a new one is refused while the team is at it.
    EndUsers,
}

impl Measure {
    pub fn tag(self) -> &'static str {
        match self {
            Self::Usd(window) => match window {
                Window::Minute => "usd:minute",
                Window::Hour => "usd:hour",
                Window::Day => "usd:day",
                Window::Month => "usd:month",
                Window::Total => "usd:total",
            },
            Self::TokensPerMinute => "tok:minute",
            Self::RequestsPerMinute => "req:minute",
            Self::Concurrent => "conc",
            Self::EndUsers => "end_users",
        }
    }

    fn window(self) -> Option<Window> {
        match self {
            Self::Usd(window) => Some(window),
            Self::TokensPerMinute | Self::RequestsPerMinute => Some(Window::Minute),
            Self::Concurrent | Self::EndUsers => None,
        }
    }

    /// OpenAI's `type` for the refusal.
    fn kind(self) -> &'static str {
        match self {
            Self::Usd(_) => "insufficient_quota",
            Self::TokensPerMinute => "tokens",
            Self::RequestsPerMinute => "requests",
            Self::Concurrent => "requests",
            Self::EndUsers => "end_users",
        }
    }

    fn amount(self, value: u64) -> Value {
        match self {
            Self::Usd(_) => json!(value as f64 / 1e9),
            _ => json!(value),
        }
    }
}

/// A request refused because one limit would pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// e.g. `team alpha`, `key ci`, `team alpha, model openai/gpt-4o-mini`, `user bob in team alpha`.
    pub scope: String,
    pub measure: Measure,
    pub limit: u64,
    pub current: u64,
    pub requested: u64,
    /// Unix ms when the window resets; `None` for totals and concurrency.
    pub resets_at_ms: Option<u64>,
    pub now_ms: u64,
}

impl Refusal {
    fn retry_after_ms(&self) -> u64 {
        self.resets_at_ms
            .map_or(1000, |at| at.saturating_sub(self.now_ms))
    }
}

impl crate::error::LimitRefusal for Refusal {
    /// Extra members of the error object that name the limit.
    fn fields(&self) -> Value {
        json!({
            "scope": self.scope,
            "limit_kind": self.measure.tag(),
            "window": self.measure.window().map(Window::name),
            "window_alignment": self.measure.window().map(|_| "calendar_utc"),
            "limit": self.measure.amount(self.limit),
            "current": self.measure.amount(self.current),
            "requested": self.measure.amount(self.requested),
            "resets_at_ms": self.resets_at_ms,
        })
    }

    fn message(&self) -> String {
        if self.measure == Measure::EndUsers {
            let frees = match self.resets_at_ms {
                Some(_) => format!(
                    "; the next place frees up in {}",
                    reset_text(self.retry_after_ms())
                ),
                None => String::new(),
            };
            return format!(
                "limit reached for {}: it already tracks {} end users (the request's `user` field), \
                 the most quota.max_end_users allows, and `user` names a new one; \
                 an end user stops being tracked once its counters have expired{frees}",
                self.scope, self.current,
            );
        }
        let what = match self.measure {
            Measure::Usd(Window::Total) => "total USD budget".to_owned(),
            Measure::Usd(window) => {
                format!("USD budget per {} (calendar-aligned, UTC)", window.name())
            }
            Measure::TokensPerMinute => "tokens per minute".to_owned(),
            Measure::RequestsPerMinute => "requests per minute".to_owned(),
            Measure::Concurrent => "concurrent requests".to_owned(),
            Measure::EndUsers => "end users".to_owned(),
        };
        let amount = |v: u64| match self.measure {
            Measure::Usd(_) => format!("${:.9}", v as f64 / 1e9),
            _ => v.to_string(),
        };
        let reset = match self.resets_at_ms {
            Some(_) => format!("; resets in {}", reset_text(self.retry_after_ms())),
            None => String::new(),
        };
        format!(
            "limit reached for {}: {what} of {} with {} used and {} requested{reset}",
            self.scope,
            amount(self.limit),
            amount(self.current),
            amount(self.requested),
        )
    }

    fn openai_type(&self) -> &'static str {
        self.measure.kind()
    }

    fn code(&self) -> &'static str {
        match self.measure {
            Measure::Usd(_) => "insufficient_quota",
            Measure::EndUsers => "too_many_end_users",
            _ => "rate_limit_exceeded",
        }
    }

    /// `Retry-After` in whole seconds (at least 1), and the rate headers.
    fn headers(&self, headers: &mut HeaderMap) {
        let seconds = self.retry_after_ms().div_ceil(1000).max(1);
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        let rate = RateHeader {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.current),
            reset_ms: self.retry_after_ms(),
        };
        match self.measure {
            Measure::RequestsPerMinute | Measure::Concurrent => {
                rate.apply(headers, &REQUEST_HEADERS);
            }
            Measure::TokensPerMinute => rate.apply(headers, &TOKEN_HEADERS),
            Measure::Usd(_) | Measure::EndUsers => {}
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// One `x-ratelimit-*` triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeader {
    pub limit: u64,
    pub remaining: u64,
    pub reset_ms: u64,
}

const REQUEST_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
];
const TOKEN_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

impl RateHeader {
    fn apply(self, headers: &mut HeaderMap, names: &[HeaderName; 3]) {
        headers.insert(names[0].clone(), HeaderValue::from(self.limit));
        headers.insert(names[1].clone(), HeaderValue::from(self.remaining));
        if let Ok(value) = HeaderValue::from_str(&reset_text(self.reset_ms)) {
            headers.insert(names[2].clone(), value);
        }
    }
}

/// The tightest request and token limits of a request, sent as OpenAI does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests: Option<RateHeader>,
    pub tokens: Option<RateHeader>,
}

impl RateHeaders {
    pub fn apply(&self, headers: &mut HeaderMap) {
        if let Some(requests) = self.requests {
            requests.apply(headers, &REQUEST_HEADERS);
        }
        if let Some(tokens) = self.tokens {
            tokens.apply(headers, &TOKEN_HEADERS);
        }
    }

    /// Keep whichever of the two has less left.
    pub fn tighter(current: Option<RateHeader>, candidate: RateHeader) -> Option<RateHeader> {
        match current {
            Some(existing) if existing.remaining <= candidate.remaining => Some(existing),
            _ => Some(candidate),
        }
    }
}

/// OpenAI's duration format: `20ms`, `6s`, `1m0s`.
pub fn reset_text(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = ms.div_ceil(1000);
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LimitRefusal;

    #[test]
    fn reset_texts() {
        for (ms, text) in [
            (0, "0ms"),
            (20, "20ms"),
            (1000, "1s"),
            (1001, "2s"),
            (60_000, "1m0s"),
            (366_000, "6m6s"),
            (3_600_000, "1h0m0s"),
        ] {
            assert_eq!(reset_text(ms), text);
        }
    }

    #[test]
    fn refusal_names_the_limit() {
        let refusal = Refusal {
            scope: "team alpha".into(),
            measure: Measure::Usd(Window::Day),
            limit: 1_000_000_000,
            current: 999_000_000,
            requested: 2_000_000,
            resets_at_ms: Some(90_500),
            now_ms: 60_000,
        };
        let fields = refusal.fields();
        assert_eq!(fields["scope"], "team alpha");
        assert_eq!(fields["window"], "day");
        assert_eq!(fields["limit"], 1.0);
        assert!(
            refusal.message().contains("resets in 31s"),
            "{}",
            refusal.message()
        );
        let mut headers = HeaderMap::new();
        refusal.headers(&mut headers);
        assert_eq!(headers["retry-after"], "31");
    }
}

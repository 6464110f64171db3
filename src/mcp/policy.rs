//! Per-team tool policy: which tools (allow and deny globs over
//! `<server>/<tool>`), conditions on arguments (JSON Schema), and per-tool
//! rate limits counted per team.

use globset::{GlobMatcher, GlobSet};
use governor::clock::Clock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Why a call was refused before it reached the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The team's policy does not allow the tool.
    NotAllowed,
    /// The arguments break a configured condition.
    Arguments { pattern: String, reason: String },
    /// The team used up the tool's allowance; retry after this long.
    RateLimited {
        pattern: String,
        retry_after: Duration,
    },
}

pub struct TeamPolicy {
    pub allow: GlobSet,
    pub deny: GlobSet,
    pub conditions: Vec<Condition>,
    pub rate_limits: Vec<RateRule>,
    /// Whether servers may ask the team's clients for a model completion
    /// (`sampling/createMessage`) during a call.
    pub sampling: bool,
    /// Whether servers may ask the team's users for input
    /// (`elicitation/create`) during a call.
    pub elicitation: bool,
}

impl std::fmt::Debug for TeamPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamPolicy")
            .field("conditions", &self.conditions.len())
            .field("rate_limits", &self.rate_limits.len())
            .finish_non_exhaustive()
    }
}

pub struct Condition {
    pub tools: GlobMatcher,
    pub pattern: String,
    pub validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

/// Tokio's clock, so rate limits follow paused time in tests and share the
/// runtime's notion of time everywhere else.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    TokioClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

pub struct RateRule {
    pub tools: GlobMatcher,
    pub pattern: String,
    /// Calls allowed per `per`, all usable at once.
    pub calls: NonZeroU32,
    pub per: Duration,
    clock: TokioClock,
    /// Keyed by `<server>/<tool>`: each matching tool has its own allowance.
    limiter: Limiter,
}

impl std::fmt::Debug for RateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateRule")
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl RateRule {
    pub fn new(tools: GlobMatcher, pattern: String, calls: NonZeroU32, per: Duration) -> Self {
        // `calls` per `per`, all usable at once: one call's worth refills every per/calls.
        let quota = Quota::with_period(per / calls.get())
            .unwrap_or_else(|| Quota::per_second(calls))
            .allow_burst(calls);
        let clock = TokioClock::default();
        Self {
            tools,
            pattern,
            calls,
            per,
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
        }
    }
}

impl TeamPolicy {
    /// Whether the team may see and call `<server>/<tool>`.
    pub fn allows(&self, subject: &str) -> bool {
        self.allow.is_match(subject) && !self.deny.is_match(subject)
    }

    /// Everything a call must pass before it goes upstream, cheapest first,
    /// with rate limits counted in this process.
    pub fn check_call(&self, subject: &str, arguments: &Value) -> Result<(), Refusal> {
        self.check_arguments(subject, arguments)?;
        self.take_local(subject)
    }

    /// The tool is allowed and its arguments meet every condition.
    pub fn check_arguments(&self, subject: &str, arguments: &Value) -> Result<(), Refusal> {
        if !self.allows(subject) {
            return Err(Refusal::NotAllowed);
        }
        for condition in &self.conditions {
            if !condition.tools.is_match(subject) {
                continue;
            }
            if let Err(error) = condition.validator.validate(arguments) {
                let at = error.instance_path().to_string();
                let reason = if at.is_empty() {
                    error.to_string()
                } else {
                    format!("{error} (at `{at}`)")
                };
                return Err(Refusal::Arguments {
                    pattern: condition.pattern.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Take one call from every matching rate limit, counted in this process.
    /// Called only when the rest has passed, so a refused call uses nothing.
    pub fn take_local(&self, subject: &str) -> Result<(), Refusal> {
        for rule in self
            .rate_limits
            .iter()
            .filter(|rule| rule.tools.is_match(subject))
        {
            rule.take_local(subject)?;
        }
        Ok(())
    }
}

impl RateRule {
    /// One call from this rule's allowance for `subject`, in this process.
    pub fn take_local(&self, subject: &str) -> Result<(), Refusal> {
        self.limiter
            .check_key(&subject.to_owned())
            .map_err(|not_until| Refusal::RateLimited {
                pattern: self.pattern.clone(),
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::{Glob, GlobSetBuilder};

    fn set(patterns: &[&str]) -> GlobSet {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(Glob::new(pattern).unwrap());
        }
        builder.build().unwrap()
    }

    fn policy(allow: &[&str], deny: &[&str], limit: Option<(u32, Duration)>) -> TeamPolicy {
        let schema = serde_json::json!({"properties": {"n": {"maximum": 10}}});
        TeamPolicy {
            allow: set(allow),
            deny: set(deny),
            conditions: vec![Condition {
                tools: Glob::new("calc/*").unwrap().compile_matcher(),
                pattern: "calc/*".into(),
                validator: Arc::new(jsonschema::validator_for(&schema).unwrap()),
            }],
            rate_limits: limit
                .map(|(calls, per)| {
                    RateRule::new(
                        Glob::new("*").unwrap().compile_matcher(),
                        "*".into(),
                        NonZeroU32::new(calls).unwrap(),
                        per,
                    )
                })
                .into_iter()
                .collect(),
            sampling: true,
            elicitation: true,
        }
    }

    #[test]
    fn allow_and_deny_globs() {
        let p = policy(&["time/*", "fs/read*"], &["fs/read_secret*"], None);
        let check =
            |subject: &str, expected: bool| assert_eq!(p.allows(subject), expected, "{subject}");
        check("time/now", true);
        check("fs/read_file", true);
        check("fs/read_secret_key", false);
        check("fs/write", false);
        check("other/x", false);
    }

    #[test]
    fn conditions_name_the_offending_argument() {
        let p = policy(&["*"], &[], None);
        assert_eq!(
            p.check_call("calc/add", &serde_json::json!({"n": 3})),
            Ok(())
        );
        let Err(Refusal::Arguments { pattern, reason }) =
            p.check_call("calc/add", &serde_json::json!({"n": 11}))
        else {
            panic!("should be refused");
        };
        assert_eq!(pattern, "calc/*");
        assert!(reason.contains("/n"), "{reason}");
        assert_eq!(
            p.check_call("time/now", &serde_json::json!({"n": 11})),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_refill_with_time_per_tool() {
        let p = policy(&["*"], &[], Some((2, Duration::from_secs(60))));
        let args = serde_json::json!({});
        assert_eq!(p.check_call("t/a", &args), Ok(()));
        assert_eq!(p.check_call("t/a", &args), Ok(()));
        let Err(Refusal::RateLimited { retry_after, .. }) = p.check_call("t/a", &args) else {
            panic!("third call within the minute is refused");
        };
        assert_eq!(retry_after, Duration::from_secs(30));
        // Another tool has its own allowance.
        assert_eq!(p.check_call("t/b", &args), Ok(()));
        // A denied call uses no allowance.
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(p.check_call("t/a", &args).is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(p.check_call("t/a", &args), Ok(()));
        assert!(p.check_call("t/a", &args).is_err());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(p.check_call("t/a", &args), Ok(()));
        assert_eq!(p.check_call("t/a", &args), Ok(()));
    }
}

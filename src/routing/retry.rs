//! What to do after a failed attempt: retry the same target after a jittered
//! exponential backoff (at least what `Retry-After` asks, within a cap), fall
//! back to the next target, fall back to a larger context window, or stop.

use super::RetrySettings;
use crate::error::GatewayError;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the same target again after this long.
    Retry(Duration),
    /// Try the next target.
    Fallback,
    /// The prompt did not fit: try only targets with a larger context window.
    LargerContext,
    /// The request itself was refused; no other target would do better.
    Stop,
}

/// The decision after the `tries`-th failed try (1-based) of one target.
pub fn next(
    settings: &RetrySettings,
    error: &GatewayError,
    tries: u32,
    rng: &mut fastrand::Rng,
) -> Next {
    if is_context_overflow(error) {
        return Next::LargerContext;
    }
    if !error.retryable() {
        return Next::Stop;
    }
    if tries >= settings.attempts {
        return Next::Fallback;
    }
    let backoff = backoff(settings, tries, rng);
    match retry_after(error) {
        // Waiting that long would cost more than another target.
        Some(asked) if asked > settings.max_retry_after => Next::Fallback,
        Some(asked) => Next::Retry(asked.max(backoff)),
        None => Next::Retry(backoff),
    }
}

/// `backoff × 2^(retry-1)`, capped, with "equal jitter": half fixed, half
/// random, so retries of many clients spread out but never come back at once.
pub fn backoff(settings: &RetrySettings, retry: u32, rng: &mut fastrand::Rng) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let full = settings
        .backoff
        .saturating_mul(1 << exponent)
        .min(settings.max_backoff);
    let half = full / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rng.u64(..=jitter_nanos))
}

/// `Retry-After` of an upstream refusal, in its delay-seconds form (what model
/// providers send; an HTTP date is ignored and the backoff used instead).
pub fn retry_after(error: &GatewayError) -> Option<Duration> {
    let GatewayError::UpstreamRejected {
        retry_after: Some(value),
        ..
    } = error
    else {
        return None;
    };
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

/// Whether the prompt was too long for the model: OpenAI's
/// `context_length_exceeded` code, or the gateway's own count before dispatch.
pub fn is_context_overflow(error: &GatewayError) -> bool {
    match error {
        GatewayError::ContextLengthExceeded { .. } => true,
        GatewayError::UpstreamRejected { status, body, .. } if status.as_u16() == 400 => {
            #[derive(serde::Deserialize)]
            struct Body<'a> {
                #[serde(borrow)]
                error: Inner<'a>,
            }
            #[derive(serde::Deserialize)]
            struct Inner<'a> {
                #[serde(default, borrow)]
                code: Option<&'a str>,
            }
            serde_json::from_slice::<Body<'_>>(body)
                .is_ok_and(|b| b.error.code == Some("context_length_exceeded"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderValue, StatusCode};

    fn settings() -> RetrySettings {
        RetrySettings {
            attempts: 3,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(2),
        }
    }

    fn rejected(
        status: u16,
        retry_after: Option<&'static str>,
        body: &'static str,
    ) -> GatewayError {
        GatewayError::UpstreamRejected {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from_static(body.as_bytes()),
            retry_after: retry_after.map(HeaderValue::from_static),
        }
    }

    fn failed() -> GatewayError {
        GatewayError::UpstreamFailed {
            message: "x".into(),
        }
    }

    fn check(error: GatewayError, tries: u32, expected: Next) {
        let mut rng = fastrand::Rng::with_seed(3);
        assert_eq!(
            next(&settings(), &error, tries, &mut rng),
            expected,
            "{error:?}"
        );
    }

    #[test]
    fn decisions() {
        check(
            rejected(429, Some("1"), "{}"),
            1,
            Next::Retry(Duration::from_secs(1)),
        );
        check(
            rejected(429, Some("0.5"), "{}"),
            2,
            Next::Retry(Duration::from_millis(500)),
        );
        check(rejected(429, Some("30"), "{}"), 1, Next::Fallback);
        check(rejected(429, None, "{}"), 3, Next::Fallback);
        check(failed(), 3, Next::Fallback);
        check(
            rejected(400, None, r#"{"error":{"code":"invalid_value"}}"#),
            1,
            Next::Stop,
        );
        check(
            rejected(
                400,
                None,
                r#"{"error":{"message":"m","code":"context_length_exceeded"}}"#,
            ),
            1,
            Next::LargerContext,
        );
        check(GatewayError::invalid("bad", None), 1, Next::Stop);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_cap() {
        let mut rng = fastrand::Rng::with_seed(9);
        for (retry, low, high) in [(1, 50, 100), (2, 100, 200), (3, 175, 350), (9, 175, 350)] {
            for _ in 0..200 {
                let delay = backoff(&settings(), retry, &mut rng);
                let range = Duration::from_millis(low)..=Duration::from_millis(high);
                assert!(range.contains(&delay), "retry {retry}: {delay:?}");
            }
        }
    }

    #[test]
    fn retry_after_forms() {
        let parse = |v: &'static str| retry_after(&rejected(429, Some(v), "{}"));
        assert_eq!(parse("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(retry_after(&failed()), None);
    }
}

//! A circuit breaker per target: closed while the target works, open after
//! consecutive failures or a high error ratio over a window (routing skips the
//! target), half-open after a cool-down (one probe at a time), closed again
//! when a probe succeeds.
//!
//! Time comes in as `tokio::time::Instant`, so tests run on paused time.

use super::BreakerSettings;
use parking_lot::Mutex;
use tokio::time::Instant;

/// What an observer sees; also the value of the `breaker_state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

impl BreakerState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half-open",
            Self::Open => "open",
        }
    }
}

/// Whether a request may use the target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the one probe of a half-open breaker.
    Probe,
    Rejected,
}

#[derive(Debug)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe_since` is when the outstanding probe started; a probe that never
    /// reports back (its request was cancelled) frees the slot after a cool-down.
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive_failures: u32,
    window_start: Instant,
    window_attempts: u32,
    window_failures: u32,
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive_failures: 0,
                window_start: Instant::now(),
                window_attempts: 0,
                window_failures: 0,
            }),
        }
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut inner = self.inner.lock();
        match inner.state {
            State::Closed => Admission::Allowed,
            State::Open { until } if now < until => Admission::Rejected,
            State::Open { .. } => {
                inner.state = State::HalfOpen {
                    probe_since: Some(now),
                };
                Admission::Probe
            }
            State::HalfOpen {
                probe_since: Some(since),
            } if now.saturating_duration_since(since) < self.settings.cool_down => {
                Admission::Rejected
            }
            State::HalfOpen { .. } => {
                inner.state = State::HalfOpen {
                    probe_since: Some(now),
                };
                Admission::Probe
            }
        }
    }

    pub fn on_success(&self, now: Instant) {
        let mut inner = self.inner.lock();
        self.roll_window(&mut inner, now);
        inner.window_attempts += 1;
        inner.consecutive_failures = 0;
        if !matches!(inner.state, State::Closed) {
            inner.state = State::Closed;
            inner.window_start = now;
            inner.window_attempts = 0;
            inner.window_failures = 0;
        }
    }

    pub fn on_failure(&self, now: Instant) {
        let mut inner = self.inner.lock();
        self.roll_window(&mut inner, now);
        inner.window_attempts += 1;
        inner.window_failures += 1;
        inner.consecutive_failures += 1;
        let trip = match inner.state {
            // A failed probe reopens at once.
            State::HalfOpen { .. } => true,
            State::Open { .. } => false,
            State::Closed => {
                let settings = &self.settings;
                inner.consecutive_failures >= settings.consecutive_failures
                    || (inner.window_attempts >= settings.min_requests
                        && f64::from(inner.window_failures)
                            >= settings.error_ratio * f64::from(inner.window_attempts))
            }
        };
        if trip {
            inner.state = State::Open {
                until: now + self.settings.cool_down,
            };
        }
    }

    /// An attempt that says nothing about the target's health (the request
    /// itself was at fault): a half-open probe slot is given back.
    pub fn on_neutral(&self) {
        let mut inner = self.inner.lock();
        if let State::HalfOpen { probe_since } = &mut inner.state {
            *probe_since = None;
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.inner.lock().state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn roll_window(&self, inner: &mut Inner, now: Instant) {
        if now.saturating_duration_since(inner.window_start) >= self.settings.window {
            inner.window_start = now;
            inner.window_attempts = 0;
            inner.window_failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            consecutive_failures: 3,
            error_ratio: 0.5,
            min_requests: 10,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(5),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_after_cool_down() {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        for _ in 0..2 {
            breaker.on_failure(now);
        }
        assert_eq!(breaker.admit(now), Admission::Allowed);
        breaker.on_failure(now);
        assert_eq!(breaker.state(now), BreakerState::Open);
        assert_eq!(breaker.admit(now), Admission::Rejected);
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert_eq!(breaker.admit(later), Admission::Probe);
        // One probe at a time.
        assert_eq!(breaker.admit(later), Admission::Rejected);
        breaker.on_success(later);
        assert_eq!(breaker.state(later), BreakerState::Closed);
        assert_eq!(breaker.admit(later), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_another_cool_down() {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        for _ in 0..3 {
            breaker.on_failure(now);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe_time = Instant::now();
        assert_eq!(breaker.admit(probe_time), Admission::Probe);
        breaker.on_failure(probe_time);
        assert_eq!(breaker.state(probe_time), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(breaker.admit(Instant::now()), Admission::Rejected);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(breaker.admit(Instant::now()), Admission::Probe);
    }

    #[tokio::test(start_paused = true)]
    async fn error_ratio_over_the_window_opens() {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        // Alternating: never 3 in a row, but half of 10 attempts fail.
        for i in 0..10 {
            if i % 2 == 0 {
                breaker.on_success(now);
            } else {
                breaker.on_failure(now);
            }
        }
        assert_eq!(breaker.state(now), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_old_failures() {
        let breaker = Breaker::new(settings());
        for i in 0..9 {
            let now = Instant::now();
            if i % 2 == 0 {
                breaker.on_failure(now);
            } else {
                breaker.on_success(now);
            }
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        let now = Instant::now();
        breaker.on_failure(now);
        assert_eq!(breaker.state(now), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_or_neutral_probe_frees_the_slot() {
        let breaker = Breaker::new(settings());
        for _ in 0..3 {
            breaker.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.admit(Instant::now()), Admission::Probe);
        breaker.on_neutral();
        assert_eq!(breaker.admit(Instant::now()), Admission::Probe);
        // Never reported back: after a cool-down another probe may go.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.admit(Instant::now()), Admission::Probe);
    }
}

//! What routing knows about one target (a `provider/model`): its circuit
//! breaker and the moving average of its time to first token. Shared by every
//! route that uses the target.

use super::BreakerSettings;
use super::breaker::{Breaker, BreakerState};
use crate::metrics::TargetLabels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Weight of the newest sample in the moving average: high enough that a
/// target that slows down loses traffic within a few requests.
const EWMA_ALPHA: f64 = 0.3;

/// Metric handles, created once per target so the hot path never allocates labels.
#[derive(Debug, Clone, Default)]
pub struct TargetMetrics {
    pub retries: Counter,
    pub fallbacks: Counter,
    pub breaker_state: Gauge,
}

/// The metric families a target reports to.
#[derive(Debug, Clone)]
pub struct TargetFamilies {
    pub retries: Family<TargetLabels, Counter>,
    pub fallbacks: Family<TargetLabels, Counter>,
    pub breaker_state: Family<TargetLabels, Gauge>,
}

/// A target's series are created on its first event, so the hundred-odd
/// models nobody uses do not fill `/metrics` with zeros.
#[derive(Debug)]
struct MetricsSlot {
    families: TargetFamilies,
    labels: TargetLabels,
    handles: OnceLock<TargetMetrics>,
}

#[derive(Debug)]
pub struct Health {
    pub breaker: Breaker,
    /// EWMA of time to first token in microseconds, as `f64` bits; 0 = no sample yet.
    ewma_micros: AtomicU64,
    metrics: OnceLock<MetricsSlot>,
}

impl Health {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            breaker: Breaker::new(settings),
            ewma_micros: AtomicU64::new(0),
            metrics: OnceLock::new(),
        }
    }

    /// The moving average of time to first token, once there is a sample.
    pub fn ttft(&self) -> Option<Duration> {
        let bits = self.ewma_micros.load(Ordering::Relaxed);
        (bits != 0).then(|| Duration::from_secs_f64(f64::from_bits(bits) / 1e6))
    }

    /// Adds a time-to-first-token sample to the moving average.
    pub fn observe_ttft(&self, sample: Duration) {
        let sample = (sample.as_secs_f64() * 1e6).max(1.0);
        // A lost race drops one sample at worst; retry keeps them all.
        let _ = self
            .ewma_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let next = if bits == 0 {
                    sample
                } else {
                    let old = f64::from_bits(bits);
                    old + EWMA_ALPHA * (sample - old)
                };
                Some(next.to_bits())
            });
    }

    pub fn on_success(&self, now: Instant) {
        self.breaker.on_success(now);
        self.publish(now);
    }

    pub fn on_failure(&self, now: Instant) {
        self.breaker.on_failure(now);
        self.publish(now);
    }

    pub fn attach_metrics(&self, families: TargetFamilies, labels: TargetLabels) {
        let _ = self.metrics.set(MetricsSlot {
            families,
            labels,
            handles: OnceLock::new(),
        });
    }

    pub fn metrics(&self) -> Option<&TargetMetrics> {
        let slot = self.metrics.get()?;
        Some(slot.handles.get_or_init(|| {
            TargetMetrics {
                retries: slot.families.retries.get_or_create(&slot.labels).clone(),
                fallbacks: slot.families.fallbacks.get_or_create(&slot.labels).clone(),
                breaker_state: slot
                    .families
                    .breaker_state
                    .get_or_create(&slot.labels)
                    .clone(),
            }
        }))
    }

    /// Sets the breaker gauge to the current state.
    pub fn publish(&self, now: Instant) {
        if let Some(metrics) = self.metrics() {
            metrics.breaker_state.set(self.breaker.state(now) as i64);
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_average_moves_toward_new_samples() {
        let health = Health::new(BreakerSettings::default());
        assert_eq!(health.ttft(), None);
        health.observe_ttft(Duration::from_millis(100));
        assert_eq!(health.ttft(), Some(Duration::from_millis(100)));
        health.observe_ttft(Duration::from_millis(200));
        let ms = health.ttft().unwrap().as_secs_f64() * 1e3;
        assert!((ms - 130.0).abs() < 0.01, "{ms}");
        for _ in 0..20 {
            health.observe_ttft(Duration::from_millis(10));
        }
        assert!(health.ttft().unwrap() < Duration::from_millis(12));
    }
}

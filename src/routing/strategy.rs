//! The order in which a route tries its targets. The first is the pick; the
//! rest are fallbacks. Randomness comes from the caller's generator, so tests
//! seed it and get the same order every run.

use super::Strategy;
use std::time::Duration;

/// What a strategy may look at for one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub weight: u32,
    pub priority: u32,
    /// Moving average of time to first token; `None` before the first sample.
    pub ttft: Option<Duration>,
    /// Nano-USD for a thousand prompt and a thousand completion tokens; `None` when unknown.
    pub cost: Option<u64>,
}

/// Indices into `candidates`, in the order to try them.
pub fn order(strategy: Strategy, candidates: &[Candidate], rng: &mut fastrand::Rng) -> Vec<usize> {
    let mut out: Vec<usize> = (0..candidates.len()).collect();
    if candidates.len() < 2 {
        return out;
    }
    match strategy {
        Strategy::Priority => {
            out.sort_by_key(|&i| candidates[i].priority);
            // Equal priorities share traffic by weight.
            let mut start = 0;
            while start < out.len() {
                let priority = candidates[out[start]].priority;
                let end = out[start..]
                    .iter()
                    .position(|&i| candidates[i].priority != priority)
                    .map_or(out.len(), |offset| start + offset);
                weighted_shuffle(&mut out[start..end], candidates, rng);
                start = end;
            }
        }
        Strategy::Weighted => weighted_shuffle(&mut out, candidates, rng),
        Strategy::LeastLatency => {
            // Power of two choices: two targets at random, the faster first.
            // A target without a sample counts as fastest, so it gets measured.
            let speed = |i: usize| candidates[i].ttft.unwrap_or(Duration::ZERO);
            let a = rng.usize(..out.len());
            let mut b = rng.usize(..out.len() - 1);
            if b >= a {
                b += 1;
            }
            let pick = if speed(b) < speed(a) { b } else { a };
            out.sort_by_key(|&i| (i != pick, speed(i)));
        }
        Strategy::LowestCost => {
            out.sort_by_key(|&i| {
                let c = &candidates[i];
                (c.cost.is_none(), c.cost.unwrap_or(0), c.priority)
            });
        }
    }
    out
}

/// Orders `slots` by repeated weighted draws without replacement; weight-0
/// entries go last, in their given order.
fn weighted_shuffle(slots: &mut [usize], candidates: &[Candidate], rng: &mut fastrand::Rng) {
    for position in 0..slots.len() {
        let rest = &slots[position..];
        let total: u64 = rest.iter().map(|&i| u64::from(candidates[i].weight)).sum();
        if total == 0 {
            return;
        }
        let mut draw = rng.u64(..total);
        let mut chosen = position;
        for (offset, &i) in rest.iter().enumerate() {
            let weight = u64::from(candidates[i].weight);
            if draw < weight {
                chosen = position + offset;
                break;
            }
            draw -= weight;
        }
        slots.swap(position, chosen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(weight: u32, priority: u32) -> Candidate {
        Candidate {
            weight,
            priority,
            ttft: None,
            cost: None,
        }
    }

    /// How often each index comes first over `runs` seeded draws.
    fn first_counts(strategy: Strategy, candidates: &[Candidate], runs: u64) -> Vec<u64> {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = vec![0; candidates.len()];
        for _ in 0..runs {
            let order = order(strategy, candidates, &mut rng);
            assert_eq!(
                order.len(),
                candidates.len(),
                "every target is in the order"
            );
            counts[order[0]] += 1;
        }
        counts
    }

    fn check(strategy: Strategy, candidates: &[Candidate], expected: &[usize]) {
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            order(strategy, candidates, &mut rng),
            expected,
            "{strategy:?}"
        );
    }

    #[test]
    fn deterministic_orders() {
        check(
            Strategy::Priority,
            &[candidate(1, 2), candidate(1, 1), candidate(1, 3)],
            &[1, 0, 2],
        );
        let cost = |cost: Option<u64>, priority: u32| Candidate {
            cost,
            ..candidate(1, priority)
        };
        check(
            Strategy::LowestCost,
            &[
                cost(None, 0),
                cost(Some(30), 0),
                cost(Some(10), 0),
                cost(Some(10), 1),
            ],
            &[2, 3, 1, 0],
        );
        check(
            Strategy::Weighted,
            &[candidate(0, 0), candidate(5, 0)],
            &[1, 0],
        );
        check(Strategy::Priority, &[candidate(1, 0)], &[0]);
    }

    #[test]
    fn weights_share_traffic() {
        let counts = first_counts(
            Strategy::Weighted,
            &[candidate(3, 0), candidate(1, 0)],
            10_000,
        );
        let share = counts[0] as f64 / 10_000.0;
        assert!((0.72..0.78).contains(&share), "{counts:?}");
    }

    #[test]
    fn equal_priorities_share_by_weight_and_lower_priorities_wait() {
        let counts = first_counts(
            Strategy::Priority,
            &[candidate(1, 1), candidate(1, 1), candidate(100, 2)],
            10_000,
        );
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(counts[0] > 4_500 && counts[1] > 4_500, "{counts:?}");
    }

    #[test]
    fn least_latency_prefers_the_faster_target() {
        let timed = |ms: u64| Candidate {
            ttft: Some(Duration::from_millis(ms)),
            ..candidate(1, 0)
        };
        // Two targets: the faster always wins the pair.
        let counts = first_counts(Strategy::LeastLatency, &[timed(50), timed(500)], 1_000);
        assert_eq!(counts, vec![1_000, 0]);
        // Three: the slowest only wins when drawn twice, which P2C never does.
        let counts = first_counts(
            Strategy::LeastLatency,
            &[timed(500), timed(50), timed(100)],
            3_000,
        );
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!(counts[1] > counts[2], "{counts:?}");
        // An unmeasured target is tried before measured ones.
        let counts = first_counts(Strategy::LeastLatency, &[timed(50), candidate(1, 0)], 100);
        assert_eq!(counts, vec![0, 100]);
    }
}

//! Retry delay tiers.
//!
//! RabbitMQ 3.10 has no delayed-message plugin and per-message TTLs only
//! expire at the head of a queue, so delays go through one queue per tier,
//! each with a fixed TTL that dead-letters back to the work exchange. Tiers
//! grow by doubling from a base; a backoff delay (from `backon`, with jitter)
//! is rounded to the nearest tier, so jitter survives as a spread over
//! neighbouring tiers.
//!
//! The jitter of a run's retries is seeded by the run, so every worker
//! computes the same schedule for it, and each retry waits in a longer tier
//! than the one before (until the longest): jitter spreads runs over tiers
//! without ever making one run's delays stand still.

use std::time::Duration;

/// The tiers of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTiers {
    delays_ms: Vec<u64>,
}

impl RetryTiers {
    /// `count` tiers doubling from `base_ms` (e.g. 1000 → 1 s, 2 s, 4 s, …).
    pub fn doubling(base_ms: u64, count: u32) -> Self {
        let delays_ms = (0..count).map(|k| base_ms.saturating_mul(1 << k)).collect();
        Self { delays_ms }
    }

    /// Every tier's delay in milliseconds, ascending.
    pub fn delays_ms(&self) -> &[u64] {
        &self.delays_ms
    }

    /// The tier nearest to `delay` on a log scale.
    pub fn nearest(&self, delay: Duration) -> u64 {
        self.delays_ms
            .get(self.nearest_index(delay))
            .copied()
            .unwrap_or(0)
    }

    fn nearest_index(&self, delay: Duration) -> usize {
        let wanted = (delay.as_millis().max(1) as f64).ln();
        let distance = |ms: u64| (wanted - (ms as f64).ln()).abs();
        (0..self.delays_ms.len())
            .min_by(|a, b| distance(self.delays_ms[*a]).total_cmp(&distance(self.delays_ms[*b])))
            .unwrap_or(0)
    }

    /// The backoff delays of attempts 1, 2, … (exponential, with jitter
    /// drawn from `seed`).
    pub fn backoff_delays(&self, attempts: usize, seed: u64) -> Vec<Duration> {
        use backon::BackoffBuilder;
        let base = self.delays_ms.first().copied().unwrap_or(1000);
        let max = self.delays_ms.last().copied().unwrap_or(base);
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(base))
            .with_max_delay(Duration::from_millis(max))
            .with_factor(2.0)
            .with_jitter()
            .with_jitter_seed(seed)
            .with_max_times(attempts)
            .build()
            .collect()
    }

    /// The tier to wait in before attempt `next_attempt` (2 for the first
    /// retry) of the run whose jitter `seed` is given: the tier nearest its
    /// backoff delay, but always longer than the previous retry's (until
    /// the longest tier).
    pub fn tier_for_retry(&self, next_attempt: i32, seed: u64) -> u64 {
        let retries = usize::try_from(next_attempt.saturating_sub(1))
            .unwrap_or(1)
            .max(1);
        let last = self.delays_ms.len().saturating_sub(1);
        let index = self
            .backoff_delays(retries, seed)
            .into_iter()
            .fold(None, |previous: Option<usize>, delay| {
                let nearest = self.nearest_index(delay);
                Some(match previous {
                    Some(p) => nearest.max(p + 1).min(last),
                    None => nearest,
                })
            })
            .unwrap_or(0);
        self.delays_ms.get(index).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_double_from_the_base() {
        assert_eq!(
            RetryTiers::doubling(250, 4).delays_ms(),
            &[250, 500, 1000, 2000]
        );
    }

    #[test]
    fn a_delay_maps_to_the_nearest_tier_on_a_log_scale() {
        let tiers = RetryTiers::doubling(1000, 5);
        assert_eq!(tiers.nearest(Duration::from_millis(10)), 1000);
        assert_eq!(tiers.nearest(Duration::from_millis(2900)), 4000);
        assert_eq!(tiers.nearest(Duration::from_millis(2700)), 2000);
        assert_eq!(tiers.nearest(Duration::from_secs(3600)), 16000);
    }

    #[test]
    fn each_retry_of_a_run_waits_longer_than_the_one_before_until_the_longest_tier() {
        let tiers = RetryTiers::doubling(100, 6);
        let mut first_tiers = std::collections::BTreeSet::new();
        for seed in 0..200u64 {
            let schedule: Vec<u64> = (2..=9).map(|n| tiers.tier_for_retry(n, seed)).collect();
            for pair in schedule.windows(2) {
                assert!(
                    pair[1] > pair[0] || pair[1] == 3200,
                    "seed {seed}: {schedule:?}"
                );
            }
            assert!(schedule[0] <= 200, "seed {seed}: {schedule:?}");
            first_tiers.insert(schedule[0]);
        }
        assert_eq!(
            first_tiers.into_iter().collect::<Vec<_>>(),
            [100, 200],
            "jitter spreads runs over neighbouring tiers"
        );
    }

    #[test]
    fn a_run_gets_the_same_schedule_from_every_worker() {
        let tiers = RetryTiers::doubling(100, 8);
        for seed in [1u64, 42, u64::MAX] {
            let once: Vec<u64> = (2..6).map(|n| tiers.tier_for_retry(n, seed)).collect();
            let again: Vec<u64> = (2..6).map(|n| tiers.tier_for_retry(n, seed)).collect();
            assert_eq!(once, again);
        }
    }
}

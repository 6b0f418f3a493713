//! Retry delay tiers.
//!
//! RabbitMQ 3.10 has no delayed-message plugin and per-message TTLs only
//! expire at the head of a queue, so delays go through one queue per tier,
//! each with a fixed TTL that dead-letters back to the work exchange. Tiers
//! grow by doubling from a base; a backoff delay (from `backon`, with jitter)
//! is rounded to the nearest tier, so jitter survives as a spread over
//! neighbouring tiers.

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
        let wanted = delay.as_millis().max(1) as f64;
        self.delays_ms
            .iter()
            .copied()
            .min_by(|a, b| {
                let da = (wanted.ln() - (*a as f64).ln()).abs();
                let db = (wanted.ln() - (*b as f64).ln()).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(0)
    }

    /// The backoff delays of attempts 1, 2, … (exponential with jitter).
    pub fn backoff_delays(&self, attempts: usize) -> Vec<Duration> {
        use backon::BackoffBuilder;
        let base = self.delays_ms.first().copied().unwrap_or(1000);
        let max = self.delays_ms.last().copied().unwrap_or(base);
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(base))
            .with_max_delay(Duration::from_millis(max))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(attempts)
            .build()
            .collect()
    }

    /// The tier to wait in before attempt `next_attempt` (2 for the first retry).
    pub fn tier_for_retry(&self, next_attempt: i32) -> u64 {
        let index = usize::try_from(next_attempt.saturating_sub(1))
            .unwrap_or(1)
            .max(1);
        let delays = self.backoff_delays(index);
        self.nearest(delays.last().copied().unwrap_or_default())
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
    fn later_retries_never_wait_in_a_shorter_tier_than_half_the_previous() {
        let tiers = RetryTiers::doubling(100, 8);
        for _ in 0..50 {
            let first = tiers.tier_for_retry(2);
            let third = tiers.tier_for_retry(4);
            assert!(first <= 200, "first retry waited {first} ms");
            assert!(third >= 200, "third retry waited only {third} ms");
        }
    }
}

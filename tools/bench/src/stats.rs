//! Percentiles of samples (milliseconds), by the nearest-rank method: p99 of
//! 5000 samples is the 4950th smallest, a value that was actually observed.

use serde::Serialize;

/// p50/p95/p99 (and the extremes) of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples` (any order; NaNs are dropped). All zero when empty.
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        Self {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// The nearest-rank `p`th percentile of ascending `sorted`; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Rank ceil(p/100 * n), 1-based, clamped into 1..=n.
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `x` rounded to `digits` decimals, for a readable JSON line.
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_hundred_are_the_ranks_themselves() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::of(&samples);
        assert_eq!(
            (s.count, s.p50, s.p95, s.p99, s.max),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let s = Summary::of(&[7.5]);
        assert_eq!((s.p50, s.p99, s.max), (7.5, 7.5, 7.5));
    }

    #[test]
    fn no_samples_summarise_to_zero() {
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn rounding_keeps_the_asked_decimals() {
        assert_eq!(round(1.23456, 2), 1.23);
        assert_eq!(round(1.5, 0), 2.0);
    }
}

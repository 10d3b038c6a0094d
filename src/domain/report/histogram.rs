//! Durations as log-scale histograms: bins 2% wide, so a percentile read from the bins is
//! within 1% of the exact one (nearest rank), in rows small enough to sum over any range of
//! days. Bin 0 holds durations under a second.

use std::collections::BTreeMap;

/// Each bin's upper bound is this factor times its lower bound.
const GROWTH: f64 = 1.02;

/// The bin of a duration of `seconds`.
pub fn bin(seconds: i64) -> i32 {
    if seconds < 1 {
        return 0;
    }
    // ln(1 year) / ln(1.02) is about 870: far inside an i32.
    1 + ((seconds as f64).ln() / GROWTH.ln()).floor() as i32
}

/// The value a bin stands for, in whole seconds: the geometric middle of its bounds, at most
/// 1% from any duration in it.
pub fn value(bin: i32) -> i64 {
    if bin <= 0 {
        return 0;
    }
    GROWTH.powf(f64::from(bin - 1) + 0.5).round() as i64
}

/// Counts per bin, merged over days or members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    bins: BTreeMap<i32, i64>,
}

impl Histogram {
    pub fn add(&mut self, bin: i32, count: i64) {
        *self.bins.entry(bin).or_default() += count;
    }

    pub fn count(&self) -> i64 {
        self.bins.values().sum()
    }

    /// The nearest-rank `quantile` (0 < q ≤ 1) in seconds; 0 when empty.
    pub fn percentile(&self, quantile: f64) -> i64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((quantile * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0;
        for (&bin, &count) in &self.bins {
            seen += count;
            if seen >= rank {
                return value(bin);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bins_value_is_within_one_percent_of_every_duration_in_it() {
        for seconds in [
            1_i64,
            2,
            59,
            60,
            61,
            3_599,
            3_600,
            86_400,
            7 * 86_400,
            31_536_000,
        ] {
            let error = (value(bin(seconds)) - seconds).abs() as f64 / seconds as f64;
            assert!(error <= 0.01 + 0.5 / seconds as f64, "{seconds}: {error}");
        }
        assert_eq!((bin(0), value(0)), (0, 0));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut durations = Histogram::default();
        for seconds in [60, 120, 180, 240, 3_600] {
            durations.add(bin(seconds), 1);
        }
        let near = |got: i64, want: i64| (got - want).abs() as f64 <= want as f64 * 0.01;
        assert!(near(durations.percentile(0.5), 180));
        assert!(near(durations.percentile(0.9), 3_600));
        assert_eq!(Histogram::default().percentile(0.5), 0);
    }
}

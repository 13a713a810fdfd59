//! Latency statistics over samples.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
}

/// The q-quantile (0..=1) of sorted samples, interpolating linearly between
/// the closest ranks (numpy's default, "linear"): p50 of [1, 2, 3, 4] is 2.5.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Stats {
            n,
            min: s[0],
            p50: percentile(&s, 0.50),
            p95: percentile(&s, 0.95),
            p99: percentile(&s, 0.99),
            max: s[n - 1],
            mean,
            stddev: var.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let st = Stats::of(&s);
        assert_eq!((st.min, st.max), (1.0, 100.0));
        assert!((st.p50 - 50.5).abs() < 1e-9);
        assert!((st.p95 - 95.05).abs() < 1e-9);
        assert!((st.p99 - 99.01).abs() < 1e-9);
        assert!((st.mean - 50.5).abs() < 1e-9);
        assert!((st.stddev - 29.011_491_975_882_016).abs() < 1e-9);
        let one = Stats::of(&[7.0]);
        assert_eq!((one.p50, one.p95, one.stddev), (7.0, 7.0, 0.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        // Order of samples does not matter.
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]), Stats::of(&[1.0, 2.0, 3.0]));
    }
}

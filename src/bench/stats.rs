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

/// Smallest sample for which a percentile is shown: p95 needs 10 rounds
/// (the default), p99 needs 50. Below that the value is an interpolation
/// between the top two samples and says nothing the max does not.
pub const MIN_SAMPLES_P95: usize = 10;
pub const MIN_SAMPLES_P99: usize = 50;

impl Stats {
    /// p95, when the sample is large enough to mean it.
    pub fn p95_shown(&self) -> Option<f64> {
        (self.n >= MIN_SAMPLES_P95).then_some(self.p95)
    }
    /// p99, when the sample is large enough to mean it.
    pub fn p99_shown(&self) -> Option<f64> {
        (self.n >= MIN_SAMPLES_P99).then_some(self.p99)
    }
}

/// Samples whose modified Z-score (distance from the median in units of
/// the median absolute deviation) exceeds [`OUTLIER_Z`]: (fast, slow)
/// counts. Hyperfine warns on the same rule and threshold, which flags
/// interference (another process, a cold cache), not a latency's natural tail.
pub fn outliers(samples: &[f64]) -> (usize, usize) {
    if samples.len() < 3 {
        return (0, 0);
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let median = percentile(&s, 0.5);
    let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    // MAD scaled to a normal's sigma; the mean absolute deviation where
    // more than half the samples are equal.
    let mad = percentile(&dev, 0.5) / 0.6745;
    let scale = if mad > 0.0 {
        mad
    } else {
        1.253_314 * dev.iter().sum::<f64>() / dev.len() as f64
    };
    if scale <= 0.0 {
        return (0, 0);
    }
    let z = |x: f64| (x - median) / scale;
    (
        s.iter().filter(|&&x| z(x) < -OUTLIER_Z).count(),
        s.iter().filter(|&&x| z(x) > OUTLIER_Z).count(),
    )
}

/// Hyperfine's outlier threshold on the modified Z-score.
pub const OUTLIER_Z: f64 = 14.0;

/// The one-sided Mann-Whitney U test: the probability of seeing samples
/// `b` at least this much larger than `a` if both came from the same
/// distribution. Normal approximation with tie and continuity corrections;
/// exact enough from 3 samples a side (3 vs 3 all larger: 0.04; exact 0.05).
pub fn mann_whitney_greater(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    // Ranks of the pooled sample, ties sharing their mean rank.
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&x| (x, true)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_b, mut ties, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_b += all[i..=j].iter().filter(|x| x.1).count() as f64 * mean_rank;
        ties += t * t * t - t;
        i = j + 1;
    }
    let u = rank_b - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return if u > mean { 0.0 } else { 1.0 };
    }
    let z = (u - mean - 0.5) / var.sqrt();
    1.0 - normal_cdf(z)
}

/// The standard normal CDF (Abramowitz-Stegun 7.1.26 erf, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_separates_shifts_from_noise() {
        let base = [
            100.0, 102.0, 98.0, 101.0, 99.0, 103.0, 97.0, 100.0, 101.0, 99.0,
        ];
        let slower: Vec<f64> = base.iter().map(|x| x * 1.3).collect();
        assert!(mann_whitney_greater(&base, &slower) < 0.001);
        assert!(mann_whitney_greater(&slower, &base) > 0.999);
        let same = [
            101.0, 99.0, 100.0, 98.0, 102.0, 100.0, 97.0, 103.0, 99.0, 101.0,
        ];
        assert!(mann_whitney_greater(&base, &same) > 0.2);
        // 3 vs 3, all larger: about the exact 1/20.
        let p = mann_whitney_greater(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((0.03..0.06).contains(&p), "{p}");
        // All equal: no evidence.
        assert_eq!(mann_whitney_greater(&[5.0; 4], &[5.0; 4]), 1.0);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn outliers_and_small_samples() {
        let mut s = vec![10.0; 19];
        s.push(40.0);
        assert_eq!(outliers(&s), (0, 1));
        assert_eq!(outliers(&[1.0, 2.0, 3.0]), (0, 0));
        // A natural tail is not interference: 20 rounds of 100 ± 5 and one 112.
        let mut tail: Vec<f64> = (0..19).map(|i| 95.0 + (i % 10) as f64).collect();
        tail.push(112.0);
        assert_eq!(outliers(&tail), (0, 0));
        tail.push(400.0);
        assert_eq!(outliers(&tail), (0, 1));
        let st = Stats::of(&[1.0, 2.0, 3.0]);
        assert_eq!((st.p95_shown(), st.p99_shown()), (None, None));
        let st = Stats::of(&s);
        assert!(st.p95_shown().is_some() && st.p99_shown().is_none());
    }

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

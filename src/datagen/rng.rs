//! Counter-based random streams.
//!
//! A value is a pure function of (seed, table, column, index): `Stream::at(i)`
//! is the i-th output of SplitMix64 keyed by the stream. No state is carried
//! from row to row, so any chunk of any table can be generated alone, in any
//! order, on any thread, and the bytes come out the same.

pub use crate::util::mix64;

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a, to turn stream names into keys at setup time.
const fn fnv1a(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// An independent random stream, addressed by index.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    key: u64,
}

impl Stream {
    /// A stream named `name` (e.g. "sales_fact.line") under `seed`.
    pub fn new(seed: u64, name: &str) -> Self {
        Stream {
            key: mix64(mix64(seed ^ 0x6f6c_6170) ^ fnv1a(name)),
        }
    }

    /// The `i`-th 64 random bits of this stream.
    #[inline(always)]
    pub fn at(&self, i: u64) -> u64 {
        mix64(self.key.wrapping_add(i.wrapping_mul(GOLDEN)))
    }

    /// A sub-stream for the `i`-th entity: lets an entity draw as many values
    /// as it needs (`sub(i).at(0..)`) without colliding with its neighbours.
    pub fn sub(&self, i: u64) -> Stream {
        Stream {
            key: mix64(self.at(i) ^ 0x5bd1_e995),
        }
    }
}

/// Uniform integer in `0..n` from the low 32 bits of `bits` (Lemire's
/// multiply-shift; the bias is below 2^-32 * n, invisible at our sizes).
#[inline(always)]
pub fn below(bits: u64, n: u32) -> u32 {
    (((bits & 0xffff_ffff) * n as u64) >> 32) as u32
}

/// Uniform f64 in [0, 1) from the high 53 bits.
#[inline(always)]
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Walker/Vose alias table: O(1) sampling from a discrete distribution with
/// one 64-bit draw, exact to 2^-32.
#[derive(Debug, Clone)]
pub struct Alias {
    threshold: Vec<u32>,
    alias: Vec<u32>,
}

impl Alias {
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        assert!(
            n > 0 && n < u32::MAX as usize,
            "alias table needs 1..2^32 weights"
        );
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "alias table needs a positive total weight");
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut threshold = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            threshold[s] = (scaled[s] * 4_294_967_296.0).min(4_294_967_295.0) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Alias { threshold, alias }
    }

    pub fn len(&self) -> usize {
        self.threshold.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threshold.is_empty()
    }

    #[inline(always)]
    pub fn sample(&self, bits: u64) -> u32 {
        let i = below(bits, self.threshold.len() as u32) as usize;
        if ((bits >> 32) as u32) < self.threshold[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_pure_functions_of_their_address() {
        let a = Stream::new(42, "t.c");
        let b = Stream::new(42, "t.c");
        assert_eq!(a.at(7), b.at(7));
        assert_ne!(a.at(7), a.at(8));
        assert_ne!(Stream::new(43, "t.c").at(7), a.at(7));
        assert_ne!(Stream::new(42, "t.d").at(7), a.at(7));
    }

    #[test]
    fn alias_matches_weights() {
        let w = [1.0, 2.0, 3.0, 4.0];
        let t = Alias::new(&w);
        let s = Stream::new(1, "alias");
        let mut counts = [0u32; 4];
        let n = 400_000;
        for i in 0..n {
            counts[t.sample(s.at(i)) as usize] += 1;
        }
        for (k, c) in counts.iter().enumerate() {
            let expected = w[k] / 10.0;
            let got = *c as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.005,
                "bucket {k}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn below_stays_in_range() {
        let s = Stream::new(9, "below");
        assert!((0..10_000).all(|i| below(s.at(i), 7) < 7));
        assert!(
            (0..10_000)
                .map(|i| unit(s.at(i)))
                .all(|u| (0.0..1.0).contains(&u))
        );
    }
}

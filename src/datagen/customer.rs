//! `dim_customer` and `dim_payment`.
//!
//! Every customer has a home city (cities get residents by size) and a
//! transaction happens in its customer's home city. Within a city, customers
//! are ranked by value: the best buy most often and hold the top tiers.

use std::sync::Arc;

use arrow::array::{Decimal128Array, Int32Array, RecordBatch, StringArray};

use super::rng::{Alias, Stream};
use crate::model::Table;

pub const SEGMENTS: [(&str, f64); 4] = [
    ("Consumer", 0.65),
    ("Small Business", 0.18),
    ("Corporate", 0.11),
    ("Home Office", 0.06),
];
pub const CHANNELS: [(&str, f64); 4] = [
    ("Online", 0.38),
    ("In-Store", 0.36),
    ("Mobile App", 0.20),
    ("Marketplace", 0.06),
];
/// Tiers by customer rank within the home city (share of customers, best first).
pub const LTV_TIERS: [(&str, f64); 4] = [
    ("Platinum", 0.02),
    ("Gold", 0.08),
    ("Silver", 0.25),
    ("Bronze", 0.65),
];

/// The tier of a customer at `rank` (0 = best, 1 = worst) in its city.
pub fn ltv_tier(rank: f64) -> &'static str {
    let mut acc = 0.0;
    for (name, share) in LTV_TIERS {
        acc += share;
        if rank < acc {
            return name;
        }
    }
    LTV_TIERS[LTV_TIERS.len() - 1].0
}

/// The per-customer attributes the fact generator needs, kept compact.
///
/// Customer keys come in blocks by home city (city g's residents are keys
/// `city_start[g]+1 ..= city_start[g+1]`), ranked by value inside the block:
/// the fact generator draws low ranks more often, and they hold the top
/// lifetime-value tiers. The blocks keep the generator's lookups sequential
/// (it sweeps cities in order within a day) and make `customer_key` nearly
/// sorted within a day, which Parquet's delta encoding rewards.
#[derive(Debug)]
pub struct Customers {
    pub count: u32,
    /// Segment and channel are pure functions of the customer index (a hash
    /// and an alias draw): no table to look up on the fact generator's hot path.
    segment_stream: Stream,
    channel_stream: Stream,
    segments: Alias,
    channels: Alias,
    /// First customer index of each city's block, len = cities + 1.
    pub city_start: Vec<u32>,
}

impl Customers {
    /// `city_weights`: the share of sales of each city. Every city gets at
    /// least one resident; the rest are shared by weight (closed form).
    pub fn new(seed: u64, count: u32, city_weights: &[f64]) -> Customers {
        let s = Stream::new(seed, "dim_customer");
        let seg = Alias::new(&SEGMENTS.map(|x| x.1));
        let chan = Alias::new(&CHANNELS.map(|x| x.1));
        let g = city_weights.len();
        assert!(count as usize >= g, "at least one customer per city");
        let scaled: Vec<u64> = city_weights
            .iter()
            .map(|w| ((w * 1e9).round() as u64).max(1))
            .collect();
        let total: u128 = scaled.iter().map(|&w| w as u128).sum();
        let spare = (count as usize - g) as u128;
        let mut city_start = Vec::with_capacity(g + 1);
        let mut cum = 0u128;
        for (i, w) in scaled.iter().enumerate() {
            city_start.push(i as u32 + (spare * cum / total) as u32);
            cum += *w as u128;
        }
        city_start.push(count);
        Customers {
            count,
            segment_stream: s.sub(0),
            channel_stream: s.sub(1),
            segments: seg,
            channels: chan,
            city_start,
        }
    }

    /// Channel index of customer index `i`.
    #[inline(always)]
    pub fn channel(&self, i: u32) -> usize {
        self.channels.sample(self.channel_stream.at(i as u64)) as usize
    }

    /// Segment index of customer index `i`.
    pub fn segment(&self, i: u32) -> usize {
        self.segments.sample(self.segment_stream.at(i as u64)) as usize
    }

    /// Home city index of customer index `i`.
    pub fn home(&self, i: u32) -> usize {
        self.city_start.partition_point(|&s| s <= i) - 1
    }

    /// Lifetime-value tier of customer index `i` in city `g`: by rank in the block.
    pub fn tier(&self, i: u32, g: usize) -> &'static str {
        let (lo, hi) = (self.city_start[g], self.city_start[g + 1]);
        ltv_tier((i - lo) as f64 / (hi - lo) as f64)
    }

    /// Rows `range` of `dim_customer`.
    pub fn batch(&self, range: std::ops::Range<u64>) -> RecordBatch {
        let idx = range.start as u32..range.end as u32;
        let mut home = Vec::with_capacity(idx.len());
        let mut tier = Vec::with_capacity(idx.len());
        let mut g = if idx.is_empty() {
            0
        } else {
            self.home(idx.start)
        };
        for i in idx.clone() {
            while self.city_start[g + 1] <= i {
                g += 1;
            }
            home.push(g as i32 + 1);
            tier.push(self.tier(i, g));
        }
        RecordBatch::try_new(
            Table::DimCustomer.schema(),
            vec![
                Arc::new(Int32Array::from_iter_values(
                    idx.clone().map(|i| i as i32 + 1),
                )),
                Arc::new(StringArray::from_iter_values(
                    idx.clone().map(|i| format!("C{:08}", i + 1)),
                )),
                Arc::new(StringArray::from_iter_values(
                    idx.clone().map(|i| SEGMENTS[self.segment(i)].0),
                )),
                Arc::new(StringArray::from_iter_values(
                    idx.map(|i| CHANNELS[self.channel(i)].0),
                )),
                Arc::new(StringArray::from(tier)),
                Arc::new(Int32Array::from(home)),
            ],
        )
        .expect("dim_customer batch matches its schema")
    }
}

/// `dim_payment`: (type, provider, fee %, weight by channel: Online, In-Store,
/// Mobile App, Marketplace).
pub const PAYMENTS: [(&str, &str, i128, [f64; 4]); 20] = [
    ("Credit Card", "Visa", 210, [24.0, 20.0, 14.0, 30.0]),
    ("Credit Card", "Mastercard", 205, [18.0, 15.0, 10.0, 22.0]),
    ("Credit Card", "American Express", 290, [7.0, 5.0, 4.0, 8.0]),
    ("Credit Card", "Discover", 220, [2.0, 2.0, 1.0, 2.0]),
    ("Debit Card", "Visa Debit", 80, [8.0, 16.0, 5.0, 6.0]),
    ("Debit Card", "Mastercard Debit", 85, [5.0, 10.0, 3.0, 4.0]),
    ("Debit Card", "Maestro", 90, [1.0, 3.0, 1.0, 1.0]),
    ("Digital Wallet", "PayPal", 349, [14.0, 0.0, 8.0, 12.0]),
    ("Digital Wallet", "Apple Pay", 215, [5.0, 8.0, 22.0, 3.0]),
    ("Digital Wallet", "Google Pay", 215, [3.0, 5.0, 16.0, 2.0]),
    ("Digital Wallet", "Alipay", 220, [1.0, 1.0, 3.0, 1.0]),
    ("Buy Now Pay Later", "Klarna", 329, [4.0, 0.5, 4.0, 3.0]),
    ("Buy Now Pay Later", "Afterpay", 400, [2.0, 0.5, 2.5, 2.0]),
    ("Buy Now Pay Later", "Affirm", 390, [2.0, 0.0, 1.5, 2.0]),
    ("Bank Transfer", "ACH", 50, [1.0, 0.0, 0.5, 0.5]),
    ("Bank Transfer", "SEPA", 35, [1.0, 0.0, 0.5, 0.5]),
    ("Cash", "Cash", 0, [0.0, 12.0, 0.0, 0.0]),
    ("Gift Card", "Store Gift Card", 0, [1.5, 2.0, 1.5, 0.5]),
    ("Store Credit", "Loyalty Points", 0, [1.0, 1.5, 2.0, 0.0]),
    ("Check", "Paper Check", 25, [0.0, 0.5, 0.0, 0.0]),
];

pub fn payment_batch() -> RecordBatch {
    RecordBatch::try_new(
        Table::DimPayment.schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(1..=PAYMENTS.len() as i32)),
            Arc::new(StringArray::from_iter_values(PAYMENTS.iter().map(|p| p.0))),
            Arc::new(StringArray::from_iter_values(PAYMENTS.iter().map(|p| p.1))),
            Arc::new(
                Decimal128Array::from_iter_values(PAYMENTS.iter().map(|p| p.2))
                    .with_precision_and_scale(5, 2)
                    .expect("valid decimal"),
            ),
        ],
    )
    .expect("dim_payment batch matches its schema")
}

/// One payment sampler per channel.
pub fn payment_by_channel() -> Vec<Alias> {
    (0..CHANNELS.len())
        .map(|c| Alias::new(&PAYMENTS.map(|p| p.3[c])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_city_has_residents_and_tiers_follow_rank() {
        let w: Vec<f64> = (1..=50).map(|i| 1.0 / i as f64).collect();
        let c = Customers::new(3, 1_000, &w);
        assert!((0..50).all(|g| c.city_start[g + 1] > c.city_start[g]));
        assert_eq!(c.city_start[50], 1_000);
        assert!(
            c.city_start[1] - c.city_start[0] > c.city_start[50] - c.city_start[49],
            "big cities have more residents"
        );
        assert_eq!(c.home(0), 0);
        assert_eq!(c.home(999), 49);
        assert_eq!(ltv_tier(0.0), "Platinum");
        assert_eq!(ltv_tier(0.05), "Gold");
        assert_eq!(ltv_tier(0.99), "Bronze");
        let b = c.batch(10..20);
        assert_eq!(b.num_rows(), 10);
        let all = c.batch(0..1_000);
        let homes = all.column(5).as_any().downcast_ref::<Int32Array>().unwrap();
        assert!(homes.values().windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn cash_only_in_store() {
        let tables = payment_by_channel();
        let s = Stream::new(1, "t");
        for ch in [0usize, 2, 3] {
            assert!((0..10_000).all(|i| PAYMENTS[tables[ch].sample(s.at(i)) as usize].0 != "Cash"));
        }
    }
}

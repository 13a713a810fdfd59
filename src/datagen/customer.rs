//! `dim_customer` and `dim_payment`.
//!
//! Customer keys are ranked by value: low keys buy most often (the fact
//! generator draws them with a skew) and hold the top lifetime-value tiers.
//! Every customer has a home city, drawn by city size; a transaction happens
//! in its customer's home city.

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
/// Tiers by customer rank (share of customers, best first).
pub const LTV_TIERS: [(&str, f64); 4] = [
    ("Platinum", 0.02),
    ("Gold", 0.08),
    ("Silver", 0.25),
    ("Bronze", 0.65),
];

pub fn ltv_tier(key: u32, customers: u32) -> &'static str {
    let rank = (key - 1) as f64 / customers as f64;
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
#[derive(Debug)]
pub struct Customers {
    pub count: u32,
    /// Channel index per customer (0-based customer index).
    pub channel: Vec<u8>,
    pub segment: Vec<u8>,
    /// Home city index (geo_key - 1) per customer.
    pub home: Vec<u32>,
    /// Customers of each city, ascending by key: `by_city[city_start[g]..city_start[g+1]]`.
    pub by_city: Vec<u32>,
    pub city_start: Vec<u32>,
}

impl Customers {
    /// `city_weights`: the share of sales of each city.
    pub fn new(seed: u64, count: u32, city_weights: &[f64]) -> Customers {
        let s = Stream::new(seed, "dim_customer");
        let seg = Alias::new(&SEGMENTS.map(|x| x.1));
        let chan = Alias::new(&CHANNELS.map(|x| x.1));
        let city = Alias::new(city_weights);
        let n_cities = city_weights.len() as u32;
        let (seg_s, chan_s, home_s) = (s.sub(0), s.sub(1), s.sub(2));
        let mut channel = Vec::with_capacity(count as usize);
        let mut segment = Vec::with_capacity(count as usize);
        let mut home = Vec::with_capacity(count as usize);
        for i in 0..count {
            segment.push(seg.sample(seg_s.at(i as u64)) as u8);
            channel.push(chan.sample(chan_s.at(i as u64)) as u8);
            // The first customers seed every city, so every city has residents.
            home.push(if i < n_cities {
                (i * 7919) % n_cities
            } else {
                city.sample(home_s.at(i as u64))
            });
        }
        // Counting sort of customers by home city.
        let mut city_start = vec![0u32; n_cities as usize + 1];
        for &h in &home {
            city_start[h as usize + 1] += 1;
        }
        for g in 0..n_cities as usize {
            city_start[g + 1] += city_start[g];
        }
        let mut fill = city_start.clone();
        let mut by_city = vec![0u32; count as usize];
        for (i, &h) in home.iter().enumerate() {
            by_city[fill[h as usize] as usize] = i as u32;
            fill[h as usize] += 1;
        }
        Customers {
            count,
            channel,
            segment,
            home,
            by_city,
            city_start,
        }
    }

    /// Rows `range` of `dim_customer`.
    pub fn batch(&self, range: std::ops::Range<u64>) -> RecordBatch {
        let idx = range.start as u32..range.end as u32;
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
                    idx.clone()
                        .map(|i| SEGMENTS[self.segment[i as usize] as usize].0),
                )),
                Arc::new(StringArray::from_iter_values(
                    idx.clone()
                        .map(|i| CHANNELS[self.channel[i as usize] as usize].0),
                )),
                Arc::new(StringArray::from_iter_values(
                    idx.clone().map(|i| ltv_tier(i + 1, self.count)),
                )),
                Arc::new(Int32Array::from_iter_values(
                    idx.map(|i| self.home[i as usize] as i32 + 1),
                )),
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
        let w = vec![1.0; 50];
        let c = Customers::new(3, 1_000, &w);
        assert!((0..50).all(|g| c.city_start[g + 1] > c.city_start[g]));
        assert_eq!(c.by_city.len(), 1_000);
        assert_eq!(ltv_tier(1, 1_000), "Platinum");
        assert_eq!(ltv_tier(50, 1_000), "Gold");
        assert_eq!(ltv_tier(1_000, 1_000), "Bronze");
        let b = c.batch(10..20);
        assert_eq!(b.num_rows(), 10);
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

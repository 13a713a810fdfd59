//! `sales_fact`: one row per line item, generated in date order.
//!
//! Layout. Row positions are allocated, in closed form, to (day, city) cells:
//! day d gets `floor(R * W[..=d] / W) - floor(R * W[..d] / W)` rows from integer
//! demand weights, and inside a day each city gets a share by its size the same
//! way. So the rows are sorted by date (and by city within a day, like
//! per-store daily batches), every partition is a contiguous row range, and
//! the cell of any row is found by two binary searches: a chunk can start
//! anywhere without generating what precedes it.
//!
//! Transactions. Inside a cell, transactions follow one another; the number of
//! line items of the transaction starting at row t is drawn from stream(t), and
//! the last one is cut at the cell's end. A chunk starting mid-cell walks the
//! cell's transactions from its start (a few dozen draws). transaction_id is
//! t + 1: unique, increasing, independent of chunking.
//!
//! Randomness is counter-based (see `rng`): per transaction keyed by t, per
//! line keyed by the row, so output is identical for any thread count and any
//! split into parts.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Date32Array, Int16Array, Int32Array, Int64Array, RecordBatch};

use super::calendar::Day;
use super::customer::{Customers, payment_by_channel};
use super::product::Catalogue;
use super::rng::{Alias, Stream};
use crate::model::{Table, money_array};

/// Line items per transaction: 1:35% 2:25% 3:16% 4:10% 5:6% 6:4% 7:2% 8:2%.
const ITEMS: [(u8, u16); 8] = [
    (1, 90),
    (2, 64),
    (3, 41),
    (4, 26),
    (5, 15),
    (6, 10),
    (7, 5),
    (8, 5),
];
/// Quantity per line: mostly one or two.
const QUANTITY: [(u8, u16); 8] = [
    (1, 141),
    (2, 56),
    (3, 26),
    (4, 15),
    (5, 8),
    (6, 5),
    (8, 3),
    (10, 2),
];
/// Promotion discount percentages.
const DISCOUNT_PCT: [i64; 8] = [5, 10, 10, 15, 20, 20, 25, 30];

const fn table256(dist: [(u8, u16); 8]) -> [u8; 256] {
    let mut t = [0u8; 256];
    let (mut i, mut k) = (0usize, 0usize);
    while k < 8 {
        let mut c = 0;
        while c < dist[k].1 {
            t[i] = dist[k].0;
            i += 1;
            c += 1;
        }
        k += 1;
    }
    assert!(i == 256, "distribution must fill 256 slots");
    t
}
const ITEMS_TABLE: [u8; 256] = table256(ITEMS);
const QUANTITY_TABLE: [u8; 256] = table256(QUANTITY);

/// Closed-form allocation of rows to days and (day, city) cells.
#[derive(Debug, Clone)]
pub struct Allocation {
    rows: u64,
    /// Cumulative integer day weights, len = days + 1.
    day_cum: Vec<u128>,
    /// Cumulative integer city weights, len = cities + 1.
    geo_cum: Vec<u64>,
}

impl Allocation {
    pub fn new(rows: u64, day_weights: &[f64], city_weights: &[f64]) -> Allocation {
        let mut day_cum = Vec::with_capacity(day_weights.len() + 1);
        day_cum.push(0u128);
        for w in day_weights {
            day_cum.push(day_cum.last().unwrap() + ((w * 1e6).round() as u128).max(1));
        }
        let mut geo_cum = Vec::with_capacity(city_weights.len() + 1);
        geo_cum.push(0u64);
        for w in city_weights {
            geo_cum.push(geo_cum.last().unwrap() + ((w * 1e9).round() as u64).max(1));
        }
        Allocation {
            rows,
            day_cum,
            geo_cum,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
    pub fn days(&self) -> usize {
        self.day_cum.len() - 1
    }
    pub fn cities(&self) -> usize {
        self.geo_cum.len() - 1
    }

    /// First row of day `d` (d may equal `days()`: then it is `rows`).
    #[inline]
    pub fn day_start(&self, d: usize) -> u64 {
        (self.rows as u128 * self.day_cum[d] / self.day_cum[self.days()]) as u64
    }

    /// End (exclusive) of cell (d, g), given day d's start and row count.
    #[inline]
    fn cell_end(&self, day_start: u64, day_rows: u64, g: usize) -> u64 {
        let total = *self.geo_cum.last().unwrap() as u128;
        day_start + (day_rows as u128 * self.geo_cum[g + 1] as u128 / total) as u64
    }

    /// The day holding `row` (row < rows).
    pub fn day_of(&self, row: u64) -> usize {
        // First d whose next day starts after row.
        let (mut lo, mut hi) = (0usize, self.days() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.day_start(mid + 1) <= row {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        lo
    }

    /// The city of `row` inside day `d`.
    fn city_of(&self, d: usize, row: u64) -> usize {
        let (start, end) = (self.day_start(d), self.day_start(d + 1));
        let (mut lo, mut hi) = (0usize, self.cities() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.cell_end(start, end - start, mid) <= row {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        lo
    }
}

/// Generates any row range of `sales_fact`.
pub struct FactGenerator {
    alloc: Allocation,
    days: Arc<Vec<Day>>,
    catalogue: Arc<Catalogue>,
    customers: Arc<Customers>,
    payments: Vec<Alias>,
    /// Promotion threshold per day out of 65536.
    promo: Vec<u32>,
    txn_a: Stream,
    txn_b: Stream,
    line_a: Stream,
    line_b: Stream,
}

/// Column buffers for one batch.
struct Columns {
    txn: Vec<i64>,
    line: Vec<i16>,
    date: Vec<i32>,
    time_key: Vec<i32>,
    geo: Vec<i32>,
    product: Vec<i32>,
    customer: Vec<i32>,
    payment: Vec<i32>,
    quantity: Vec<i16>,
    unit_price: Vec<i128>,
    revenue: Vec<i128>,
    cost: Vec<i128>,
    discount: Vec<i128>,
    profit: Vec<i128>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            txn: Vec::with_capacity(n),
            line: Vec::with_capacity(n),
            date: Vec::with_capacity(n),
            time_key: Vec::with_capacity(n),
            geo: Vec::with_capacity(n),
            product: Vec::with_capacity(n),
            customer: Vec::with_capacity(n),
            payment: Vec::with_capacity(n),
            quantity: Vec::with_capacity(n),
            unit_price: Vec::with_capacity(n),
            revenue: Vec::with_capacity(n),
            cost: Vec::with_capacity(n),
            discount: Vec::with_capacity(n),
            profit: Vec::with_capacity(n),
        }
    }

    fn into_batch(self) -> RecordBatch {
        RecordBatch::try_new(
            Table::SalesFact.schema(),
            vec![
                Arc::new(Int64Array::from(self.txn)),
                Arc::new(Int16Array::from(self.line)),
                Arc::new(Date32Array::from(self.date)),
                Arc::new(Int32Array::from(self.time_key)),
                Arc::new(Int32Array::from(self.geo)),
                Arc::new(Int32Array::from(self.product)),
                Arc::new(Int32Array::from(self.customer)),
                Arc::new(Int32Array::from(self.payment)),
                Arc::new(Int16Array::from(self.quantity)),
                money_array(self.unit_price),
                money_array(self.revenue),
                money_array(self.cost),
                money_array(self.discount),
                money_array(self.profit),
            ],
        )
        .expect("sales_fact batch matches its schema")
    }
}

impl FactGenerator {
    pub fn new(
        seed: u64,
        alloc: Allocation,
        days: Arc<Vec<Day>>,
        catalogue: Arc<Catalogue>,
        customers: Arc<Customers>,
    ) -> FactGenerator {
        let promo = days
            .iter()
            .map(|d| (d.promo_rate * 65536.0) as u32)
            .collect();
        FactGenerator {
            alloc,
            days,
            catalogue,
            customers,
            payments: payment_by_channel(),
            promo,
            txn_a: Stream::new(seed, "sales_fact.transaction.a"),
            txn_b: Stream::new(seed, "sales_fact.transaction.b"),
            line_a: Stream::new(seed, "sales_fact.line.a"),
            line_b: Stream::new(seed, "sales_fact.line.b"),
        }
    }

    pub fn allocation(&self) -> &Allocation {
        &self.alloc
    }

    /// Rows `range` of the fact table, in order.
    pub fn batch(&self, range: Range<u64>) -> RecordBatch {
        assert!(range.end <= self.alloc.rows, "row range beyond the table");
        let mut cols = Columns::with_capacity((range.end - range.start) as usize);
        if range.is_empty() {
            return cols.into_batch();
        }
        let cities = self.alloc.cities();
        let mut d = self.alloc.day_of(range.start);
        let mut g = self.alloc.city_of(d, range.start);
        'days: loop {
            let day_start = self.alloc.day_start(d);
            if day_start >= range.end {
                break;
            }
            let day_rows = self.alloc.day_start(d + 1) - day_start;
            if day_rows == 0 {
                d += 1;
                g = 0;
                if d >= self.alloc.days() {
                    break;
                }
                continue;
            }
            let mut cell_start = if g == 0 {
                day_start
            } else {
                self.alloc.cell_end(day_start, day_rows, g - 1)
            };
            while g < cities {
                let cell_end = self.alloc.cell_end(day_start, day_rows, g);
                if cell_start >= range.end {
                    break 'days;
                }
                if cell_end > range.start && cell_end > cell_start {
                    self.cell(&mut cols, d, g, cell_start..cell_end, &range);
                }
                cell_start = cell_end;
                g += 1;
            }
            d += 1;
            g = 0;
            if d >= self.alloc.days() {
                break;
            }
        }
        debug_assert_eq!(cols.txn.len() as u64, range.end - range.start);
        cols.into_batch()
    }

    /// Emits the rows of cell (day, city) that fall inside `want`.
    #[inline]
    fn cell(&self, cols: &mut Columns, d: usize, g: usize, cell: Range<u64>, want: &Range<u64>) {
        let day = &self.days[d];
        let month = day.month as usize - 1;
        let products = &self.catalogue.by_month[month];
        let promo = self.promo[d];
        let first_resident = self.customers.city_start[g];
        let residents = (self.customers.city_start[g + 1] - first_resident) as f64;
        let mut t = cell.start;
        while t < cell.end && t < want.end {
            let a = self.txn_a.at(t);
            let items = (ITEMS_TABLE[(a & 0xff) as usize] as u64).min(cell.end - t);
            let t_end = t + items;
            if t_end > want.start {
                // Skewed towards the city's lowest (most valuable) customer keys.
                let u = (a >> 32) as f64 * (1.0 / 4_294_967_296.0);
                let ci = first_resident + (residents * u * u) as u32;
                let channel = self.customers.channel(ci);
                let payment = self.payments[channel].sample(self.txn_b.at(t)) as i32 + 1;
                for r in t.max(want.start)..t_end.min(want.end) {
                    let la = self.line_a.at(r);
                    let lb = self.line_b.at(r);
                    let p = products.sample(la) as usize;
                    let v = self.catalogue.version_on(p, day.date32);
                    // Cents in i64 (exact; i128 division would be a library call).
                    let price = self.catalogue.version_price[v];
                    let unit_cost = self.catalogue.version_cost[v];
                    let qty = QUANTITY_TABLE[(lb & 0xff) as usize] as i64;
                    let gross = qty * price;
                    let discount = if (((lb >> 8) & 0xffff) as u32) < promo {
                        (gross * DISCOUNT_PCT[((lb >> 24) & 7) as usize] + 50) / 100
                    } else {
                        0
                    };
                    let revenue = gross - discount;
                    let cost = qty * unit_cost;
                    cols.txn.push(t as i64 + 1);
                    cols.line.push((r - t + 1) as i16);
                    cols.date.push(day.date32);
                    cols.time_key.push(day.time_key);
                    cols.geo.push(g as i32 + 1);
                    cols.product.push(Catalogue::key_of(v));
                    cols.customer.push(ci as i32 + 1);
                    cols.payment.push(payment);
                    cols.quantity.push(qty as i16);
                    cols.unit_price.push(price as i128);
                    cols.revenue.push(revenue as i128);
                    cols.cost.push(cost as i128);
                    cols.discount.push(discount as i128);
                    cols.profit.push((revenue - cost) as i128);
                }
            }
            t = t_end;
        }
    }
}

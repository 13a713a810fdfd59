//! Seeded, chunked generators for the star schema.
//!
//! This layer knows nothing of files, DuckDB or the command line: given a
//! [`GenSpec`] it builds the dimension tables in memory and answers
//! `batch(table, rows)` for any row range of any table with Arrow
//! `RecordBatch`es. Output depends only on (seed, spec, rows asked for), never
//! on thread count or chunking.

pub mod calendar;
pub mod customer;
pub mod fact;
pub mod geography;
pub mod names;
pub mod product;
pub mod rng;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray};

use crate::model::Table;
use calendar::Day;
use customer::Customers;
use fact::{Allocation, FactGenerator};
use geography::Geography;
use product::Catalogue;

pub use crate::model::GenSpec;

/// The whole star schema, ready to produce batches.
pub struct Star {
    pub spec: GenSpec,
    pub days: Arc<Vec<Day>>,
    pub geography: Geography,
    pub catalogue: Arc<Catalogue>,
    pub customers: Arc<Customers>,
    pub fact: FactGenerator,
}

impl Star {
    pub fn new(spec: GenSpec) -> Star {
        let days = Arc::new(calendar::days(spec.start, spec.end));
        let geography = Geography::new(spec.seed, spec.cities);
        let city_weights: Vec<f64> = geography.cities.iter().map(|c| c.weight).collect();
        let (catalogue, customers) = rayon::join(
            || {
                Arc::new(Catalogue::new(
                    spec.seed,
                    spec.products,
                    spec.start,
                    spec.end,
                ))
            },
            || Arc::new(Customers::new(spec.seed, spec.customers, &city_weights)),
        );
        let day_weights: Vec<f64> = days.iter().map(|d| d.demand).collect();
        let alloc = Allocation::new(spec.rows, &day_weights, &city_weights);
        let fact = FactGenerator::new(
            spec.seed,
            alloc,
            days.clone(),
            catalogue.clone(),
            customers.clone(),
        );
        Star {
            spec,
            days,
            geography,
            catalogue,
            customers,
            fact,
        }
    }

    pub fn rows(&self, table: Table) -> u64 {
        match table {
            Table::DimTime => self.days.len() as u64,
            Table::DimGeography => self.geography.len() as u64,
            Table::DimProduct => self.catalogue.version_count() as u64,
            Table::DimCustomer => self.customers.count as u64,
            Table::DimPayment => customer::PAYMENTS.len() as u64,
            Table::SalesFact => self.spec.rows,
        }
    }

    /// Rows `range` of `table`.
    pub fn batch(&self, table: Table, range: Range<u64>) -> RecordBatch {
        let whole =
            |b: RecordBatch| b.slice(range.start as usize, (range.end - range.start) as usize);
        match table {
            Table::DimTime => whole(time_batch(&self.days)),
            Table::DimGeography => whole(self.geography.batch()),
            Table::DimProduct => whole(self.catalogue.batch()),
            Table::DimCustomer => self.customers.batch(range),
            Table::DimPayment => whole(customer::payment_batch()),
            Table::SalesFact => self.fact.batch(range),
        }
    }

    /// First fact row of each day, plus the total at the end (len = days + 1).
    /// Partitions by year/quarter/month are unions of whole days, so these are
    /// all the boundaries the storage layer needs.
    pub fn fact_day_starts(&self) -> Vec<u64> {
        let a = self.fact.allocation();
        (0..=a.days()).map(|d| a.day_start(d)).collect()
    }
}

impl crate::model::BatchSource for Star {
    fn rows(&self, table: Table) -> u64 {
        Star::rows(self, table)
    }
    fn batch(&self, table: Table, range: Range<u64>) -> RecordBatch {
        Star::batch(self, table, range)
    }
    fn fact_days(&self) -> (Vec<(i32, u32)>, Vec<u64>) {
        (
            self.days.iter().map(|d| (d.year, d.month)).collect(),
            self.fact_day_starts(),
        )
    }
}

fn time_batch(days: &[Day]) -> RecordBatch {
    RecordBatch::try_new(
        Table::DimTime.schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.time_key),
            )),
            Arc::new(Date32Array::from_iter_values(days.iter().map(|d| d.date32))),
            Arc::new(Int32Array::from_iter_values(days.iter().map(|d| d.year))),
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.quarter() as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.month as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                days.iter()
                    .map(|d| calendar::MONTH_NAMES[d.month as usize - 1]),
            )),
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.day as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.day_of_week as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                days.iter()
                    .map(|d| calendar::DAY_NAMES[d.day_of_week as usize - 1]),
            )),
            Arc::new(BooleanArray::from_iter(
                days.iter().map(|d| Some(d.is_weekend())),
            )),
            Arc::new(BooleanArray::from_iter(
                days.iter().map(|d| Some(d.holiday.is_some())),
            )),
            Arc::new(StringArray::from_iter(days.iter().map(|d| d.holiday))),
        ],
    )
    .expect("dim_time batch matches its schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::checksum::batch_checksum;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Decimal128Type, Int16Type, Int32Type, Int64Type};

    #[test]
    fn checksum_is_split_invariant_and_sensitive() {
        let mut spec = GenSpec::with_rows(5_000);
        spec.customers = 10_000;
        spec.products = 500;
        spec.cities = 200;
        let star = Star::new(spec);
        let whole = batch_checksum(&star.batch(Table::SalesFact, 0..5_000)).unwrap();
        let parts = batch_checksum(&star.batch(Table::SalesFact, 0..1_234))
            .unwrap()
            .wrapping_add(batch_checksum(&star.batch(Table::SalesFact, 1_234..5_000)).unwrap());
        assert_eq!(whole, parts);
        let fewer = batch_checksum(&star.batch(Table::SalesFact, 0..4_999)).unwrap();
        assert_ne!(whole, fewer);
        for t in Table::ALL {
            let rows = star.rows(t);
            batch_checksum(&star.batch(t, 0..rows)).unwrap();
        }
    }

    fn col<T: arrow::datatypes::ArrowPrimitiveType>(
        b: &RecordBatch,
        name: &str,
    ) -> arrow::array::PrimitiveArray<T> {
        b.column_by_name(name).unwrap().as_primitive::<T>().clone()
    }

    fn small(rows: u64) -> Star {
        let mut spec = GenSpec::with_rows(rows);
        spec.customers = 20_000;
        spec.products = 2_000;
        spec.cities = 500;
        Star::new(spec)
    }

    #[test]
    fn any_split_gives_the_same_rows() {
        let star = small(50_000);
        let whole = star.batch(Table::SalesFact, 0..50_000);
        let parts: Vec<RecordBatch> = [0..7, 7..12_345, 12_345..12_346, 12_346..50_000]
            .into_iter()
            .map(|r| star.batch(Table::SalesFact, r))
            .collect();
        let joined = arrow::compute::concat_batches(&whole.schema(), &parts).unwrap();
        assert_eq!(whole, joined);
    }

    #[test]
    fn money_arithmetic_and_transactions_hold() {
        let star = small(30_000);
        let b = star.batch(Table::SalesFact, 0..30_000);
        let i64c = |n: &str| col::<Int64Type>(&b, n);
        let i32c = |n: &str| col::<Int32Type>(&b, n);
        let i16c = |n: &str| col::<Int16Type>(&b, n);
        let dec = |n: &str| col::<Decimal128Type>(&b, n);
        let (txn, line, geo, cust, pay) = (
            i64c("transaction_id"),
            i16c("line_item_id"),
            i32c("geo_key"),
            i32c("customer_key"),
            i32c("payment_key"),
        );
        let (qty, price, rev, cost, disc, profit) = (
            i16c("quantity"),
            dec("unit_price"),
            dec("revenue"),
            dec("cost"),
            dec("discount_amount"),
            dec("profit"),
        );
        let date = b
            .column_by_name("date")
            .unwrap()
            .as_primitive::<arrow::datatypes::Date32Type>()
            .clone();
        for i in 0..b.num_rows() {
            assert_eq!(
                rev.value(i),
                qty.value(i) as i128 * price.value(i) - disc.value(i),
                "row {i}"
            );
            assert_eq!(profit.value(i), rev.value(i) - cost.value(i), "row {i}");
            if i > 0 {
                assert!(
                    date.value(i) >= date.value(i - 1),
                    "sorted by date at row {i}"
                );
                if txn.value(i) == txn.value(i - 1) {
                    assert_eq!(line.value(i), line.value(i - 1) + 1);
                    assert_eq!(
                        (date.value(i), geo.value(i), cust.value(i), pay.value(i)),
                        (
                            date.value(i - 1),
                            geo.value(i - 1),
                            cust.value(i - 1),
                            pay.value(i - 1)
                        ),
                        "row {i}"
                    );
                } else {
                    assert!(txn.value(i) > txn.value(i - 1));
                    assert_eq!(line.value(i), 1);
                }
            }
        }
        assert_eq!(b.column(0).null_count(), 0);
    }
}

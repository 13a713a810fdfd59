//! Paths inside a data set, and the split of the fact table into Hive
//! partitions (contiguous row ranges, since rows are sorted by date).

use std::ops::Range;
use std::path::PathBuf;

use super::{FileFormat, Slice};
use crate::datagen::calendar::Day;
use crate::model::{PartitionKey, Table};

pub const MANIFEST: &str = "manifest.json";

/// One Hive partition of the fact table: key values and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub values: Vec<(PartitionKey, i32)>,
    pub rows: Range<u64>,
}

impl Partition {
    /// "year=2021/quarter=1" (empty when unpartitioned).
    pub fn dir(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Groups consecutive days with equal key values. `day_starts` has one entry
/// per day plus the total (see `Star::fact_day_starts`).
pub fn partitions(keys: &[PartitionKey], days: &[Day], day_starts: &[u64]) -> Vec<Partition> {
    let mut out: Vec<Partition> = Vec::new();
    for (d, day) in days.iter().enumerate() {
        let values: Vec<(PartitionKey, i32)> = keys
            .iter()
            .map(|k| (*k, k.value(day.year, day.month)))
            .collect();
        let rows = day_starts[d]..day_starts[d + 1];
        match out.last_mut() {
            Some(p) if p.values == values => p.rows.end = rows.end,
            _ => out.push(Partition { values, rows }),
        }
    }
    out
}

/// A file to write: table, format, relative path, rows.
#[derive(Debug, Clone)]
pub struct FilePlan {
    pub table: Table,
    pub format: FileFormat,
    pub path: PathBuf,
    pub rows: Range<u64>,
}

/// File name of a fact file: one file per partition per part.
pub fn fact_file_name(slice: Slice, format: FileFormat) -> String {
    format!("part-{:05}.{}", slice.part - 1, format.extension())
}

pub fn dimension_path(table: Table, format: FileFormat) -> PathBuf {
    PathBuf::from(format.name())
        .join(table.name())
        .join(format!("{}.{}", table.name(), format.extension()))
}

pub fn fact_path(partition: &Partition, slice: Slice, format: FileFormat) -> PathBuf {
    let mut p = PathBuf::from(format.name()).join(Table::SalesFact.name());
    if !partition.values.is_empty() {
        p.push(partition.dir());
    }
    p.join(fact_file_name(slice, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::calendar;
    use chrono::NaiveDate;

    #[test]
    fn year_quarter_partitions_cover_the_rows_in_order() {
        let days = calendar::days(
            NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
        );
        let starts: Vec<u64> = (0..=days.len() as u64).map(|d| d * 10).collect();
        let parts = partitions(&[PartitionKey::Year, PartitionKey::Quarter], &days, &starts);
        assert_eq!(parts.len(), 12);
        assert_eq!(parts[0].dir(), "year=2021/quarter=1");
        assert_eq!(parts[0].rows, 0..900);
        assert_eq!(parts.last().unwrap().rows.end, days.len() as u64 * 10);
        assert!(parts.windows(2).all(|w| w[0].rows.end == w[1].rows.start));
        let none = partitions(&[], &days, &starts);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].dir(), "");
    }

    #[test]
    fn slices_tile_the_rows() {
        let rows = 1_000_003u64;
        let mut next = 0;
        for part in 1..=7 {
            let r = Slice { part, parts: 7 }.rows(rows);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, rows);
    }
}

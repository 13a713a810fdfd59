//! Paths inside a data set, and the split of the fact table into Hive
//! partitions (contiguous row ranges, since rows are sorted by date).

use std::ops::Range;
use std::path::PathBuf;

use super::{FileFormat, Slice};
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

/// Groups consecutive days with equal key values. `days` are (year, month)
/// per day; `day_starts` has one entry per day plus the total (see
/// `BatchSource::fact_days`).
pub fn partitions(
    keys: &[PartitionKey],
    days: &[(i32, u32)],
    day_starts: &[u64],
) -> Vec<Partition> {
    let mut out: Vec<Partition> = Vec::new();
    for (d, &(year, month)) in days.iter().enumerate() {
        let values: Vec<(PartitionKey, i32)> =
            keys.iter().map(|k| (*k, k.value(year, month))).collect();
        let rows = day_starts[d]..day_starts[d + 1];
        match out.last_mut() {
            Some(p) if p.values == values => p.rows.end = rows.end,
            _ => out.push(Partition { values, rows }),
        }
    }
    out
}

/// The Hive key values in a data-set path ("…/year=2023/quarter=4/part-00000.parquet"
/// gives [(Year, 2023), (Quarter, 4)]); segments that are not `key=int` are skipped.
pub fn partition_values(path: &str) -> Vec<(PartitionKey, i32)> {
    path.split('/')
        .filter_map(|seg| seg.split_once('='))
        .filter_map(|(k, v)| Some((PartitionKey::from_name(k)?, v.parse().ok()?)))
        .collect()
}

/// The fact partition of a path, as the data set names it
/// (".../sales_fact/year=2023/quarter=4" gives "year=2023/quarter=4").
pub fn fact_partition(dir: &str) -> Option<&str> {
    dir.split_once("sales_fact/").map(|(_, rel)| rel)
}

/// The directory of a file in the data set (its partition for a fact file).
pub fn partition_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |x| x.0)
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
    use chrono::{Datelike, NaiveDate};

    #[test]
    fn year_quarter_partitions_cover_the_rows_in_order() {
        let days: Vec<(i32, u32)> = NaiveDate::from_ymd_opt(2021, 1, 1)
            .unwrap()
            .iter_days()
            .take_while(|d| d.year() < 2024)
            .map(|d| (d.year(), d.month()))
            .collect();
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
    fn hive_paths_parse_back_to_their_keys() {
        let part = Partition {
            values: vec![(PartitionKey::Year, 2023), (PartitionKey::Quarter, 4)],
            rows: 0..1,
        };
        let path = fact_path(&part, Slice::WHOLE, FileFormat::Parquet);
        let path = path.to_str().unwrap();
        assert_eq!(
            path,
            "parquet/sales_fact/year=2023/quarter=4/part-00000.parquet"
        );
        assert_eq!(partition_values(path), part.values);
        assert_eq!(
            partition_dir(path),
            "parquet/sales_fact/year=2023/quarter=4"
        );
        assert!(partition_values("parquet/dim_time/dim_time.parquet").is_empty());
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

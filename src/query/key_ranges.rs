//! The ranges of the fact table's integer columns, read from its Parquet
//! footers, for the keyed fact view (see `engine::FactView::Keyed`).
//!
//! DuckDB aggregates in a perfect hash table (an array indexed by the key,
//! no hashing, no probing) when it knows the range of every grouped
//! column and the ranges need at most `perfect_ht_threshold` bits (12 by
//! default). A scan of many Parquet files tells it no ranges at all, so
//! `GROUP BY customer_key` over the whole fact table hashes a million
//! groups. Handing the scan the ranges (`read_parquet`'s
//! `column_statistics`) and raising the threshold for that one question
//! lets it index them instead: docs/architecture.md, "Many groups".

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use arrow::datatypes::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;

use crate::model::Table;
use crate::storage::FileFormat;
use crate::storage::dataset::{DataSet, HiveKeys};

/// One integer column's bounds over every fact file, with no NULLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Range {
    /// The bits DuckDB's perfect hash table spends on this column: its
    /// range plus one slot for NULL and one to count from one
    /// (`RequiredBitsForValue(max - min + 2)` in plan_aggregate.cpp).
    pub fn bits(self) -> u32 {
        let slots = (self.max - self.min).saturating_add(2) as u64;
        64 - slots.leading_zeros()
    }
}

/// The fact table's integer columns with known ranges, and the
/// `column_statistics` option that hands them to DuckDB's scan.
#[derive(Debug, Clone)]
pub struct KeyRanges {
    pub ranges: BTreeMap<String, Range>,
    /// The columns each Hive partition holds a range of its own of (no
    /// two partitions' ranges overlap: `transaction_id`, numbered in date
    /// order), so grouping by one never puts two partitions' rows in one
    /// group.
    pub split: BTreeSet<String>,
}

impl KeyRanges {
    /// Reads every fact file's footer (a few KiB each). A column counts only
    /// when every row group of every file states its min, max and a null
    /// count of zero: the statistics are claims DuckDB trusts, so a column
    /// with any doubt is left out. `None` when no column qualifies.
    pub fn read(ds: &DataSet) -> Result<Option<KeyRanges>> {
        let ints: Vec<String> = Table::SalesFact
            .schema()
            .fields()
            .iter()
            .filter(|f| {
                matches!(
                    f.data_type(),
                    DataType::Int16 | DataType::Int32 | DataType::Int64
                )
            })
            .map(|f| f.name().clone())
            .collect();
        let mut ranges: BTreeMap<String, Option<Range>> = BTreeMap::new();
        let mut by_part: BTreeMap<String, BTreeMap<&HiveKeys, Option<Range>>> = BTreeMap::new();
        for (path, hive) in ds.files(Table::SalesFact, FileFormat::Parquet)? {
            let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
            let reader = SerializedFileReader::new(file)
                .with_context(|| format!("reading the Parquet footer of {path}"))?;
            let meta = reader.metadata();
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for rg in meta.row_groups() {
                for col in rg.columns() {
                    let name = col.column_path().string();
                    let Some(name) = ints.iter().find(|n| **n == name) else {
                        continue;
                    };
                    seen.insert(name.as_str());
                    let bounds = col.statistics().and_then(|s| {
                        if s.null_count_opt() != Some(0) {
                            return None;
                        }
                        match s {
                            Statistics::Int32(v) => {
                                Some((i64::from(*v.min_opt()?), i64::from(*v.max_opt()?)))
                            }
                            Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
                            _ => None,
                        }
                    });
                    widen(ranges.entry(name.clone()), bounds);
                    widen(by_part.entry(name.clone()).or_default().entry(hive), bounds);
                }
            }
            // A file without a row group of a column says nothing of it.
            for n in &ints {
                if !seen.contains(n.as_str()) && meta.num_row_groups() > 0 {
                    ranges.insert(n.clone(), None);
                    by_part.entry(n.clone()).or_default().insert(hive, None);
                }
            }
        }
        let split = by_part
            .into_iter()
            .filter(|(n, _)| ranges.get(n).is_some_and(Option::is_some))
            .filter(|(_, parts)| {
                parts
                    .values()
                    .copied()
                    .collect::<Option<Vec<Range>>>()
                    .is_some_and(disjoint)
            })
            .map(|(n, _)| n)
            .collect();
        let ranges: BTreeMap<String, Range> = ranges
            .into_iter()
            .filter_map(|(n, r)| r.filter(|r| r.min <= r.max).map(|r| (n, r)))
            .collect();
        Ok((!ranges.is_empty()).then_some(KeyRanges { ranges, split }))
    }

    /// Whether `column` is one each partition holds a range of its own of.
    pub fn is_split(&self, column: &str) -> bool {
        self.split.contains(column)
    }

    /// `column_statistics = MAP {…}` for `read_parquet`, in the shape
    /// DuckDB's `COPY … (RETURN_STATS)` reports them.
    pub fn option(&self) -> String {
        let entries: Vec<String> = self
            .ranges
            .iter()
            .map(|(n, r)| {
                format!(
                    "'{n}': MAP {{'min': '{}', 'max': '{}', 'null_count': '0'}}",
                    r.min, r.max
                )
            })
            .collect();
        format!("column_statistics = MAP {{{}}}", entries.join(", "))
    }

    /// The bits a perfect hash table grouped by `columns` needs, when every
    /// one is a column with a known range.
    pub fn bits(&self, columns: &[&str]) -> Option<u32> {
        columns
            .iter()
            .map(|c| self.ranges.get(*c).map(|r| r.bits()))
            .sum()
    }
}

/// Whether two or more ranges are, no two of them overlapping.
fn disjoint(mut ranges: Vec<Range>) -> bool {
    ranges.sort_by_key(|r| r.min);
    ranges.len() > 1 && ranges.windows(2).all(|w| w[0].max < w[1].min)
}

/// Widens the bounds held in `entry` by a row group's (`None`: unknown,
/// and unknown stays unknown).
fn widen<K: Ord>(
    entry: std::collections::btree_map::Entry<'_, K, Option<Range>>,
    bounds: Option<(i64, i64)>,
) {
    let fresh = bounds.map(|(min, max)| Range { min, max });
    let held = entry.or_insert(fresh);
    *held = match (*held, fresh) {
        (Some(r), Some(b)) => Some(Range {
            min: r.min.min(b.min),
            max: r.max.max(b.max),
        }),
        _ => None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_duckdbs_for_the_range_plus_two() {
        // A million customers: 1_000_001 slots + 1 → 20 bits (2^20 = 1_048_576).
        assert_eq!(
            Range {
                min: 1,
                max: 1_000_000
            }
            .bits(),
            20
        );
        assert_eq!(Range { min: 1, max: 1 }.bits(), 2);
        assert_eq!(Range { min: 0, max: 1 }.bits(), 2);
        assert_eq!(Range { min: 0, max: 2 }.bits(), 3);
        assert_eq!(Range { min: 1, max: 20 }.bits(), 5);
    }

    #[test]
    fn a_column_is_split_when_no_two_partitions_ranges_overlap() {
        let r = |min, max| Range { min, max };
        assert!(disjoint(vec![r(11, 20), r(1, 10), r(21, 21)]));
        // Touching at one value: a group could span both partitions.
        assert!(!disjoint(vec![r(1, 10), r(10, 20)]));
        assert!(!disjoint(vec![r(1, 100), r(40, 50)]));
        // One partition splits nothing.
        assert!(!disjoint(vec![r(1, 10)]));
    }

    #[test]
    fn the_option_names_each_column_with_its_bounds() {
        let k = KeyRanges {
            split: BTreeSet::new(),
            ranges: BTreeMap::from([
                ("customer_key".to_string(), Range { min: 1, max: 9 }),
                ("payment_key".to_string(), Range { min: 1, max: 20 }),
            ]),
        };
        assert_eq!(
            k.option(),
            "column_statistics = MAP {'customer_key': MAP {'min': '1', 'max': '9', 'null_count': '0'}, \
             'payment_key': MAP {'min': '1', 'max': '20', 'null_count': '0'}}"
        );
        assert_eq!(k.bits(&["customer_key", "payment_key"]), Some(4 + 5));
        assert_eq!(k.bits(&["customer_key", "revenue"]), None);
    }
}

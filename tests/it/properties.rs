//! Determinism as a property: any rows, thread count, row-group size and part
//! split produce the same content checksums.

use olap::datagen::{GenSpec, Star};
use olap::model::{PartitionKey, Table};
use olap::storage::checksum::batch_checksum;
use olap::storage::write::{WriteOptions, plan, write};
use olap::storage::{Codec, FileFormat, Slice, StorageSpec};
use proptest::prelude::*;

fn star(rows: u64, seed: u64) -> Star {
    let mut spec = GenSpec::with_rows(rows);
    spec.seed = seed;
    spec.customers = 5_000;
    spec.products = 300;
    Star::new(spec)
}

fn fact_checksum(
    star: &Star,
    threads: usize,
    row_group: u64,
    slice: Slice,
    keys: Vec<PartitionKey>,
) -> (u64, u64) {
    let storage = StorageSpec {
        formats: vec![FileFormat::Parquet],
        partition_by: keys,
        compression: Codec::Snappy,
        row_group_size: row_group,
    };
    let jobs: Vec<_> = plan(star, &storage, slice)
        .into_iter()
        .filter(|j| j.table == Table::SalesFact)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let entries = write(
        star,
        &storage,
        &jobs,
        dir.path(),
        &WriteOptions {
            durable: false,
            threads,
            progress: &|_| {},
        },
    )
    .unwrap();
    entries
        .iter()
        .find(|e| e.name == "sales_fact")
        .map(|e| {
            (
                e.rows,
                olap::storage::checksum::from_hex(&e.content_checksum).unwrap(),
            )
        })
        .unwrap_or((0, 0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn content_is_independent_of_threads_row_groups_and_parts(
        rows in 1u64..6_000,
        seed in 0u64..1_000,
        threads in 1usize..4,
        row_group in 1_024u64..5_000,
        parts in 1u32..5,
        by_month in any::<bool>(),
    ) {
        let s = star(rows, seed);
        let keys = if by_month { vec![PartitionKey::Year, PartitionKey::Month] } else { vec![PartitionKey::Year, PartitionKey::Quarter] };
        let whole = batch_checksum(&s.batch(Table::SalesFact, 0..rows)).unwrap();
        let written = fact_checksum(&s, threads, row_group, Slice::WHOLE, keys.clone());
        prop_assert_eq!(written, (rows, whole));
        let parts = parts.min(rows as u32);
        let mut sum = (0u64, 0u64);
        for part in 1..=parts {
            let (r, c) = fact_checksum(&s, threads, row_group, Slice { part, parts }, keys.clone());
            sum = (sum.0 + r, sum.1.wrapping_add(c));
        }
        prop_assert_eq!(sum, (rows, whole));
    }
}

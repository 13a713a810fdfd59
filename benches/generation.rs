//! Generation throughput: rows/s per core for the fact generator alone, for
//! each encoder (Parquet snappy/zstd/none, CSV), and for the whole pipeline on
//! all cores; bytes/s written per format and compression (the pipeline on
//! all cores, 2M fact rows). `cargo bench --bench generation`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use olap::datagen::{GenSpec, Star};
use olap::model::{PartitionKey, Table};
use olap::storage::parquet::ParquetTable;
use olap::storage::write::{FileJob, WriteOptions, plan, write};
use olap::storage::{Codec, FileFormat, Slice, StorageSpec, csv};

const ROWS: u64 = 262_144;

fn star(rows: u64) -> Star {
    Star::new(GenSpec::with_rows(rows))
}

fn generator(c: &mut Criterion) {
    let s = star(10_000_000);
    let mut g = c.benchmark_group("generate");
    g.throughput(Throughput::Elements(ROWS));
    g.bench_function("sales_fact_one_core", |b| {
        b.iter(|| black_box(s.batch(Table::SalesFact, 5_000_000..5_000_000 + ROWS)))
    });
    g.finish();
}

fn encoders(c: &mut Criterion) {
    let s = star(10_000_000);
    let batches: Vec<_> = (0..ROWS / 32_768)
        .map(|i| s.batch(Table::SalesFact, i * 32_768..(i + 1) * 32_768))
        .collect();
    let mut g = c.benchmark_group("encode_one_core");
    g.throughput(Throughput::Elements(ROWS));
    for codec in [Codec::Snappy, Codec::Zstd, Codec::None] {
        let t = ParquetTable::new(Table::SalesFact, codec, ROWS).unwrap();
        g.bench_function(format!("parquet_{}", codec.name()), |b| {
            b.iter(|| {
                let mut rg = t.row_group().unwrap();
                for batch in &batches {
                    rg.write(batch).unwrap();
                }
                black_box(rg.finish().unwrap())
            })
        });
    }
    g.bench_function("csv", |b| {
        let mut out = Vec::with_capacity(32 << 20);
        b.iter(|| {
            out.clear();
            for batch in &batches {
                csv::encode(batch, &mut out).unwrap();
            }
            black_box(out.len())
        })
    });
    g.bench_function("checksum", |b| {
        b.iter(|| {
            batches
                .iter()
                .map(|b| olap::storage::checksum::batch_checksum(b).unwrap())
                .fold(0u64, u64::wrapping_add)
        })
    });
    g.finish();
}

/// The pipeline benches' data set: 2M fact rows, 100K customers.
const PIPELINE_ROWS: u64 = 2_000_000;

fn pipeline_setup() -> (Star, usize) {
    let mut spec = GenSpec::with_rows(PIPELINE_ROWS);
    spec.customers = 100_000;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (Star::new(spec), threads)
}

fn pipeline(c: &mut Criterion) {
    let rows = PIPELINE_ROWS;
    let (s, threads) = pipeline_setup();
    let mut g = c.benchmark_group("pipeline_all_cores");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    for (name, formats) in [
        ("parquet", vec![FileFormat::Parquet]),
        (
            "parquet_and_csv",
            vec![FileFormat::Parquet, FileFormat::Csv],
        ),
    ] {
        let storage = StorageSpec {
            formats,
            partition_by: vec![PartitionKey::Year, PartitionKey::Quarter],
            compression: Codec::Snappy,
            row_group_size: StorageSpec::DEFAULT_ROW_GROUP_SIZE,
        };
        let jobs = fact_jobs(&s, &storage);
        g.bench_function(name, |b| {
            b.iter(|| black_box(write_once(&s, &storage, &jobs, threads)))
        });
    }
    g.finish();
}

/// Bytes written per second, per format and Parquet codec, whole pipeline.
fn pipeline_bytes(c: &mut Criterion) {
    let (s, threads) = pipeline_setup();
    let mut g = c.benchmark_group("pipeline_bytes_all_cores");
    g.sample_size(10);
    for (name, format, codec) in [
        ("parquet_snappy", FileFormat::Parquet, Codec::Snappy),
        ("parquet_zstd", FileFormat::Parquet, Codec::Zstd),
        ("parquet_none", FileFormat::Parquet, Codec::None),
        ("csv", FileFormat::Csv, Codec::Snappy),
    ] {
        let storage = StorageSpec {
            formats: vec![format],
            partition_by: vec![PartitionKey::Year, PartitionKey::Quarter],
            compression: codec,
            row_group_size: StorageSpec::DEFAULT_ROW_GROUP_SIZE,
        };
        let jobs = fact_jobs(&s, &storage);
        // The bytes one run writes, for the throughput.
        let bytes = walk_bytes(write_once(&s, &storage, &jobs, threads).path());
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(name, |b| {
            b.iter(|| black_box(write_once(&s, &storage, &jobs, threads)))
        });
    }
    g.finish();
}

fn fact_jobs(s: &Star, storage: &StorageSpec) -> Vec<FileJob> {
    plan(s, storage, Slice::WHOLE)
        .into_iter()
        .filter(|j| j.table.is_fact())
        .collect()
}

/// Writes the fact table into a fresh temporary directory (kept until dropped).
fn write_once(
    s: &Star,
    storage: &StorageSpec,
    jobs: &[FileJob],
    threads: usize,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = WriteOptions {
        threads,
        // As `olap generate` does by default.
        durable: true,
        progress: &|_| {},
    };
    write(s, storage, jobs, dir.path(), &opts).unwrap();
    dir
}

fn walk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_bytes(&p)
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

criterion_group!(benches, generator, encoders, pipeline, pipeline_bytes);
criterion_main!(benches);

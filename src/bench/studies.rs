//! The storage, scaling and concurrency studies.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::stats::Stats;
use crate::query::catalog::{Params, find, render};
use crate::query::engine::{Engine, EngineConfig};
use crate::query::execute::{concurrent, execute};
use crate::query::profile::profile;
use crate::query::run::shape;
use crate::storage::FileFormat;
use crate::storage::manifest::Manifest;

// ---------------------------------------------------------------- storage

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableSize {
    pub table: String,
    pub parquet_bytes: u64,
    pub csv_bytes: u64,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageQuery {
    pub id: String,
    pub parquet_p50_ms: f64,
    pub csv_p50_ms: f64,
    pub speedup: f64,
    pub parquet_bytes_read: Option<u64>,
    pub csv_bytes_read: Option<u64>,
    pub bytes_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageStudy {
    pub tables: Vec<TableSize>,
    pub total_ratio: f64,
    pub queries: Vec<StorageQuery>,
    /// Targets: size ≥ 5:1, speedup 10-50x, Parquet bytes < 20% of CSV's.
    pub size_target_met: bool,
    pub speedup_target_met: bool,
    pub bytes_target_met: bool,
    /// The speed-up bar chart (SVG), when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
}

pub fn sizes(m: &Manifest) -> (Vec<TableSize>, f64) {
    let tables: Vec<TableSize> = m
        .tables
        .iter()
        .map(|t| {
            let (p, c) = (t.bytes(FileFormat::Parquet), t.bytes(FileFormat::Csv));
            TableSize {
                table: t.name.clone(),
                parquet_bytes: p,
                csv_bytes: c,
                ratio: c as f64 / p.max(1) as f64,
            }
        })
        .collect();
    let (p, c) = (m.bytes(FileFormat::Parquet), m.bytes(FileFormat::Csv));
    (tables, c as f64 / p.max(1) as f64)
}

/// Bytes read by one profiled execution of `sql` on `engine`.
pub fn bytes_read(engine: &Engine, sql: &str) -> Result<Option<u64>> {
    Ok(profile(
        engine.connection(),
        sql,
        shape(&engine.manifest, engine.config.storage),
    )?
    .bytes_read)
}

// ---------------------------------------------------------------- scaling

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingPoint {
    pub rows: u64,
    pub partitions: u64,
    pub query: String,
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Growth {
    pub query: String,
    /// p50 latency growth per doubling of the data (geometric mean over the curve).
    pub per_doubling: f64,
    pub target_met: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingStudy {
    pub points: Vec<ScalingPoint>,
    pub growth: Vec<Growth>,
    /// The partition-filtered query on twice the partitions (twice the span and
    /// rows): p50 with 2x partitions / p50 with 1x.
    pub partition_growth: Option<PartitionGrowth>,
    pub csv: Option<String>,
    pub chart: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionGrowth {
    pub partitions: (u64, u64),
    pub rows: (u64, u64),
    pub p50_ms: (f64, f64),
    pub ratio: f64,
    /// Constant within noise: under 1.25x.
    pub target_met: bool,
}

/// Growth per doubling from (rows, p50) points, sorted by rows.
pub fn per_doubling(points: &[(u64, f64)]) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    if last.0 <= first.0 || first.1 <= 0.0 {
        return None;
    }
    let doublings = (last.0 as f64 / first.0 as f64).log2();
    Some((last.1 / first.1).powf(1.0 / doublings))
}

/// The data sets of a scaling study: `base` directory plus `-scaling/<rows>`.
pub fn scaling_dir(data_dir: &Path, rows: u64) -> PathBuf {
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    data_dir
        .with_file_name(format!("{name}-scaling"))
        .join(format!("rows-{rows}"))
}

/// Times `sql` on a data set: warm-up then `rounds` executions.
pub fn time_on(
    dir: &Path,
    threads: usize,
    sql: &str,
    rounds: usize,
    warmup: usize,
) -> Result<Stats> {
    let e = Engine::open(EngineConfig {
        data_dir: dir.to_owned(),
        storage: FileFormat::Parquet,
        threads,
        memory_limit: None,
        load_into: None,
    })?;
    let mut samples = Vec::new();
    for i in 0..warmup + rounds {
        let ms = execute(e.connection(), sql)?.latency_ms;
        if i >= warmup {
            samples.push(ms);
        }
    }
    Ok(Stats::of(&samples))
}

pub fn partitions_of(dir: &Path) -> Result<u64> {
    let m = Manifest::load(dir)?;
    Ok(shape(&m, FileFormat::Parquet).partitions)
}

/// The partition-filtered query with a fixed filter that exists in both
/// data sets of the partition-growth case.
pub fn filtered_sql(params: &Params) -> String {
    render(
        find("partition_pruning").expect("in the catalog"),
        0,
        params,
    )
}

// ------------------------------------------------------------- concurrency

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcurrencyCase {
    pub query: String,
    pub variant: String,
    pub clients: usize,
    pub single: Stats,
    /// Latency of each query when `clients` run at once (all batches).
    pub concurrent: Stats,
    /// Concurrent p50 / single p50.
    pub slowdown: f64,
    /// Queries per second, single and concurrent.
    pub single_qps: f64,
    pub concurrent_qps: f64,
    /// Only partition-filtered queries have the < 2x target.
    pub target: Option<f64>,
    pub target_met: Option<bool>,
}

pub fn concurrency_case(
    engine: &Engine,
    id: &str,
    vi: usize,
    params: &Params,
    clients: usize,
    rounds: usize,
    target: Option<f64>,
) -> Result<ConcurrencyCase> {
    let spec = find(id).context("query in the catalog")?;
    let sql = render(spec, vi, params);
    execute(engine.connection(), &sql)?;
    let single: Vec<f64> = (0..rounds)
        .map(|_| execute(engine.connection(), &sql).map(|e| e.latency_ms))
        .collect::<Result<_>>()?;
    let mut all = Vec::new();
    let mut wall = 0.0;
    let batches = rounds.div_ceil(clients).max(2);
    for _ in 0..batches {
        let (lat, w) = concurrent(engine, &sql, clients)?;
        all.extend(lat);
        wall += w;
    }
    let (s, c) = (Stats::of(&single), Stats::of(&all));
    let slowdown = c.p50 / s.p50.max(1e-9);
    Ok(ConcurrencyCase {
        query: id.to_string(),
        variant: spec.variants[vi].name.to_string(),
        clients,
        single_qps: 1e3 / s.mean.max(1e-9),
        concurrent_qps: (batches * clients) as f64 / (wall / 1e3).max(1e-9),
        single: s,
        concurrent: c,
        slowdown,
        target,
        target_met: target.map(|t| slowdown < t),
    })
}

//! The storage, scaling and concurrency studies.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::result::QueryResult;
use super::run::{Rounds, time_variant};
use super::stats::Stats;
use crate::pipeline::{GenerateConfig, generate};
use crate::query::catalog::{self, CATALOG, Params, QuerySpec, find, render};
use crate::query::engine::{Engine, EngineConfig};
use crate::query::execute::{concurrent, execute_on};
use crate::query::profile::profile;
use crate::query::run::{Engines, shape};
use crate::storage::dataset::DataSet;
use crate::storage::manifest::Manifest;
use crate::storage::{FileFormat, Slice, StorageSpec};
use crate::targets;
use crate::util::{human_count, progress_bar};

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
    /// The targets in `crate::targets`: size, speed-up, bytes read.
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
    let prepared = engine.prepare(sql)?;
    Ok(profile(
        engine.connection(),
        &prepared.sql,
        shape(engine.manifest(), engine.config().storage),
    )?
    .bytes_read)
}

pub fn storage_study(
    engines: &mut Engines,
    specs: &[&QuerySpec],
    params: &Params,
    rounds: &Rounds,
    manifest: &Manifest,
    timed: &[QueryResult],
    report_dir: &Path,
) -> Result<StorageStudy> {
    let (tables, total_ratio) = sizes(manifest);
    // Every selected single-storage query on CSV too (the comparisons already ran on both).
    let mut queries = Vec::new();
    let singles: Vec<&&QuerySpec> = specs.iter().filter(|s| !s.is_comparison()).collect();
    let pb = progress_bar(singles.len() as u64 + 2, "storage study", false);
    let mut csv_timed = Vec::new();
    for spec in singles {
        pb.set_message(spec.id);
        csv_timed.push(time_variant(
            engines,
            spec,
            0,
            FileFormat::Csv,
            params,
            rounds,
            manifest.spec.rows,
            None,
            None,
            &|| {},
        )?);
        pb.inc(1);
    }
    for spec in specs {
        let p = timed.iter().find(|q| {
            q.id == spec.id && q.storage == "parquet" && q.variant == spec.variants[0].name
        });
        let c = timed
            .iter()
            .chain(&csv_timed)
            .find(|q| q.id == spec.id && q.storage == "csv" && q.variant == spec.variants[0].name);
        let (Some(p), Some(c)) = (p, c) else { continue };
        let sql = catalog::render(spec, 0, params);
        let (pb_, cb_) = if spec.id == "column_io" || spec.id == "storage_comparison" {
            (
                bytes_read(engines.get(FileFormat::Parquet)?, &sql)?,
                bytes_read(engines.get(FileFormat::Csv)?, &sql)?,
            )
        } else {
            (None, None)
        };
        queries.push(StorageQuery {
            id: spec.id.to_string(),
            parquet_p50_ms: p.stats.p50,
            csv_p50_ms: c.stats.p50,
            speedup: c.stats.p50 / p.stats.p50.max(1e-9),
            parquet_bytes_read: pb_,
            csv_bytes_read: cb_,
            bytes_share: match (pb_, cb_) {
                (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
                _ => None,
            },
        });
    }
    pb.finish_and_clear();
    let speedup_target_met =
        !queries.is_empty() && queries.iter().all(|q| targets::speedup_met(q.speedup));
    let bytes_target_met = queries
        .iter()
        .filter_map(|q| q.bytes_share)
        .all(targets::bytes_share_met);
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let svg = report_dir.join("storage-speedup.svg");
    let bars: Vec<(String, f64)> = queries
        .iter()
        .map(|q| (q.id.replace('_', " "), q.speedup))
        .collect();
    super::chart::bar_chart(
        &svg,
        "Parquet speed-up over CSV (p50, same query)",
        "times faster",
        &bars,
        Some((targets::MIN_PARQUET_SPEEDUP, "target ≥ 10x")),
    )?;
    Ok(StorageStudy {
        size_target_met: targets::compression_met(total_ratio),
        tables,
        total_ratio,
        queries,
        speedup_target_met,
        bytes_target_met,
        chart: Some(svg.display().to_string()),
    })
}

// ---------------------------------------------------------------- scaling

/// Default queries of the scaling study: a full scan, a filtered query, a
/// window function and a ranking.
const SCALING_DEFAULT: [&str; 4] = [
    "revenue_by_region_year",
    "category_by_quarter",
    "moving_average",
    "product_rankings",
];

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
    /// Constant within noise (`targets::MAX_PARTITION_GROWTH`).
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

#[allow(clippy::too_many_arguments)]
pub fn scaling_study(
    data_dir: &Path,
    sizes: Option<&Vec<u64>>,
    dirs: Option<&Vec<PathBuf>>,
    manifest: &Manifest,
    specs: &[&QuerySpec],
    params: &Params,
    rounds: &Rounds,
    threads: usize,
    report_dir: &Path,
) -> Result<ScalingStudy> {
    let chosen: Vec<&QuerySpec> = if specs.len() == CATALOG.len() {
        SCALING_DEFAULT
            .iter()
            .filter_map(|id| catalog::find(id))
            .collect()
    } else {
        specs
            .iter()
            .copied()
            .filter(|s| !s.is_comparison())
            .collect()
    };
    // Each data set opened once, for all its queries.
    let mut data_sets: Vec<Arc<DataSet>> = Vec::new();
    if let Some(sizes) = sizes {
        for &rows in sizes {
            data_sets.push(ensure_data_set(
                &scaling_dir(data_dir, rows),
                manifest,
                rows,
                None,
                threads,
            )?);
        }
    } else if let Some(dirs) = dirs {
        for d in dirs {
            data_sets.push(Arc::new(DataSet::open(d)?));
        }
    }
    let mut points = Vec::new();
    let pb = progress_bar((data_sets.len() * chosen.len()) as u64, "scaling", false);
    for ds in &data_sets {
        let m = ds.manifest();
        let partitions = shape(m, FileFormat::Parquet).partitions;
        for spec in &chosen {
            pb.set_message(format!("{} @ {}", spec.id, human_count(m.spec.rows)));
            let sql = catalog::render(spec, 0, params);
            let stats = time_on(ds, threads, &sql, rounds.rounds, rounds.warmup)?;
            points.push(ScalingPoint {
                rows: m.spec.rows,
                partitions,
                query: spec.id.to_string(),
                stats,
            });
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let mut growth = Vec::new();
    let mut series = Vec::new();
    for spec in &chosen {
        let mut pts: Vec<(u64, f64)> = points
            .iter()
            .filter(|p| p.query == spec.id)
            .map(|p| (p.rows, p.stats.p50))
            .collect();
        pts.sort_by_key(|p| p.0);
        if let Some(g) = per_doubling(&pts) {
            growth.push(Growth {
                query: spec.id.to_string(),
                per_doubling: g,
                target_met: targets::growth_met(g),
            });
        }
        series.push((spec.id.to_string(), pts));
    }
    // Twice the partitions: twice the span and rows, the same filter.
    let partition_growth = match (sizes, data_sets.first()) {
        (Some(sizes), Some(base)) => {
            let rows = sizes[0];
            let span = (manifest.spec.end - manifest.spec.start).num_days() + 1;
            let end = manifest.spec.start + chrono::Duration::days(2 * span - 1);
            let doubled = ensure_data_set(
                &scaling_dir(data_dir, rows * 2).with_extension("partitions-x2"),
                manifest,
                rows * 2,
                Some(end),
                threads,
            )?;
            let mut p = params.clone();
            let first_year = chrono::Datelike::year(&manifest.spec.start);
            p.0.insert("year".into(), first_year.to_string());
            p.0.insert("quarter".into(), "4".into()); // the last quarter of the first year: in both spans
            let sql = filtered_sql(&p);
            let a = time_on(base, threads, &sql, rounds.rounds, rounds.warmup)?;
            let b = time_on(&doubled, threads, &sql, rounds.rounds, rounds.warmup)?;
            let ratio = b.p50 / a.p50.max(1e-9);
            Some(PartitionGrowth {
                partitions: (partitions_of(base), partitions_of(&doubled)),
                rows: (rows, rows * 2),
                p50_ms: (a.p50, b.p50),
                ratio,
                target_met: targets::partition_growth_met(ratio),
            })
        }
        _ => None,
    };
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let csv_path = report_dir.join("scaling.csv");
    let mut csv = String::from("rows,partitions,query,p50_ms,p95_ms,min_ms,max_ms\n");
    for p in &points {
        csv.push_str(&format!(
            "{},{},{},{:.3},{:.3},{:.3},{:.3}\n",
            p.rows, p.partitions, p.query, p.stats.p50, p.stats.p95, p.stats.min, p.stats.max
        ));
    }
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    let svg = report_dir.join("scaling.svg");
    super::chart::latency_chart(
        &svg,
        &format!("olap: p50 latency vs data size ({threads} threads)"),
        &series,
        targets::MAX_GROWTH_PER_DOUBLING,
    )?;
    Ok(ScalingStudy {
        points,
        growth,
        partition_growth,
        csv: Some(csv_path.display().to_string()),
        chart: Some(svg.display().to_string()),
    })
}

/// A data set like `like` with `rows` rows (and span end), reused when
/// present, opened.
pub fn ensure_data_set(
    dir: &Path,
    like: &Manifest,
    rows: u64,
    end: Option<chrono::NaiveDate>,
    threads: usize,
) -> Result<Arc<DataSet>> {
    let mut spec = like.spec.clone();
    spec.rows = rows;
    if let Some(e) = end {
        spec.end = e;
    }
    if let Ok(ds) = DataSet::open(dir)
        && ds.manifest().spec == spec
        && ds.manifest().storage.partition_by == like.storage.partition_by
    {
        return Ok(Arc::new(ds));
    }
    tracing::info!(
        "olap: generating {} rows into {} for the scaling study",
        human_count(rows),
        dir.display()
    );
    let cfg = GenerateConfig {
        spec,
        storage: StorageSpec {
            formats: vec![FileFormat::Parquet],
            ..like.storage.clone()
        },
        slice: Slice::WHOLE,
        output: dir.to_path_buf(),
        threads,
        force: true,
        wait: false,
        durable: true,
    };
    generate(&cfg)?;
    Ok(Arc::new(DataSet::open(dir)?))
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
    ds: &Arc<DataSet>,
    threads: usize,
    sql: &str,
    rounds: usize,
    warmup: usize,
) -> Result<Stats> {
    let e = Engine::open(ds, EngineConfig::new(FileFormat::Parquet, threads))?;
    let mut samples = Vec::new();
    for i in 0..warmup + rounds {
        let ms = execute_on(&e, sql)?.latency_ms;
        if i >= warmup {
            samples.push(ms);
        }
    }
    Ok(Stats::of(&samples))
}

pub fn partitions_of(ds: &DataSet) -> u64 {
    shape(ds.manifest(), FileFormat::Parquet).partitions
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

/// Who asks the concurrency study's queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clients {
    /// Threads of this process, each on its own DuckDB connection.
    #[default]
    Threads,
    /// PostgreSQL wire clients, each its own TCP connection to an
    /// `olap serve` started for the study (the `serve` feature).
    Pgwire,
}

impl Clients {
    pub const NAMES: [&str; 2] = ["threads", "pgwire"];

    pub fn parse(s: &str) -> Option<Clients> {
        match s {
            "threads" => Some(Clients::Threads),
            "pgwire" => Some(Clients::Pgwire),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Clients::Threads => "threads",
            Clients::Pgwire => "pgwire",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcurrencyCase {
    pub query: String,
    pub variant: String,
    pub clients: usize,
    /// Threads in process or wire clients (results before this field: threads).
    #[serde(default)]
    pub via: Clients,
    pub single: Stats,
    /// Latency of each query when `clients` run at once (all batches).
    pub concurrent: Stats,
    /// Concurrent p50 / single p50.
    pub slowdown: f64,
    /// Queries per second, single and concurrent.
    pub single_qps: f64,
    pub concurrent_qps: f64,
    /// Only partition-filtered queries have a slowdown target
    /// (`targets::MAX_CONCURRENT_SLOWDOWN`).
    pub target: Option<f64>,
    pub target_met: Option<bool>,
}

/// The concurrency study: a partition-filtered query (with its slowdown
/// target) and a full scan (throughput only), `clients` at once vs alone.
pub fn concurrency_study(
    engine: &Engine,
    params: &Params,
    clients: usize,
    via: Clients,
    rounds: usize,
) -> Result<Vec<ConcurrencyCase>> {
    let cases = [
        ("partition_pruning", Some(targets::MAX_CONCURRENT_SLOWDOWN)),
        ("revenue_by_region_year", None),
    ];
    #[cfg(feature = "serve")]
    let server = match via {
        Clients::Pgwire => Some(crate::serve::Background::start(
            Arc::clone(engine.data_set()),
            engine.config().threads,
        )?),
        Clients::Threads => None,
    };
    #[cfg(not(feature = "serve"))]
    if via == Clients::Pgwire {
        crate::bail_user!(
            "--clients pgwire needs the server, which this build leaves out: cargo build --release --features serve"
        );
    }
    let pb = progress_bar(cases.len() as u64, "concurrency", false);
    let mut out = Vec::new();
    for (id, target) in cases {
        pb.set_message(id);
        let case = match via {
            Clients::Threads => concurrency_case(engine, id, 0, params, clients, rounds, target)?,
            #[cfg(feature = "serve")]
            Clients::Pgwire => {
                let addr = server.as_ref().expect("started above").addr;
                wire_case(addr, id, 0, params, clients, rounds, target)?
            }
            #[cfg(not(feature = "serve"))]
            Clients::Pgwire => unreachable!("refused above"),
        };
        out.push(case);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// [`concurrency_case`] with wire clients: one connection asks alone, then
/// `clients` connections (opened before the clock starts) ask at once,
/// released together by a barrier, in batches.
#[cfg(feature = "serve")]
pub fn wire_case(
    addr: std::net::SocketAddr,
    id: &str,
    vi: usize,
    params: &Params,
    clients: usize,
    rounds: usize,
    target: Option<f64>,
) -> Result<ConcurrencyCase> {
    use crate::query::execute::at_once;
    use crate::serve::client::Client;
    use std::time::Instant;

    let spec = find(id).context("query in the catalog")?;
    let sql = render(spec, vi, params);
    let mut alone = Client::connect(addr, "olap-bench")?;
    // Twice untimed: the server decides a rewrite on a question's second
    // run, as `olap benchmark` does before its timed rounds.
    let expected = alone.query(&sql)?;
    alone.query(&sql)?;
    let single: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            alone.query(&sql)?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_>>()?;
    drop(alone);
    let mut conns: Vec<Client> = (0..clients)
        .map(|_| Client::connect(addr, "olap-bench"))
        .collect::<Result<_>>()?;
    let batches = rounds.div_ceil(clients).max(2);
    let (mut all, mut wall) = (Vec::new(), 0.0);
    for _ in 0..batches {
        let (lat, w) = at_once(&mut conns, |c| {
            let t = Instant::now();
            let got = c.query(&sql)?;
            // Rows, not bytes: a float's last digits may differ by the
            // order of a parallel sum.
            if got.rows != expected.rows {
                anyhow::bail!(
                    "a wire client got {} rows, alone {}",
                    got.rows,
                    expected.rows
                );
            }
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })?;
        all.extend(lat);
        wall += w;
    }
    Ok(case_of(
        id,
        spec,
        vi,
        clients,
        Clients::Pgwire,
        &single,
        &all,
        wall,
        batches,
        target,
    ))
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
    execute_on(engine, &sql)?;
    let single: Vec<f64> = (0..rounds)
        .map(|_| execute_on(engine, &sql).map(|e| e.latency_ms))
        .collect::<Result<_>>()?;
    let mut all = Vec::new();
    let mut wall = 0.0;
    let batches = rounds.div_ceil(clients).max(2);
    for _ in 0..batches {
        let (lat, w) = concurrent(engine, &sql, clients)?;
        all.extend(lat);
        wall += w;
    }
    Ok(case_of(
        id,
        spec,
        vi,
        clients,
        Clients::Threads,
        &single,
        &all,
        wall,
        batches,
        target,
    ))
}

#[allow(clippy::too_many_arguments)]
fn case_of(
    id: &str,
    spec: &QuerySpec,
    vi: usize,
    clients: usize,
    via: Clients,
    single: &[f64],
    all: &[f64],
    wall: f64,
    batches: usize,
    target: Option<f64>,
) -> ConcurrencyCase {
    let (s, c) = (Stats::of(single), Stats::of(all));
    let slowdown = c.p50 / s.p50.max(1e-9);
    ConcurrencyCase {
        query: id.to_string(),
        variant: spec.variants[vi].name.to_string(),
        clients,
        via,
        single_qps: 1e3 / s.mean.max(1e-9),
        concurrent_qps: (batches * clients) as f64 / (wall / 1e3).max(1e-9),
        single: s,
        concurrent: c,
        slowdown,
        target,
        target_met: target.map(|_| targets::slowdown_met(slowdown)),
    }
}

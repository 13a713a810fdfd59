//! Running catalog entries: every variant on every storage it needs, with
//! timing, optional EXPLAIN ANALYZE profile, a query-log line per execution,
//! and the entry's checks (pruning, Parquet vs CSV). Shared by `analyze`,
//! `benchmark` and the demo.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use super::catalog::{Expectation, Params, QuerySpec, render};
use super::engine::{Engine, EngineConfig};
use super::execute::execute;
use super::log::{LogEntry, QueryLog, now};
use super::profile::{DataSetShape, Profile, profile};
use crate::bail_user;
use crate::error::UserError;
use crate::model::Table;
use crate::storage::FileFormat;
use crate::storage::manifest::Manifest;

/// Engines per storage, opened on first use.
pub struct Engines {
    base: EngineConfig,
    parquet: Option<Engine>,
    csv: Option<Engine>,
}

impl Engines {
    pub fn new(base: EngineConfig) -> Engines {
        Engines {
            base,
            parquet: None,
            csv: None,
        }
    }

    pub fn get(&mut self, storage: FileFormat) -> Result<&Engine> {
        let slot = match storage {
            FileFormat::Parquet => &mut self.parquet,
            FileFormat::Csv => &mut self.csv,
        };
        if slot.is_none() {
            let mut cfg = self.base.clone();
            cfg.storage = storage;
            if storage == FileFormat::Csv {
                // Loading is for the primary storage only.
                cfg.load_into = None;
            }
            *slot = Some(Engine::open(cfg)?);
        }
        Ok(slot.as_ref().expect("just opened"))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.base
    }
}

/// The data set's partitions and files, for pruning checks.
pub fn shape(m: &Manifest, storage: FileFormat) -> DataSetShape {
    let files: Vec<&str> = m
        .table(Table::SalesFact)
        .map(|t| t.files_of(storage).map(|f| f.path.as_str()).collect())
        .unwrap_or_default();
    let dirs: BTreeSet<&str> = files
        .iter()
        .map(|f| f.rsplit_once('/').map_or("", |x| x.0))
        .collect();
    DataSetShape {
        fact_files: files.len() as u64,
        partitions: if m.storage.partition_by.is_empty() {
            0
        } else {
            dirs.len() as u64
        },
    }
}

/// Partitions of the data set matching year (and quarter) filters.
pub fn matching_partitions(m: &Manifest, year: i32, quarter: i32) -> u64 {
    let Some(t) = m.table(Table::SalesFact) else {
        return 0;
    };
    let mut dirs = BTreeSet::new();
    for f in t.files_of(m.storage.formats[0]) {
        let kv: BTreeMap<&str, i32> = f
            .path
            .split('/')
            .filter_map(|seg| seg.split_once('='))
            .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
            .collect();
        let ok = kv.get("year").is_none_or(|&y| y == year)
            && kv.get("quarter").is_none_or(|&q| q == quarter)
            && kv
                .get("month")
                .is_none_or(|&mo| (mo - 1) / 3 + 1 == quarter);
        if ok {
            dirs.insert(f.path.rsplit_once('/').map_or("", |x| x.0).to_string());
        }
    }
    dirs.len() as u64
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantRun {
    pub variant: String,
    pub storage: FileFormat,
    pub sql: String,
    pub latency_ms: Option<f64>,
    pub result_rows: u64,
    pub columns: Vec<String>,
    /// All result rows, formatted.
    pub rows: Vec<Vec<String>>,
    pub profile: Option<Profile>,
    /// DuckDB's plan (EXPLAIN), when not executed.
    pub plan: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryRun {
    pub id: String,
    pub story: String,
    pub title: String,
    pub about: String,
    pub parameters: BTreeMap<String, String>,
    pub target: String,
    pub target_p95_ms: Option<u64>,
    pub runs: Vec<VariantRun>,
    pub checks: Vec<Check>,
    /// Why the entry did not run (e.g. it needs CSV and there is none).
    pub skipped: Option<String>,
}

/// What to do with each entry.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub execute: bool,
    pub profile: bool,
    /// Storage for single-storage entries.
    pub storage: FileFormat,
    pub params: Params,
}

/// Formats a result for display: column names and rows of text.
pub fn format_rows(batches: &[RecordBatch]) -> (Vec<String>, Vec<Vec<String>>) {
    let Some(first) = batches.first() else {
        return (Vec::new(), Vec::new());
    };
    let columns = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formattable"))
            .collect();
        for i in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    (columns, rows)
}

/// Runs ad-hoc SQL (from `--sql`); DuckDB's errors are the user's to fix.
pub fn run_sql(
    engines: &mut Engines,
    sql: &str,
    opts: &RunOptions,
    log: Option<&QueryLog>,
) -> Result<QueryRun> {
    let spec = QuerySpec {
        id: "adhoc",
        story: "-",
        title: "Ad-hoc SQL",
        about: "",
        variants: &[],
        storages: &[],
        expect: Expectation::P95Ms(0),
    };
    let run = run_variant(
        engines,
        &spec,
        "adhoc",
        sql.to_string(),
        opts.storage,
        opts,
        &BTreeMap::new(),
        log,
    )
    .map_err(|e| UserError::new(format!("{e:#}")))?;
    Ok(QueryRun {
        id: "adhoc".into(),
        story: "-".into(),
        title: "Ad-hoc SQL".into(),
        about: String::new(),
        parameters: BTreeMap::new(),
        target: String::new(),
        target_p95_ms: None,
        runs: vec![run],
        checks: Vec::new(),
        skipped: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_variant(
    engines: &mut Engines,
    spec: &QuerySpec,
    variant: &str,
    sql: String,
    storage: FileFormat,
    opts: &RunOptions,
    parameters: &BTreeMap<String, String>,
    log: Option<&QueryLog>,
) -> Result<VariantRun> {
    let threads = engines.config().threads;
    let engine = engines.get(storage)?;
    let shape = shape(&engine.manifest, storage);
    let mut run = VariantRun {
        variant: variant.to_string(),
        storage,
        sql: sql.clone(),
        latency_ms: None,
        result_rows: 0,
        columns: Vec::new(),
        rows: Vec::new(),
        profile: None,
        plan: None,
    };
    if !opts.execute {
        let b = engine.query(&format!("EXPLAIN {sql}"))?;
        let (_, rows) = format_rows(&b);
        run.plan = Some(
            rows.into_iter()
                .filter_map(|r| r.last().cloned())
                .collect::<Vec<_>>()
                .join("\n"),
        );
        return Ok(run);
    }
    let exec = execute(engine.connection(), &sql);
    let entry =
        |status: &str, err: Option<String>, ms: f64, rows: u64, p: Option<&Profile>| LogEntry {
            timestamp: now(),
            query_id: spec.id.to_string(),
            variant: variant.to_string(),
            storage: storage.name().to_string(),
            parameters: parameters.clone(),
            duration_ms: ms,
            result_rows: rows,
            threads,
            rows_scanned: p.and_then(|p| p.rows_scanned),
            bytes_read: p.and_then(|p| p.bytes_read),
            partitions_scanned: p.and_then(|p| p.partitions_scanned),
            partitions_total: p.map(|p| p.partitions_total),
            status: status.to_string(),
            error: err,
        };
    let exec = match exec {
        Ok(e) => e,
        Err(e) => {
            if let Some(log) = log {
                log.append(&entry("error", Some(format!("{e:#}")), 0.0, 0, None))?;
            }
            return Err(e);
        }
    };
    run.latency_ms = Some(exec.latency_ms);
    run.result_rows = exec.rows();
    (run.columns, run.rows) = format_rows(&exec.batches);
    if opts.profile || spec.is_comparison() {
        run.profile = Some(profile(engine.connection(), &sql, shape)?);
    }
    if let Some(log) = log {
        log.append(&entry(
            "ok",
            None,
            exec.latency_ms,
            run.result_rows,
            run.profile.as_ref(),
        ))?;
    }
    Ok(run)
}

/// Runs one catalog entry.
pub fn run_query(
    engines: &mut Engines,
    spec: &QuerySpec,
    opts: &RunOptions,
    manifest: &Manifest,
    log: Option<&QueryLog>,
) -> Result<QueryRun> {
    let parameters = opts.params.for_query(spec);
    let mut out = QueryRun {
        id: spec.id.into(),
        story: spec.story.into(),
        title: spec.title.into(),
        about: spec.about.replace(
            "{window}",
            parameters.get("window").map_or("3", |s| s.as_str()),
        ),
        parameters: parameters.clone(),
        target: spec.expect.describe(),
        target_p95_ms: spec.target_ms(),
        runs: Vec::new(),
        checks: Vec::new(),
        skipped: None,
    };
    if let Some(y) = parameters.get("year").and_then(|y| y.parse::<i32>().ok()) {
        let (lo, hi) = (
            chrono::Datelike::year(&manifest.spec.start),
            chrono::Datelike::year(&manifest.spec.end),
        );
        if !(lo..=hi).contains(&y) {
            bail_user!("--param year={y} is outside the data set's span ({lo}..={hi})");
        }
    }
    let storages: Vec<FileFormat> = if spec.is_comparison() {
        spec.storages.to_vec()
    } else {
        vec![opts.storage]
    };
    if let Some(missing) = storages
        .iter()
        .find(|s| !manifest.storage.formats.contains(s))
    {
        out.skipped = Some(format!(
            "needs {} files; generate with --format both",
            missing.name()
        ));
        return Ok(out);
    }
    for (vi, v) in spec.variants.iter().enumerate() {
        for &storage in &storages {
            let sql = render(spec, vi, &opts.params);
            out.runs.push(run_variant(
                engines,
                spec,
                v.name,
                sql,
                storage,
                opts,
                &parameters,
                log,
            )?);
        }
    }
    if opts.execute {
        out.checks = checks(spec, &out, manifest, &opts.params);
    }
    Ok(out)
}

fn checks(spec: &QuerySpec, run: &QueryRun, manifest: &Manifest, params: &Params) -> Vec<Check> {
    let by = |storage: FileFormat| run.runs.iter().find(|r| r.storage == storage);
    match spec.expect {
        Expectation::Pruning => {
            let Some(p) = run.runs.first().and_then(|r| r.profile.as_ref()) else {
                return Vec::new();
            };
            let year: i32 = params
                .0
                .get("year")
                .and_then(|v| v.parse().ok())
                .unwrap_or(2023);
            let quarter: i32 = params
                .0
                .get("quarter")
                .and_then(|v| v.parse().ok())
                .unwrap_or(4);
            let expected = matching_partitions(manifest, year, quarter);
            match p.partitions_scanned {
                Some(scanned) if p.partitions_total > 0 => {
                    let mut detail = format!(
                        "{}; {expected} of {} partitions match year={year} AND quarter={quarter}",
                        p.pruning_line().unwrap_or_default(),
                        p.partitions_total
                    );
                    if !manifest.storage.partition_by.contains(&crate::model::PartitionKey::Quarter)
                        && !manifest.storage.partition_by.contains(&crate::model::PartitionKey::Month)
                    {
                        detail.push_str(" (partitioned by year only: a quarter filter can skip at most the other years)");
                    }
                    vec![Check { name: "partition pruning".into(), passed: scanned == expected, detail }]
                }
                _ => vec![Check {
                    name: "partition pruning".into(),
                    passed: false,
                    detail: "the data set is not partitioned: nothing can be pruned (generate with --partition-by year,quarter)".into(),
                }],
            }
        }
        Expectation::ParquetSpeedup(x) => match (
            by(FileFormat::Parquet).and_then(|r| r.latency_ms),
            by(FileFormat::Csv).and_then(|r| r.latency_ms),
        ) {
            (Some(p), Some(c)) => {
                let speedup = c / p.max(1e-9);
                vec![Check {
                    name: "Parquet vs CSV speed".into(),
                    passed: speedup >= x,
                    detail: format!(
                        "Parquet {speedup:.1}x faster ({:.0} ms vs {:.0} ms; target ≥ {x:.0}x)",
                        p, c
                    ),
                }]
            }
            _ => Vec::new(),
        },
        Expectation::ParquetBytesShare(max) => {
            let bytes = |s| {
                by(s)
                    .and_then(|r| r.profile.as_ref())
                    .and_then(|p| p.bytes_read)
            };
            match (bytes(FileFormat::Parquet), bytes(FileFormat::Csv)) {
                (Some(p), Some(c)) if c > 0 => {
                    let share = p as f64 / c as f64;
                    vec![Check {
                        name: "Parquet vs CSV bytes read".into(),
                        passed: share < max,
                        detail: format!(
                            "Parquet read {} = {:.1}% of CSV's {} (target < {:.0}%)",
                            crate::util::human_bytes(p),
                            share * 100.0,
                            crate::util::human_bytes(c),
                            max * 100.0
                        ),
                    }]
                }
                _ => Vec::new(),
            }
        }
        Expectation::P95Ms(_) => Vec::new(),
    }
}

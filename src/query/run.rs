//! Running catalog entries: every variant on every storage it needs, with
//! timing, optional EXPLAIN ANALYZE profile, a query-log line per execution,
//! and the entry's checks (pruning, Parquet vs CSV). Shared by `analyze`,
//! `benchmark` and the demo.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::Datelike;
use serde::Serialize;

use super::catalog::{Expectation, Params, QuerySpec, render};
use super::engine::{Engine, EngineConfig, FactView};
use super::execute::{Execution, execute};
use super::log::{LogEntry, QueryLog, now};
use super::profile::{DataSetShape, Profile, execute_profiled};
use super::results::ResultSet;
use super::stream::stream;
use crate::bail_user;
use crate::error::UserError;
use crate::model::{PartitionKey, Table};
use crate::storage::FileFormat;
use crate::storage::layout::{partition_dir, partition_values};
use crate::storage::manifest::Manifest;
use crate::targets::{self, Check};
use crate::util::human_bytes;

/// Engines per storage over one opened data set, opened on first use.
pub struct Engines {
    ds: std::sync::Arc<crate::storage::dataset::DataSet>,
    base: EngineConfig,
    parquet: Option<Engine>,
    csv: Option<Engine>,
}

impl Engines {
    pub fn new(
        ds: &std::sync::Arc<crate::storage::dataset::DataSet>,
        base: EngineConfig,
    ) -> Engines {
        Engines {
            ds: std::sync::Arc::clone(ds),
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
            *slot = Some(Engine::open(&self.ds, cfg)?);
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
    let dirs: BTreeSet<&str> = files.iter().map(|f| partition_dir(f)).collect();
    DataSetShape {
        fact_files: files.len() as u64,
        partitions: if m.storage.partition_by.is_empty() {
            0
        } else {
            dirs.len() as u64
        },
    }
}

/// Partitions of the data set matching a year (and quarter) filter.
pub fn matching_partitions(m: &Manifest, year: i32, quarter: Option<i32>) -> u64 {
    let Some(t) = m.table(Table::SalesFact) else {
        return 0;
    };
    let mut dirs = BTreeSet::new();
    for f in t.files_of(m.storage.formats[0]) {
        let ok = partition_values(&f.path).iter().all(|&(k, v)| match k {
            PartitionKey::Year => v == year,
            PartitionKey::Quarter => quarter.is_none_or(|q| v == q),
            PartitionKey::Month => quarter.is_none_or(|q| (v - 1) / 3 + 1 == q),
        });
        if ok {
            dirs.insert(partition_dir(&f.path));
        }
    }
    dirs.len() as u64
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantRun {
    pub variant: String,
    pub storage: FileFormat,
    pub sql: String,
    /// Wall time of the execution: to the full result, or (when
    /// `complete` is false) to the rows fetched.
    pub latency_ms: Option<f64>,
    /// Rows fetched: all of them when `complete`.
    pub result_rows: u64,
    /// The whole result was read (ad-hoc SQL on a terminal stops after the
    /// rows it shows).
    pub complete: bool,
    /// Time to the first rows, when streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_rows_ms: Option<f64>,
    /// Columns and rows of the result (numbers typed in JSON).
    #[serde(flatten)]
    pub result: ResultSet,
    pub profile: Option<Profile>,
    /// DuckDB's plan (EXPLAIN), when not executed.
    pub plan: Option<String>,
    /// How the fact view read the data set for this SQL (chosen from its
    /// plan: see `Engine::prepare`); absent for loaded tables or
    /// unpartitioned data sets, which have one way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact_view: Option<FactView>,
    /// Why that view (read from the plan, or set by `--fact-view`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact_view_reason: Option<String>,
    /// What olap changed in the SQL before running it (see
    /// `query::rewrite`), and the SQL that ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten_sql: Option<String>,
    /// Why a rewrite that applied was refused by the guard (see
    /// `query::rewrite::guard`), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_rewrite: Option<String>,
    /// Why the rewrite was abandoned while it ran (over its budget, or an
    /// error), when it was: the SQL as written gave the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandoned_rewrite: Option<String>,
}

/// Records on `run` how its SQL ran: the fact view, the rewrite, a refusal.
fn note_prepared(run: &mut VariantRun, prepared: &super::engine::Prepared) {
    let used = prepared.fact_view;
    run.fact_view = used.map(|u| u.view);
    run.fact_view_reason = used.map(|u| u.reason.to_string());
    run.rewrite = prepared.rewrite.clone();
    run.rewritten_sql = prepared.rewrite.as_ref().map(|_| prepared.sql.clone());
    run.refused_rewrite = prepared.refused.clone();
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
    /// Ad-hoc SQL: fetch only this many rows (then stop the query), for a
    /// display that shows the first rows of any result at once.
    pub show_rows: Option<usize>,
    /// Storage for single-storage entries.
    pub storage: FileFormat,
    pub params: Params,
}

/// Runs ad-hoc SQL (from `--sql`); DuckDB's errors are the user's to fix.
pub fn run_sql(
    engines: &mut Engines,
    sql: &str,
    opts: &RunOptions,
    log: Option<&QueryLog>,
) -> Result<QueryRun> {
    let run = run_variant(
        engines,
        None,
        ADHOC,
        sql.to_string(),
        opts.storage,
        opts,
        &BTreeMap::new(),
        log,
    )
    .map_err(|e| UserError::new(format!("{e:#}")))?;
    Ok(QueryRun {
        id: ADHOC.into(),
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

/// The query id of ad-hoc SQL in logs and reports.
pub const ADHOC: &str = "adhoc";

/// Runs one SQL text; `spec` is `None` for ad-hoc SQL (which gets no
/// profile unless asked for).
#[allow(clippy::too_many_arguments)]
fn run_variant(
    engines: &mut Engines,
    spec: Option<&QuerySpec>,
    variant: &str,
    sql: String,
    storage: FileFormat,
    opts: &RunOptions,
    parameters: &BTreeMap<String, String>,
    log: Option<&QueryLog>,
) -> Result<VariantRun> {
    let threads = engines.config().threads;
    let engine = engines.get(storage)?;
    let shape = shape(engine.manifest(), storage);
    let mut run = VariantRun {
        variant: variant.to_string(),
        storage,
        sql: sql.clone(),
        latency_ms: None,
        result_rows: 0,
        complete: true,
        first_rows_ms: None,
        result: ResultSet::default(),
        profile: None,
        plan: None,
        fact_view: None,
        fact_view_reason: None,
        rewrite: None,
        rewritten_sql: None,
        refused_rewrite: None,
        abandoned_rewrite: None,
    };
    if !opts.execute {
        // The plan DuckDB would run: of the rewrite, when olap makes one.
        let prepared = engine.prepare(&sql)?;
        note_prepared(&mut run, &prepared);
        let b = engine.query(&format!("EXPLAIN {}", prepared.sql))?;
        let plan = ResultSet::from_batches(&b, usize::MAX);
        run.plan = Some(
            plan.text()
                .filter_map(|r| r.last().map(|s| s.to_string()))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        return Ok(run);
    }
    // Entries whose checks need a profile get one from the timed execution
    // itself. The rewrite (decided once per SQL text, its time part of the
    // latency) runs under the guard: see `Engine::run`.
    let profiled = opts.profile || spec.is_some_and(|s| s.is_comparison());
    let mut stream_info: Option<(bool, Option<f64>)> = None;
    let exec = engine.run(&sql, &mut |conn, sql, _dog| {
        if profiled {
            execute_profiled(conn, sql, shape).map(|(e, p)| (e, Some(p)))
        } else if let (None, Some(limit)) = (spec, opts.show_rows) {
            // Only what the display shows: a result of any size costs one
            // chunk (kept here, shown after: a fallback starts afresh).
            let mut kept = Vec::new();
            let mut seen = 0usize;
            let s = stream(conn, sql, &mut |b| {
                seen += b.num_rows();
                kept.push(b.clone());
                Ok(seen <= limit)
            })?;
            stream_info = Some((s.complete, s.first_rows_ms));
            let e = Execution {
                latency_ms: s.total_ms,
                batches: kept,
            };
            Ok((e, None))
        } else {
            execute(conn, sql).map(|e| (e, None))
        }
    });
    let entry =
        |status: &str, err: Option<String>, ms: f64, rows: u64, p: Option<&Profile>| LogEntry {
            timestamp: now(),
            query_id: spec.map_or(ADHOC, |s| s.id).to_string(),
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
    let (exec, profile) = match exec {
        Ok(ran) => {
            note_prepared(&mut run, &ran.prepared);
            run.abandoned_rewrite = ran.abandoned.clone();
            let (mut e, p) = ran.value;
            // Deciding, the run, and a fallback's rerun: all the user waited.
            e.latency_ms = ran.ms;
            if let Some((complete, first)) = stream_info {
                run.complete = complete;
                run.first_rows_ms = first.map(|ms| ms + ran.prepare_ms);
            }
            (e, p)
        }
        Err(e) => {
            if let Some(log) = log {
                log.append(&entry("error", Some(format!("{e:#}")), 0.0, 0, None))?;
            }
            return Err(e);
        }
    };
    run.latency_ms = Some(exec.latency_ms);
    run.result_rows = exec.rows();
    run.result = ResultSet::from_batches(&exec.batches, opts.show_rows.unwrap_or(usize::MAX));
    run.profile = profile;
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
        about: spec
            .about
            .replace("{window}", &opts.params.int("window").to_string()),
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
                Some(spec),
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

/// The pruning entry's checks, read from the executed plans: the
/// year+quarter filter opens exactly the matching partitions, and so does
/// the year filter, which must skip at least
/// [`targets::MIN_YEAR_PRUNED_SHARE`] of the partitions where the span has
/// enough years for that to be possible.
fn pruning_checks(run: &QueryRun, manifest: &Manifest, params: &Params) -> Vec<Check> {
    let profile = |variant: &str| {
        run.runs
            .iter()
            .find(|r| r.variant == variant)
            .and_then(|r| r.profile.as_ref())
    };
    let (year, quarter) = (params.int("year") as i32, params.int("quarter") as i32);
    let mut out = Vec::new();
    for (variant, q) in [("partition filter", Some(quarter)), ("year filter", None)] {
        let Some(p) = profile(variant) else { continue };
        let name = if q.is_some() {
            "partition pruning"
        } else {
            "year filter pruning"
        };
        let filter = match q {
            Some(q) => format!("year={year} AND quarter={q}"),
            None => format!("year={year}"),
        };
        let (Some(scanned), true) = (p.partitions_scanned, p.partitions_total > 0) else {
            out.push(Check::new(
                name,
                false,
                "the data set is not partitioned: nothing can be pruned (generate with --partition-by year,quarter)",
            ));
            continue;
        };
        let expected = matching_partitions(manifest, year, q);
        let mut detail = format!(
            "{}; {expected} of {} partitions match {filter}",
            p.pruning_line().unwrap_or_default(),
            p.partitions_total
        );
        if q.is_some()
            && !manifest
                .storage
                .partition_by
                .contains(&PartitionKey::Quarter)
            && !manifest.storage.partition_by.contains(&PartitionKey::Month)
        {
            detail.push_str(
                " (partitioned by year only: a quarter filter can skip at most the other years)",
            );
        }
        out.push(Check::new(name, scanned == expected, detail));
        if q.is_none() {
            let years = (manifest.spec.end.year() - manifest.spec.start.year() + 1) as f64;
            let pruned = p.pruned_share().unwrap_or(0.0);
            let most = 1.0 - 1.0 / years;
            if most >= targets::MIN_YEAR_PRUNED_SHARE {
                out.push(Check::new(
                    format!(
                        "year filter skips ≥ {:.0}% of partitions",
                        targets::MIN_YEAR_PRUNED_SHARE * 100.0
                    ),
                    targets::year_pruning_met(pruned),
                    format!("{:.1}% skipped over {years} years", pruned * 100.0),
                ));
            } else {
                out.push(Check::new(
                    "year filter skips as much as the span allows",
                    scanned == expected,
                    format!(
                        "{:.1}% skipped; on a {years}-year span a year filter can skip at most {:.0}%, \
                         so the ≥ {:.0}% target needs {}+ years (olap generate --start-date …)",
                        pruned * 100.0,
                        most * 100.0,
                        targets::MIN_YEAR_PRUNED_SHARE * 100.0,
                        targets::min_years_for_year_pruning()
                    ),
                ));
            }
        }
    }
    out
}

fn checks(spec: &QuerySpec, run: &QueryRun, manifest: &Manifest, params: &Params) -> Vec<Check> {
    let by = |storage: FileFormat| run.runs.iter().find(|r| r.storage == storage);
    match spec.expect {
        Expectation::Pruning => pruning_checks(run, manifest, params),
        Expectation::ParquetSpeedup => match (
            by(FileFormat::Parquet).and_then(|r| r.latency_ms),
            by(FileFormat::Csv).and_then(|r| r.latency_ms),
        ) {
            (Some(p), Some(c)) => {
                let speedup = c / p.max(1e-9);
                vec![Check::new(
                    "Parquet vs CSV speed",
                    targets::speedup_met(speedup),
                    format!(
                        "Parquet {speedup:.1}x faster ({p:.0} ms vs {c:.0} ms; target ≥ {:.0}x)",
                        targets::MIN_PARQUET_SPEEDUP
                    ),
                )]
            }
            _ => Vec::new(),
        },
        Expectation::ParquetBytesShare => {
            let bytes = |s| {
                by(s)
                    .and_then(|r| r.profile.as_ref())
                    .and_then(|p| p.bytes_read)
            };
            match (bytes(FileFormat::Parquet), bytes(FileFormat::Csv)) {
                (Some(p), Some(c)) if c > 0 => {
                    let share = p as f64 / c as f64;
                    vec![Check::new(
                        "Parquet vs CSV bytes read",
                        targets::bytes_share_met(share),
                        format!(
                            "Parquet read {} = {:.1}% of CSV's {} (target < {:.0}%)",
                            human_bytes(p),
                            share * 100.0,
                            human_bytes(c),
                            targets::MAX_PARQUET_BYTES_SHARE * 100.0
                        ),
                    )]
                }
                _ => Vec::new(),
            }
        }
        Expectation::P95Ms(_) | Expectation::Peers | Expectation::User => Vec::new(),
    }
}

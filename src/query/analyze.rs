//! `analyze` as a library call: run catalog entries (or ad-hoc SQL) on a
//! data set and collect results, plans, profiles and checks in a [`Report`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use super::catalog::{Params, QuerySpec};
use super::engine::EngineConfig;
use super::log::QueryLog;
use super::log::{LogEntry, now};
use super::run::{ADHOC, Engines, QueryRun, RunOptions, run_query, run_sql};
use super::stream::{Streamed, stream};
use crate::bail_user;
use crate::error::UserError;
use crate::storage::dataset::DataSet;
use arrow::array::RecordBatch;

/// Version of the report's JSON shape (docs/json-output.md).
pub const SCHEMA_VERSION: u32 = 2;

/// What to analyze.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    pub engine: EngineConfig,
    /// Catalog entries to run; ignored when `sql` is set.
    pub specs: Vec<&'static QuerySpec>,
    /// Entries were named by the user (a skipped one is then an error).
    pub explicit: bool,
    pub sql: Option<String>,
    pub execute: bool,
    pub profile: bool,
    pub params: Params,
    /// Ad-hoc SQL: fetch only this many rows (a display's worth).
    pub show_rows: Option<usize>,
    /// The query log (`--log`); None: the data set's own (or, read-only, the cache's).
    pub log: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub data_dir: String,
    pub duckdb_version: String,
    pub threads: usize,
    pub fact_rows: u64,
    pub partition_by: Vec<String>,
    pub queries: Vec<QueryRun>,
}

impl Report {
    /// "query: check" of every failed check.
    pub fn failed_checks(&self) -> Vec<String> {
        self.queries
            .iter()
            .flat_map(|q| {
                q.checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(move |c| format!("{}: {}", q.id, c.name))
            })
            .collect()
    }
}

/// Runs the configured queries on the opened data set `ds`.
pub fn analyze(ds: &Arc<DataSet>, cfg: &AnalyzeConfig) -> Result<Report> {
    if !cfg.params.0.is_empty() && cfg.sql.is_none() {
        for name in cfg.params.0.keys() {
            if !cfg
                .specs
                .iter()
                .any(|q| q.params().iter().any(|p| p.name == name))
            {
                bail_user!("no selected query takes --param {name}");
            }
        }
    }
    // One data set version from the first query to the last: the handle's.
    let manifest = ds.manifest();
    let opts = RunOptions {
        execute: cfg.execute || cfg.profile,
        profile: cfg.profile,
        show_rows: cfg.show_rows,
        storage: cfg.engine.storage,
        params: cfg.params.clone(),
    };
    let log = if opts.execute {
        Some(QueryLog::open_for(cfg.log.as_deref(), ds.dir())?)
    } else {
        None
    };
    let mut engines = Engines::new(ds, cfg.engine.clone());
    let duckdb_version = engines.get(cfg.engine.storage)?.duckdb_version()?;
    let mut queries = Vec::new();
    if let Some(sql) = &cfg.sql {
        queries.push(run_sql(&mut engines, sql, &opts, log.as_ref())?);
    } else {
        for spec in &cfg.specs {
            let r = run_query(&mut engines, spec, &opts, manifest, log.as_ref())?;
            if cfg.explicit
                && let Some(why) = &r.skipped
            {
                bail_user!("{} {why}", spec.id);
            }
            queries.push(r);
        }
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        data_dir: ds.dir().display().to_string(),
        duckdb_version,
        threads: cfg.engine.threads,
        fact_rows: manifest.spec.rows,
        partition_by: manifest.storage.partition_names(),
        queries,
    })
}

/// Streams the result of `cfg.sql` to `sink` batch by batch, as DuckDB
/// produces it (CSV and JSON output of `olap analyze --sql`), and logs the
/// execution. DuckDB's errors are the user's to fix.
pub fn stream_sql(
    ds: &Arc<DataSet>,
    cfg: &AnalyzeConfig,
    start: &mut dyn FnMut(&Report) -> Result<()>,
    sink: &mut dyn FnMut(&RecordBatch) -> Result<bool>,
) -> Result<Streamed> {
    let sql = cfg.sql.as_deref().unwrap_or_default();
    let log = QueryLog::open_for(cfg.log.as_deref(), ds.dir())?;
    let mut engines = Engines::new(ds, cfg.engine.clone());
    let engine = engines.get(cfg.engine.storage)?;
    let manifest = ds.manifest();
    // The report's header (no queries yet): what the rows will belong to.
    start(&Report {
        schema_version: SCHEMA_VERSION,
        data_dir: ds.dir().display().to_string(),
        duckdb_version: engine.duckdb_version()?,
        threads: cfg.engine.threads,
        fact_rows: manifest.spec.rows,
        partition_by: manifest.storage.partition_names(),
        queries: Vec::new(),
    })?;
    // Rows go to the user as they come: the rewrite's budget holds until
    // the first of them (see `Engine::run`).
    let streamed = engine
        .run(sql, &mut |conn, sql, dog| {
            let mut first = true;
            stream(conn, sql, &mut |b| {
                if first {
                    dog.output_started();
                    first = false;
                }
                sink(b)
            })
        })
        .map(|ran| {
            let mut s = ran.value;
            s.rewrite = ran
                .prepared
                .rewrite
                .clone()
                .map(|note| (note, ran.prepared.sql.clone()));
            s.first_rows_ms = s.first_rows_ms.map(|ms| ms + (ran.ms - s.total_ms));
            s.total_ms = ran.ms;
            s
        });
    let entry = |status: &str, error: Option<String>, s: Option<&Streamed>| LogEntry {
        timestamp: now(),
        query_id: ADHOC.into(),
        variant: ADHOC.into(),
        storage: cfg.engine.storage.name().into(),
        parameters: Default::default(),
        duration_ms: s.map_or(0.0, |s| s.total_ms),
        result_rows: s.map_or(0, |s| s.rows),
        threads: cfg.engine.threads,
        rows_scanned: None,
        bytes_read: None,
        partitions_scanned: None,
        partitions_total: None,
        status: status.into(),
        error,
    };
    match streamed {
        Ok(s) => {
            log.append(&entry("ok", None, Some(&s)))?;
            Ok(s)
        }
        Err(e) => {
            // A closed pipe is the reader's choice, not a SQL error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return Err(e);
            }
            log.append(&entry("error", Some(format!("{e:#}")), None))?;
            Err(UserError::new(format!("{e:#}")).into())
        }
    }
}

/// How olap would run a SQL text (`olap analyze --sql … --explain-rewrite`).
#[derive(Debug, Serialize)]
pub struct RewriteExplanation {
    pub sql: String,
    /// The rewrites that apply, each with why (none: `None`).
    pub rewrite: Option<String>,
    /// Why the guard refused a rewrite that applied, when it did.
    pub refused: Option<String>,
    /// How long the rewrite may run before it is abandoned for the SQL as
    /// written.
    pub budget_ms: Option<f64>,
    pub fact_view: Option<String>,
    pub fact_view_reason: Option<String>,
    /// The SQL DuckDB runs.
    pub runs: String,
}

/// Decides how `sql` would run on `ds` (nothing is executed).
pub fn explain_rewrite(
    ds: &Arc<DataSet>,
    engine: &super::engine::EngineConfig,
    sql: &str,
) -> Result<RewriteExplanation> {
    let mut engines = Engines::new(ds, engine.clone());
    let p = engines.get(engine.storage)?.prepare(sql)?;
    Ok(RewriteExplanation {
        sql: sql.to_string(),
        rewrite: p.rewrite.clone(),
        refused: p.refused.clone(),
        budget_ms: p.budget.map(|b| b.as_secs_f64() * 1e3),
        fact_view: p.fact_view.map(|u| u.view.describe().to_string()),
        fact_view_reason: p.fact_view.map(|u| u.reason.to_string()),
        runs: p.sql.clone(),
    })
}

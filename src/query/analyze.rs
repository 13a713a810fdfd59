//! `analyze` as a library call: run catalog entries (or ad-hoc SQL) on a
//! data set and collect results, plans, profiles and checks in a [`Report`].

use std::path::PathBuf;

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
use crate::storage::manifest::Manifest;
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

/// Runs the configured queries.
pub fn analyze(cfg: &AnalyzeConfig) -> Result<Report> {
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
    // One data set version from the manifest read here to the last query.
    let _snapshot = crate::storage::lock::reader(&cfg.engine.data_dir)?;
    let manifest = Manifest::load(&cfg.engine.data_dir)?;
    let opts = RunOptions {
        execute: cfg.execute || cfg.profile,
        profile: cfg.profile,
        show_rows: cfg.show_rows,
        storage: cfg.engine.storage,
        params: cfg.params.clone(),
    };
    let log = if opts.execute {
        Some(QueryLog::open_for(
            cfg.log.as_deref(),
            &cfg.engine.data_dir,
        )?)
    } else {
        None
    };
    let mut engines = Engines::new(cfg.engine.clone());
    let duckdb_version = engines.get(cfg.engine.storage)?.duckdb_version()?;
    let mut queries = Vec::new();
    if let Some(sql) = &cfg.sql {
        queries.push(run_sql(&mut engines, sql, &opts, log.as_ref())?);
    } else {
        for spec in &cfg.specs {
            let r = run_query(&mut engines, spec, &opts, &manifest, log.as_ref())?;
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
        data_dir: cfg.engine.data_dir.display().to_string(),
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
    cfg: &AnalyzeConfig,
    start: &mut dyn FnMut(&Report) -> Result<()>,
    sink: &mut dyn FnMut(&RecordBatch) -> Result<bool>,
) -> Result<Streamed> {
    let sql = cfg.sql.as_deref().unwrap_or_default();
    let log = QueryLog::open_for(cfg.log.as_deref(), &cfg.engine.data_dir)?;
    let mut engines = Engines::new(cfg.engine.clone());
    let engine = engines.get(cfg.engine.storage)?;
    let manifest = &engine.manifest;
    // The report's header (no queries yet): what the rows will belong to.
    start(&Report {
        schema_version: SCHEMA_VERSION,
        data_dir: cfg.engine.data_dir.display().to_string(),
        duckdb_version: engine.duckdb_version()?,
        threads: cfg.engine.threads,
        fact_rows: manifest.spec.rows,
        partition_by: manifest.storage.partition_names(),
        queries: Vec::new(),
    })?;
    let (prepared, prepare_ms) = engine.prepare_timed(sql)?;
    let streamed = stream(engine.connection(), &prepared.sql, sink).map(|mut s| {
        s.rewrite = prepared
            .rewrite
            .clone()
            .map(|note| (note, prepared.sql.clone()));
        s.total_ms += prepare_ms;
        s.first_rows_ms = s.first_rows_ms.map(|ms| ms + prepare_ms);
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

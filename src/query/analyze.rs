//! `analyze` as a library call: run catalog entries (or ad-hoc SQL) on a
//! data set and collect results, plans, profiles and checks in a [`Report`].

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::catalog::{Params, QuerySpec};
use super::engine::EngineConfig;
use super::log::QueryLog;
use super::run::{Engines, QueryRun, RunOptions, run_query, run_sql};
use crate::bail_user;
use crate::storage::manifest::Manifest;

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
    /// The query log, when executing.
    pub log: PathBuf,
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
    let manifest = Manifest::load(&cfg.engine.data_dir)?;
    let opts = RunOptions {
        execute: cfg.execute || cfg.profile,
        profile: cfg.profile,
        storage: cfg.engine.storage,
        params: cfg.params.clone(),
    };
    let log = if opts.execute {
        Some(QueryLog::open(&cfg.log)?)
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

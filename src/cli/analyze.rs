//! `olap analyze`: run the query catalog (or ad-hoc SQL) and explain it:
//! results, the executed plan with time and rows per operator, scan
//! metrics, partition pruning and window operators.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::{EngineArgs, catalog_specs, output_format, suite};
use crate::error::CheckFailed;
use crate::query::analyze::{AnalyzeConfig, analyze};
use crate::query::catalog::{Params, Suite};
use crate::query::log::DEFAULT_LOG;
use crate::report::{self, OutputFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog queries to run (default: the whole catalog). See --list.
    #[arg(conflicts_with = "sql")]
    pub ids: Vec<String>,
    /// Which queries run when none are named: the catalog (user stories
    /// and targets), the ad-hoc suite (questions written the obvious way), or all.
    #[arg(long, value_parser = suite(), default_value = "catalog")]
    pub suite: Suite,
    /// Run this SQL instead of catalog queries (tables: sales_fact,
    /// dim_time, dim_geography, dim_product, dim_customer, dim_payment).
    #[arg(long)]
    pub sql: Option<String>,
    /// Execute the queries (without it: show the SQL and DuckDB's plan).
    #[arg(long)]
    pub execute: bool,
    /// Profile with EXPLAIN ANALYZE (implies --execute).
    #[arg(long)]
    pub profile: bool,
    /// Output format.
    #[arg(long, value_parser = output_format(), default_value = "table")]
    pub format: OutputFormat,
    /// Query parameter, e.g. --param year=2022 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// List the catalog and exit.
    #[arg(long)]
    pub list: bool,
    /// Result rows to show per query in table output.
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
    /// Query log (one JSON line per execution); default DATA_DIR/queries.log.jsonl.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Exit 1 when a check fails (pruning, Parquet vs CSV).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.list {
        print!("{}", report::analyze::list(args.format));
        return Ok(ExitCode::SUCCESS);
    }
    let engine = args.engine.config();
    let cfg = AnalyzeConfig {
        specs: catalog_specs(&args.ids, args.suite)?,
        explicit: !args.ids.is_empty(),
        sql: args.sql,
        execute: args.execute,
        profile: args.profile,
        params: Params::parse(&args.params)?,
        log: args
            .log
            .unwrap_or_else(|| engine.data_dir.join(DEFAULT_LOG)),
        engine,
    };
    let report = analyze(&cfg)?;
    print!(
        "{}",
        report::analyze::render(&report, args.format, args.rows)
    );
    let failed = report.failed_checks();
    if args.check && !failed.is_empty() {
        return Err(CheckFailed(format!("failed checks: {}", failed.join("; "))).into());
    }
    Ok(ExitCode::SUCCESS)
}

//! `olap analyze`: run the query catalog (or ad-hoc SQL) and explain it:
//! results, the executed plan with time and rows per operator, scan
//! metrics, partition pruning and window operators.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::{EngineArgs, catalog_specs, output_format_or_csv, suite};
use crate::bail_user;
use crate::error::CheckFailed;
use crate::query::analyze::{AnalyzeConfig, analyze, explain_rewrite, stream_sql};
use crate::query::catalog::{Params, Suite};
use crate::query::profile::Profile;
use crate::report::plan::PlanFormat;
use crate::report::stream::{CsvRows, JsonRows};
use crate::report::{self, OutputFormat};
use crate::storage::dataset::DataSet;

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
    /// Output format (csv: the rows of --sql or of one query; with --sql,
    /// csv and json stream every row as DuckDB produces it).
    #[arg(long, value_parser = output_format_or_csv(), default_value = "table")]
    pub format: OutputFormat,
    /// Query parameter, e.g. --param year=2022 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// List the catalog and exit.
    #[arg(long)]
    pub list: bool,
    /// Result rows to show per query in table output (ad-hoc SQL fetches
    /// only these and stops).
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
    /// Query log (one JSON line per execution); default DATA_DIR/queries.log.jsonl
    /// (olap's cache dir when the data set is read-only).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Print (or write, with --plan-output) each profiled plan in this form
    /// instead of the report: text, json, html, dot (Graphviz) or mermaid.
    /// Implies --profile.
    #[arg(long, value_parser = plan_format())]
    pub plan_format: Option<PlanFormat>,
    /// Write the plans here (default: stdout); implies --profile.
    #[arg(long, value_name = "FILE")]
    pub plan_output: Option<PathBuf>,
    /// Exit 1 when a check fails (pruning, Parquet vs CSV).
    #[arg(long)]
    pub check: bool,
    /// With --sql: show how olap would run it (which rewrites apply and
    /// why, or why the guard refused them; the fact view; the SQL DuckDB
    /// runs) without running it.
    #[arg(long, requires = "sql")]
    pub explain_rewrite: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `--plan-format text|json|html|dot|mermaid`.
fn plan_format() -> impl TypedValueParser<Value = PlanFormat> {
    PossibleValuesParser::new(PlanFormat::NAMES)
        .map(|s| PlanFormat::parse(&s).expect("a listed name"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.list {
        print!("{}", report::analyze::list(args.format));
        return Ok(ExitCode::SUCCESS);
    }
    let engine = args.engine.config();
    // The data set, opened once: every engine of this run reads through it.
    let ds = Arc::new(DataSet::open(&args.engine.data_dir)?);
    if args.explain_rewrite {
        let e = explain_rewrite(&ds, &engine, args.sql.as_deref().unwrap_or_default())?;
        print!("{}", report::analyze::render_rewrite(&e, args.format));
        return Ok(ExitCode::SUCCESS);
    }
    let streamed = args.sql.is_some()
        && !args.profile
        && matches!(args.format, OutputFormat::Csv | OutputFormat::Json);
    if args.format == OutputFormat::Csv && args.sql.is_none() && args.ids.len() != 1 {
        bail_user!("--format csv prints one result: give --sql or one query id");
    }
    let cfg = AnalyzeConfig {
        specs: catalog_specs(&args.ids, args.suite)?,
        explicit: !args.ids.is_empty(),
        show_rows: (args.sql.is_some() && !args.profile).then_some(args.rows),
        sql: args.sql,
        execute: args.execute,
        profile: args.profile || args.plan_format.is_some() || args.plan_output.is_some(),
        params: Params::parse(&args.params)?,
        log: args.log,
        engine,
    };
    if streamed {
        if args.format == OutputFormat::Csv {
            let mut w = CsvRows::new(std::io::stdout().lock());
            stream_sql(&ds, &cfg, &mut |_| Ok(()), &mut |b| {
                w.write(b).map(|_| true)
            })?;
            w.finish()?;
        } else {
            let (sql, storage) = (cfg.sql.as_deref().unwrap_or_default(), cfg.engine.storage);
            let w = std::cell::RefCell::new(None);
            let s = stream_sql(
                &ds,
                &cfg,
                &mut |r| {
                    let out = std::io::stdout().lock();
                    *w.borrow_mut() = Some(JsonRows::new(out, r, sql, storage.name())?);
                    Ok(())
                },
                &mut |b| {
                    let mut w = w.borrow_mut();
                    w.as_mut().expect("started").write(b).map(|_| true)
                },
            )?;
            w.into_inner().expect("started").finish(&s)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = analyze(&ds, &cfg)?;
    if args.plan_format.is_some() || args.plan_output.is_some() {
        let runs: Vec<(String, &Profile)> = report
            .queries
            .iter()
            .flat_map(|q| {
                q.runs.iter().filter_map(move |r| {
                    let name = format!("{} [{} · {}]", q.id, r.variant, r.storage.name());
                    r.profile.as_ref().map(|p| (name, p))
                })
            })
            .collect();
        let text = report::plan::render(&runs, args.plan_format.unwrap_or(PlanFormat::Text))?;
        match &args.plan_output {
            Some(path) => {
                std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!(
                    "{} {} written to {}",
                    runs.len(),
                    if runs.len() == 1 { "plan" } else { "plans" },
                    path.display()
                );
            }
            None => print!("{text}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
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

//! `olap benchmark`: timed rounds of the catalog with percentiles and SLA
//! checks, baselines and regression detection, and the storage, scaling and
//! concurrency studies.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use super::{EngineArgs, catalog_specs, output_format, suite};
use crate::bench::run::Rounds;
use crate::bench::store::{BaselineChoice, DEFAULT_STORE, Store};
use crate::bench::studies::Clients;
use crate::bench::{BenchConfig, Scaling, run as bench};
use crate::error::CheckFailed;
use crate::pipeline::MAX_ROWS;
use crate::query::catalog::{Params, Suite, user_queries};
use crate::report::{self, OutputFormat};
use crate::storage::dataset::DataSet;
use crate::util::{parse_counts, parse_in, parse_name, parse_percent};

/// Data-set sizes of a scaling study, ascending.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<u64>);

fn parse_sizes(s: &str) -> Result<Sizes, String> {
    parse_counts(s, 2, MAX_ROWS).map(Sizes)
}

fn parse_clients(s: &str) -> Result<usize, String> {
    parse_in(s, 2..=256, "concurrency (queries at once)")
}

/// `--clients threads|pgwire`.
fn clients() -> impl clap::builder::TypedValueParser<Value = Clients> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Clients::NAMES)
        .map(|s| Clients::parse(&s).expect("a listed name"))
}

fn parse_rounds(s: &str) -> Result<usize, String> {
    parse_in(s, 1..=10_000, "rounds")
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog queries to benchmark (default: the whole --suite).
    pub ids: Vec<String>,
    /// Benchmark this SQL too, the way the catalog is timed (repeatable;
    /// tables: sales_fact, dim_time, dim_geography, dim_product,
    /// dim_customer, dim_payment).
    #[arg(long = "sql", value_name = "SQL")]
    pub sql: Vec<String>,
    /// Benchmark the SQL in these files (one query per file; repeatable).
    #[arg(long = "sql-file", value_name = "FILE")]
    pub sql_files: Vec<PathBuf>,
    /// Which queries run when none are named: catalog, adhoc or all.
    #[arg(long, value_parser = suite(), default_value = "catalog")]
    pub suite: Suite,
    /// Timed rounds per query.
    #[arg(long, default_value = "10", value_parser = parse_rounds, allow_hyphen_values = true)]
    pub rounds: usize,
    /// Untimed warm-up rounds per query.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed rounds on CSV (slow at scale), at most --rounds.
    #[arg(long, default_value = "3", value_parser = parse_rounds)]
    pub csv_rounds: usize,
    /// A seconds-long smoke run: 3 rounds, 1 warm-up, 1 CSV round.
    #[arg(long)]
    pub quick: bool,
    /// Write the result (versioned JSON) here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Compare with an earlier run: bare, the latest comparable run in the
    /// store; NAME, a run saved with --save-baseline (or a committed
    /// baseline's name); PATH, a result file.
    #[arg(long, value_name = "NAME|PATH", num_args = 0..=1, default_missing_value = "")]
    pub baseline: Option<String>,
    /// Compare even with a baseline from another machine, thread count,
    /// DuckDB version or data set (the differences are printed).
    #[arg(long)]
    pub allow_different_env: bool,
    /// Also save this run in the store under NAME.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub save_baseline: Option<String>,
    /// The baseline store: every run is saved here, per machine.
    #[arg(long, env = "OLAP_BENCH_STORE", default_value = DEFAULT_STORE)]
    pub store: PathBuf,
    /// Exit 1 when a query regresses against the baseline (SLA misses and
    /// other targets gate with --check).
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Exit 1 when any target misses: p95 SLAs, pruning, and the targets of
    /// the studies run (storage, scaling, concurrency).
    #[arg(long)]
    pub check: bool,
    /// Smallest change of the median, in percent, that counts as a
    /// regression (when the samples also differ significantly).
    #[arg(long, default_value = "10", value_parser = parse_percent)]
    pub threshold: f64,
    /// Output format.
    #[arg(long, value_parser = output_format(), default_value = "table")]
    pub format: OutputFormat,
    /// Query parameter, e.g. --param year=2022 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Storage study: sizes, compression, Parquet vs CSV latency and bytes read.
    #[arg(long)]
    pub storage_comparison: bool,
    /// Scaling study over generated data sets of these sizes, e.g. 10M,20M,40M
    /// (made next to --data-dir as DATA_DIR-scaling/rows-N, reused when present).
    #[arg(long, value_parser = parse_sizes)]
    pub scaling: Option<Sizes>,
    /// Scaling study over existing data sets instead (comma-separated dirs).
    #[arg(long, value_delimiter = ',', conflicts_with = "scaling")]
    pub scaling_dirs: Option<Vec<PathBuf>>,
    /// Concurrency study: the same query N at once vs alone.
    #[arg(long, value_parser = parse_clients)]
    pub concurrency: Option<usize>,
    /// Who asks the concurrency study's queries: threads of this process,
    /// or PostgreSQL wire clients of an `olap serve` started on a loopback
    /// port (each its own TCP connection; needs the `serve` feature).
    #[arg(long, value_parser = clients(), default_value = "threads")]
    pub clients: Clients,
    /// Where the HTML report (index.html), charts and CSV go (default:
    /// beside --output, else benchmark-results/latest).
    #[arg(long, visible_alias = "report")]
    pub report_dir: Option<PathBuf>,
    /// Query log; default DATA_DIR/queries.log.jsonl (olap's cache dir when
    /// the data set is read-only).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Also time every question on the plain engine (the same DuckDB over
    /// plain `read_parquet` views, none of olap's machinery), alternating
    /// with olap round by round, and report olap / plain with its spread.
    #[arg(long)]
    pub against_plain: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (rounds, warmup, csv_rounds) = if args.quick {
        (3, 1, 1)
    } else {
        (args.rounds, args.warmup, args.csv_rounds)
    };
    let mut specs = if args.sql.is_empty() && args.sql_files.is_empty() || !args.ids.is_empty() {
        catalog_specs(&args.ids, args.suite)?
    } else {
        Vec::new()
    };
    specs.extend(user_queries(&args.sql, &args.sql_files)?);
    if args.clients == Clients::Pgwire && args.concurrency.is_none() {
        crate::bail_user!("--clients pgwire is for the concurrency study: add --concurrency N");
    }
    #[cfg(not(feature = "serve"))]
    if args.clients == Clients::Pgwire {
        crate::bail_user!(
            "--clients pgwire needs the server, which this build leaves out: cargo build --release --features serve"
        );
    }
    let params = Params::parse(&args.params)?;
    let engine = args.engine.config();
    // Charts and CSV go beside --output, else to benchmark-results/latest.
    let report_dir = args
        .report_dir
        .clone()
        .or_else(|| {
            args.output.as_ref().and_then(|o| {
                o.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(Path::to_path_buf)
            })
        })
        .unwrap_or_else(|| PathBuf::from("benchmark-results/latest"));
    let cfg = BenchConfig {
        log: args.log.clone(),
        engine,
        specs,
        params,
        rounds: Rounds {
            rounds,
            warmup,
            csv_rounds,
        },
        baseline: args.baseline.as_deref().map(BaselineChoice::parse),
        allow_different_env: args.allow_different_env,
        store: Store::new(args.store),
        save: true,
        save_name: args.save_baseline,
        threshold: args.threshold,
        storage_comparison: args.storage_comparison,
        scaling: match (args.scaling, args.scaling_dirs) {
            (Some(s), _) => Some(Scaling::Sizes(s.0)),
            (None, Some(d)) => Some(Scaling::Dirs(d)),
            _ => None,
        },
        concurrency: args.concurrency,
        concurrency_via: args.clients,
        profiles: true,
        report_dir,
        against_plain: args.against_plain,
    };
    // The data set, opened once: the rounds and every study read this version.
    let ds = Arc::new(DataSet::open(&args.engine.data_dir)?);
    let outcome = bench(&ds, &cfg)?;
    if let Some(out) = &args.output {
        outcome.result.save(out)?;
    }
    print!("{}", report::bench::render(&outcome, args.format));
    let page = report::html::write(&cfg.report_dir, &outcome, "olap benchmark")?;
    if args.format == OutputFormat::Table {
        if let Some(out) = &args.output {
            println!("result written to {}", out.display());
        }
        println!("report: {}", page.display());
    }
    let v = &outcome.verdicts;
    let mut why = Vec::new();
    if args.fail_on_regression && !v.regressions.is_empty() {
        why.push(format!(
            "{} regressed: {}",
            v.regressions.len(),
            v.regressions.join(", ")
        ));
    }
    if args.check && !v.sla_misses.is_empty() {
        why.push(format!(
            "{} missed the SLA: {}",
            v.sla_misses.len(),
            v.sla_misses.join(", ")
        ));
    }
    let failed = v.failed_targets();
    if args.check && !failed.is_empty() {
        why.push(format!(
            "{} target(s) missed: {}",
            failed.len(),
            failed.join(", ")
        ));
    }
    if !why.is_empty() {
        return Err(CheckFailed(why.join("; ")).into());
    }
    Ok(ExitCode::SUCCESS)
}

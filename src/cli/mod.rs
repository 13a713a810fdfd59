//! The command line: one module per subcommand, each an `Args` struct and a
//! `run(args)` that turns flags into a typed config, makes one library call,
//! renders the result and returns the exit code. Flag types shared by
//! several subcommands live here; no subcommand module uses another.

pub mod analyze;
pub mod benchmark;
pub mod demo;
pub mod export;
pub mod fuzz;
pub mod generate;
pub mod serve;
pub mod validate;

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use crate::query::catalog::{QuerySpec, Suite, lookup};
use crate::query::engine::{EngineConfig, FactViewMode, RewriteMode};
use crate::report::OutputFormat;
use crate::storage::{Codec, FileFormat};
use crate::util::{cap_threads, default_threads};

/// Exit codes, for `--help` and the README.
pub const EXIT_CODES: &str = "Exit codes: 0 ok · 1 a check, target or regression failed · \
2 bad input or usage (flags, ids, a data set that is missing, damaged or not olap's) · \
3 a runtime or environment error (I/O, a full disk, DuckDB).";

#[derive(Debug, Parser)]
#[command(
    name = "olap",
    version = crate::version(),
    args_override_self = true,
    about = "Generate a retail star schema, query it with DuckDB, profile and benchmark it",
    long_about = "olap generates a reproducible retail star schema as Hive-partitioned Parquet and CSV, \
runs a catalog of analytical queries through embedded DuckDB with EXPLAIN ANALYZE profiling, \
and benchmarks them against p95 targets.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Only results and errors: no progress bars or notes (RUST_LOG overrides).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr: -v timings of each stage, -vv everything.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the star schema as Parquet and/or CSV.
    Generate(generate::Args),
    /// Run the query catalog (or --sql) through DuckDB; show results, plans and metrics.
    Analyze(analyze::Args),
    /// Benchmark the catalog: percentiles, SLAs, baselines, storage/scaling/concurrency studies.
    Benchmark(Box<benchmark::Args>),
    /// A guided tour: generate a small data set if needed, run every user story, write a report.
    Demo(demo::Args),
    /// Re-read a data set: files, checksums, schemas and every invariant.
    Validate(validate::Args),
    /// Print SQL for another engine (Spark): tables over the data set and the catalog.
    Export(export::Args),
    /// Check olap against plain DuckDB on random questions: equal answers, never slower.
    Fuzz(fuzz::Args),
    /// Serve the data set over the PostgreSQL protocol (psql, psycopg, JDBC, BI tools).
    Serve(serve::Args),
}

impl Cli {
    /// The log filter the flags ask for: info by default (notes and
    /// progress); the object store's retries show only from -vv (an error
    /// is reported once, in one line).
    pub fn log_level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn,object_store=error",
            (false, 0) => "info,object_store=error",
            (false, 1) => "debug,object_store=error,reqwest=info,hyper_util=info",
            _ => "trace",
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Benchmark(a) => benchmark::run(*a),
        Command::Demo(a) => demo::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Export(a) => export::run(a),
        Command::Fuzz(a) => fuzz::run(a),
        Command::Serve(a) => serve::run(a),
    }
}

/// `--threads`: 1..=1024.
pub fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a thread count"))?;
    if !(1..=1024).contains(&n) {
        return Err("threads must be between 1 and 1024".into());
    }
    Ok(n)
}

/// `--format table|json|markdown`.
pub fn output_format() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(OutputFormat::NAMES)
        .map(|s| OutputFormat::parse(&s).expect("a listed name"))
}

/// `--format table|json|markdown|csv` (analyze: CSV streams `--sql` rows).
pub fn output_format_or_csv() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(["table", "json", "markdown", "csv"])
        .map(|s| OutputFormat::parse(&s).expect("a listed name"))
}

/// `--storage parquet|csv`.
pub fn storage_format() -> impl TypedValueParser<Value = FileFormat> {
    PossibleValuesParser::new(FileFormat::ALL.map(FileFormat::name))
        .map(|s| FileFormat::from_name(&s).expect("a listed name"))
}

/// `--compression snappy|zstd|none`.
pub fn codec() -> impl TypedValueParser<Value = Codec> {
    PossibleValuesParser::new(Codec::ALL.map(Codec::name))
        .map(|s| Codec::from_name(&s).expect("a listed name"))
}

/// Engine flags shared by analyze and benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Data set directory (made by `olap generate`).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Storage to query.
    #[arg(long, value_parser = storage_format(), default_value = "parquet")]
    pub storage: FileFormat,
    /// DuckDB threads (default: all cores).
    #[arg(long, value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// DuckDB memory limit, e.g. 4GB.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Load the tables into native DuckDB tables in this database file first
    /// (for comparison with querying the files directly).
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// How the fact table reads a partitioned data set: one scan per
    /// partition (right estimates under partition filters), one scan of all
    /// files (cheaper without them), or chosen per query from its plan.
    #[arg(long, value_parser = fact_view(), default_value = "auto")]
    pub fact_view: FactViewMode,
    /// Rewrite SQL into a cheaper form of the same query (aggregate the
    /// fact table first, count distinct keys in bitmaps, group by codes)
    /// when the guard lets it and the question reads enough rows to pay
    /// (auto), whenever the guard lets it (always), or run SQL exactly as
    /// written (off).
    #[arg(long, value_parser = rewrite_mode(), default_value = "auto")]
    pub rewrite: RewriteMode,
}

impl EngineArgs {
    /// The engine settings (the data set is opened apart, once).
    pub fn config(&self) -> EngineConfig {
        EngineConfig::new(
            self.storage,
            self.threads.map_or_else(default_threads, cap_threads),
        )
        .with_memory_limit(self.memory_limit.clone())
        .with_load_into(self.load.clone())
        .with_fact_view(self.fact_view)
        .with_rewrite(self.rewrite)
    }
}

/// `--rewrite auto|always|off`.
pub fn rewrite_mode() -> impl TypedValueParser<Value = RewriteMode> {
    PossibleValuesParser::new(RewriteMode::NAMES)
        .map(|s| RewriteMode::parse(&s).expect("a listed name"))
}

/// `--fact-view auto|partitions|files`.
pub fn fact_view() -> impl TypedValueParser<Value = FactViewMode> {
    PossibleValuesParser::new(FactViewMode::NAMES)
        .map(|s| FactViewMode::parse(&s).expect("a listed name"))
}

/// `--suite catalog|adhoc|all`.
pub fn suite() -> impl TypedValueParser<Value = Suite> {
    PossibleValuesParser::new(Suite::NAMES).map(|s| Suite::parse(&s).expect("a listed name"))
}

/// The entries named on the command line, else the whole suite.
pub fn catalog_specs(ids: &[String], suite: Suite) -> anyhow::Result<Vec<&'static QuerySpec>> {
    if ids.is_empty() {
        Ok(suite.specs())
    } else {
        ids.iter().map(|id| lookup(id)).collect()
    }
}

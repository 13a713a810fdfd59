//! The command line: one module per subcommand, each an `Args` struct and a
//! `run(args)`. Flags are validated by clap value parsers, then turned into a
//! typed config before any I/O.

pub mod analyze;
pub mod benchmark;
pub mod demo;
pub mod generate;
pub mod validate;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "olap",
    version,
    args_override_self = true,
    about = "Generate a retail star schema, query it with DuckDB, profile and benchmark it",
    long_about = "olap generates a reproducible retail star schema as Hive-partitioned Parquet and CSV, \
runs a catalog of analytical queries through embedded DuckDB with EXPLAIN ANALYZE profiling, \
and benchmarks them against p95 targets."
)]
pub struct Cli {
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
    Benchmark(benchmark::Args),
    /// A guided tour: generate a small data set if needed, run every user story, write a report.
    Demo(demo::Args),
    /// Re-read a data set: files, checksums, schemas and every invariant.
    Validate(validate::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Benchmark(a) => benchmark::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Validate(a) => validate::run(a),
    }
}

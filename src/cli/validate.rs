//! `olap validate`: re-read a data set and check everything the manifest
//! and the data model promise; exit 1 when any check fails.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::{output_format, parse_threads};
use crate::error::CheckFailed;
use crate::report::{self, OutputFormat};
use crate::storage::dataset::DataSet;
use crate::util::default_threads;
use crate::validate::validate;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set directory, or an object-store URL (s3://bucket/prefix).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Only sizes and byte checksums: skip decoding files and SQL invariants.
    #[arg(long)]
    pub quick: bool,
    /// Output format.
    #[arg(long, value_parser = output_format(), default_value = "table")]
    pub format: OutputFormat,
    /// DuckDB threads for the invariant queries (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Object storage only: delete objects of other runs that no manifest
    /// names (interrupted runs; make sure none is still running).
    #[arg(long)]
    pub remove_leftovers: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let threads = args.threads.unwrap_or_else(default_threads);
    let v = match crate::storage::remote::url_of(&args.data_dir) {
        Some(url) => crate::validate::validate_remote(url, args.remove_leftovers)?,
        None if args.remove_leftovers => crate::bail_user!(
            "--remove-leftovers is for object storage (s3://…); a local data set's leftovers are removed by the next run"
        ),
        None => validate(
            &std::sync::Arc::new(DataSet::open(&args.data_dir)?),
            args.quick,
            threads,
        )?,
    };
    print!("{}", report::validate::render(&v, args.format));
    if v.violations > 0 {
        return Err(CheckFailed(format!(
            "{} check(s) failed for {}",
            v.violations, v.data_dir
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

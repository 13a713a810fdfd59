//! `olap export`: the data set and the catalog as a SQL script for another
//! engine (Spark SQL, or DuckDB over globs), to prove the layout is the
//! interface: scripts/check_with_spark.py runs the Spark script.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::suite;
use crate::export::{Dialect, export, export_remote};
use crate::query::catalog::Suite;
use crate::storage::dataset::DataSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set directory, or an object-store URL (s3://bucket/prefix;
    /// Spark reads it as s3a://).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// SQL dialect of the script.
    #[arg(long, value_parser = dialect(), default_value = "spark")]
    pub dialect: Dialect,
    /// Which queries to include.
    #[arg(long, value_parser = suite(), default_value = "catalog")]
    pub suite: Suite,
}

fn dialect() -> impl TypedValueParser<Value = Dialect> {
    PossibleValuesParser::new(Dialect::NAMES).map(|s| Dialect::parse(&s).expect("a listed name"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let script = match crate::storage::remote::url_of(&args.data_dir) {
        Some(url) => export_remote(url, args.dialect, args.suite)?,
        None => export(&DataSet::open(&args.data_dir)?, args.dialect, args.suite)?,
    };
    print!("{script}");
    Ok(ExitCode::SUCCESS)
}

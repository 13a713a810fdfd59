//! `olap demo`: a tour of the product on a small data set, printed as it
//! runs and written as a Markdown report with charts (see `crate::demo`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::parse_threads;
use crate::demo::{DemoConfig, tour};
use crate::util::{default_threads, parse_count};

fn parse_demo_rows(s: &str) -> Result<u64, String> {
    let n = parse_count(s)?;
    if !(40_000..=200_000_000).contains(&n) {
        return Err("the demo runs on 40K to 200M rows".into());
    }
    Ok(n)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set to use; generated if missing.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Fact rows when the demo generates the data set.
    #[arg(long, default_value = "4M", value_parser = parse_demo_rows)]
    pub rows: u64,
    /// Threads for generation and DuckDB (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Where the Markdown report and its charts go.
    #[arg(long, default_value = "demo-report")]
    pub report_dir: PathBuf,
    /// Result rows shown per query.
    #[arg(long, default_value_t = 8)]
    pub show_rows: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = DemoConfig {
        data_dir: args.data_dir,
        rows: args.rows,
        threads: args.threads.unwrap_or_else(default_threads),
        report_dir: args.report_dir,
        show_rows: args.show_rows,
    };
    tour(&cfg, &mut |text| print!("{text}"))?;
    Ok(ExitCode::SUCCESS)
}

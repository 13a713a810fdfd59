//! `olap fuzz`: random star-schema questions answered by olap (as a user
//! runs it), by olap with `--rewrite off` and by the plain engine over
//! plain views; any different answer, or a default slower than the other
//! two allow, is a failure (see `crate::fuzz`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::{output_format, parse_threads};
use crate::error::CheckFailed;
use crate::fuzz::{FuzzConfig, fuzz};
use crate::report::{self, OutputFormat};
use crate::storage::dataset::DataSet;
use crate::util::{cap_threads, default_threads};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set directory (made by `olap generate`; the questions expect
    /// the default span and dimensions).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// The first question's seed (question i has seed SEED + i); default:
    /// from the clock, printed so a failure can be replayed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Random questions to ask (after the corpus).
    #[arg(long, default_value_t = 200)]
    pub questions: u64,
    /// Stop asking new questions after this many minutes.
    #[arg(long, value_parser = parse_minutes)]
    pub minutes: Option<f64>,
    /// Stored failures to replay first: a directory of .sql files.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Write each new failure here as a corpus file.
    #[arg(long)]
    pub save_failures: Option<PathBuf>,
    /// Judge answers only, not time.
    #[arg(long)]
    pub no_timing: bool,
    /// Seconds the plain engine may take per question; past it the question
    /// is counted and skipped.
    #[arg(long, default_value_t = 30)]
    pub plain_limit: u64,
    /// DuckDB threads (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    #[arg(long, value_parser = output_format(), default_value = "table")]
    pub format: OutputFormat,
}

fn parse_minutes(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(m) if m > 0.0 && m <= 10_000.0 => Ok(m),
        _ => Err(format!("{s:?} is not a number of minutes (0 < m ≤ 10000)")),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64 % 1_000_000_000)
    });
    let cfg = FuzzConfig {
        threads: args.threads.map_or_else(default_threads, cap_threads),
        corpus: args.corpus,
        seed,
        questions: args.questions,
        time_limit: args.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        timing: !args.no_timing,
        plain_limit: Duration::from_secs(args.plain_limit.max(1)),
        save_failures: args.save_failures,
    };
    let ds = Arc::new(DataSet::open(&args.data_dir)?);
    eprintln!(
        "olap fuzz: seed {seed} (replay: olap fuzz --data-dir {} --seed {seed} --questions {})",
        args.data_dir.display(),
        args.questions
    );
    // Ctrl-C ends the question running, then the report is printed.
    crate::util::set_stops_itself(true);
    let bar = crate::util::progress_bar(args.questions, "questions", false);
    let report = fuzz(&ds, &cfg, &mut |r, failure| {
        bar.set_position(r.tried);
        bar.set_message(format!(
            "{} equal · {} wrong · {} slow",
            r.equal, r.wrong, r.slow
        ));
        if !failure.is_empty() {
            bar.suspend(|| eprintln!("olap fuzz: {failure}"));
        }
    })?;
    bar.finish_and_clear();
    print!("{}", report::fuzz::render(&report, args.format));
    if report.interrupted {
        eprintln!(
            "olap fuzz: stopped by Ctrl-C after {} questions; the counts above are theirs",
            report.tried
        );
    }
    if !report.passed() {
        return Err(CheckFailed(format!(
            "{} wrong and {} slow of {} questions (seed {seed})",
            report.wrong, report.slow, report.tried
        ))
        .into());
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

//! `olap demo`: a tour of the product on an embedded default data set.
//! Generates the data set if there is none (both formats, partitioned by year
//! and quarter, a size that takes seconds), then walks through the user
//! stories: multi-dimensional analysis with pruning, window-function trends,
//! storage comparison, a small scaling and concurrency study. Prints a
//! readable report and writes it as Markdown with SVG charts beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::analyze::{self, Report};
use super::benchmark;
use super::generate::{GenerateConfig, default_threads, parse_threads};
use crate::bench::run::Rounds;
use crate::bench::studies;
use crate::datagen::GenSpec;
use crate::model::PartitionKey;
use crate::query::catalog::{self, Params};
use crate::query::engine::EngineConfig;
use crate::query::log::{DEFAULT_LOG, QueryLog};
use crate::query::run::{Engines, RunOptions, run_query};
use crate::storage::manifest::Manifest;
use crate::storage::publish::{DirState, dir_state};
use crate::storage::{Codec, FileFormat, Slice, StorageSpec};
use crate::util::{human_count, parse_count};

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

struct Out {
    text: String,
    md: String,
}

impl Out {
    fn section(&mut self, title: &str, intro: &str) {
        let line = "═".repeat(title.chars().count() + 4);
        let t = format!("\n{line}\n  {title}\n{line}\n{intro}\n");
        print!("{t}");
        self.text.push_str(&t);
        self.md.push_str(&format!("\n## {title}\n\n{intro}\n"));
    }
    fn both(&mut self, text: &str, md: &str) {
        print!("{text}");
        self.text.push_str(text);
        self.md.push_str(md);
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let threads = args.threads.unwrap_or_else(default_threads);
    let dir = args.data_dir.clone();
    let mut out = Out {
        text: String::new(),
        md: String::from("# olap demo\n"),
    };
    match dir_state(&dir)? {
        DirState::DataSet => {}
        DirState::Missing | DirState::Empty => {
            eprintln!(
                "olap demo: no data set at {}; generating {} rows (Parquet and CSV)…",
                dir.display(),
                human_count(args.rows)
            );
            let mut spec = GenSpec::with_rows(args.rows);
            if args.rows < 20_000_000 {
                // A smaller customer base keeps the demo's set-up in seconds.
                spec.customers = 200_000;
            }
            let cfg = GenerateConfig {
                spec,
                storage: StorageSpec {
                    formats: vec![FileFormat::Parquet, FileFormat::Csv],
                    partition_by: vec![PartitionKey::Year, PartitionKey::Quarter],
                    compression: Codec::Snappy,
                    row_group_size: StorageSpec::DEFAULT_ROW_GROUP_SIZE,
                },
                slice: Slice::WHOLE,
                output: dir.clone(),
                threads,
                force: false,
                json: false,
            };
            let s = super::generate::generate(&cfg, true)?;
            eprintln!(
                "olap demo: generated in {:.1} s ({}/s)",
                s.seconds,
                human_count(s.fact_rows_per_second as u64)
            );
        }
        _ => {
            // Refuses foreign or half-written directories with its usual message.
            Manifest::load(&dir)?;
        }
    }
    let manifest = Manifest::load(&dir)?;
    let has_csv = manifest.storage.has(FileFormat::Csv);
    let cfg = EngineConfig {
        data_dir: dir.clone(),
        storage: FileFormat::Parquet,
        threads,
        memory_limit: None,
        load_into: None,
    };
    let mut engines = Engines::new(cfg.clone());
    let log = QueryLog::open(&dir.join(DEFAULT_LOG))?;
    let duckdb_version = engines.get(FileFormat::Parquet)?.duckdb_version()?;
    let intro = format!(
        "DuckDB {duckdb_version}, {threads} threads, {} fact rows in {} ({} partitions by {}).",
        human_count(manifest.spec.rows),
        dir.display(),
        studies::partitions_of(&dir)?,
        manifest.storage.partition_names().join(",")
    );
    out.both(&format!("{intro}\n"), &format!("\n{intro}\n"));
    let opts = RunOptions {
        execute: true,
        profile: true,
        storage: FileFormat::Parquet,
        params: Params::default(),
    };
    let show = |out: &mut Out, engines: &mut Engines, ids: &[&str]| -> Result<()> {
        let mut queries = Vec::new();
        for id in ids {
            let spec = catalog::lookup(id)?;
            queries.push(run_query(engines, spec, &opts, &manifest, Some(&log))?);
        }
        let report = Report {
            data_dir: dir.display().to_string(),
            duckdb_version: duckdb_version.clone(),
            threads,
            fact_rows: manifest.spec.rows,
            partition_by: manifest.storage.partition_names(),
            queries,
        };
        let text = analyze::table(&report, args.show_rows);
        let text = text
            .split_once('\n')
            .map_or(text.clone(), |(_, rest)| rest.to_string());
        let md = analyze::markdown(&report);
        let md = md
            .split_once('\n')
            .map_or(md.clone(), |(_, rest)| rest.to_string());
        out.both(&text, &md);
        Ok(())
    };

    out.section(
        "US1 · Multi-dimensional analysis and partition pruning",
        "Aggregations across geography, time and product. Filters on the partition columns let DuckDB skip whole directories.",
    );
    show(
        &mut out,
        &mut engines,
        &[
            "revenue_by_region_year",
            "category_by_quarter",
            "drill_down_time",
            "partition_pruning",
        ],
    )?;

    out.section("US2 · Time-series trends with window functions", "Moving averages, year-over-year growth with LAG, and rankings with ROW_NUMBER and RANK (★ marks window operators).");
    show(
        &mut out,
        &mut engines,
        &["moving_average", "yoy_growth", "product_rankings"],
    )?;

    std::fs::create_dir_all(&args.report_dir)
        .with_context(|| format!("creating {}", args.report_dir.display()))?;
    let rounds = Rounds {
        rounds: 3,
        warmup: 1,
        csv_rounds: 1,
    };
    if has_csv {
        out.section(
            "US3 · Columnar vs row storage",
            "The same data as Parquet and as CSV: sizes, latency and bytes read.",
        );
        show(&mut out, &mut engines, &["storage_comparison", "column_io"])?;
        let specs: Vec<&catalog::QuerySpec> = [
            "revenue_by_region_year",
            "category_by_quarter",
            "moving_average",
            "product_rankings",
            "column_io",
        ]
        .iter()
        .filter_map(|id| catalog::find(id))
        .collect();
        let mut timed = Vec::new();
        for s in &specs {
            for (vi, st) in
                crate::bench::run::plan(s, FileFormat::Parquet, &manifest.storage.formats)
            {
                timed.push(crate::bench::run::time_variant(
                    &mut engines,
                    s,
                    vi,
                    st,
                    &Params::default(),
                    &rounds,
                    manifest.spec.rows,
                    Some(&log),
                    &|| {},
                )?);
            }
        }
        let study = benchmark::storage_study(
            &mut engines,
            &specs,
            &Params::default(),
            &rounds,
            &manifest,
            &timed,
            &args.report_dir,
        )?;
        let text = benchmark::studies_text(Some(&study), None, None);
        out.both(
            &text,
            &format!("\n```text{text}```\n\n![Parquet speed-up over CSV](storage-speedup.svg)\n"),
        );
    } else {
        out.section(
            "US3 · Columnar vs row storage",
            "Skipped: this data set has no CSV files (generate with --format both).",
        );
    }

    out.section(
        "US4 · Scaling and concurrency",
        "Latency as the data doubles (data sets generated next to the demo's), a partition-filtered query on twice the partitions, and queries run 1 vs 4 at once.",
    );
    let base = manifest.spec.rows;
    let sizes = vec![(base / 4).max(10_000), (base / 2).max(20_000), base];
    let specs: Vec<&catalog::QuerySpec> = [
        "revenue_by_region_year",
        "category_by_quarter",
        "moving_average",
    ]
    .iter()
    .filter_map(|id| catalog::find(id))
    .collect();
    let scaling = benchmark::scaling_study(
        &dir,
        Some(&sizes),
        None,
        &manifest,
        &specs,
        &Params::default(),
        &rounds,
        threads,
        &args.report_dir,
    )?;
    let engine = engines.get(FileFormat::Parquet)?;
    let conc = vec![
        studies::concurrency_case(
            engine,
            "partition_pruning",
            0,
            &Params::default(),
            4,
            8,
            Some(2.0),
        )?,
        studies::concurrency_case(
            engine,
            "revenue_by_region_year",
            0,
            &Params::default(),
            4,
            8,
            None,
        )?,
    ];
    let text = benchmark::studies_text(None, Some(&scaling), Some(&conc));
    out.both(
        &text,
        &format!("\n```text{text}```\n\n![p50 latency against data size](scaling.svg)\n"),
    );

    let report = args.report_dir.join("README.md");
    std::fs::write(&report, &out.md).with_context(|| format!("writing {}", report.display()))?;
    let _ = &out.text;
    println!(
        "\nreport written to {} (with scaling.svg{})",
        report.display(),
        if has_csv {
            " and storage-speedup.svg"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

//! The guided tour behind `olap demo`: generate a small data set if there is
//! none (both formats, partitioned by year and quarter, a size that takes
//! seconds), then walk through the user stories: multi-dimensional analysis
//! with pruning, window-function trends, storage comparison, a small scaling
//! and concurrency study. Text goes to a callback as it is produced; the
//! same report is written as Markdown with SVG charts beside it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::bench::run::Rounds;
use crate::bench::store::Store;
use crate::bench::{self, BenchConfig, Scaling, studies};
use crate::model::{GenSpec, PartitionKey};
use crate::pipeline::{GenerateConfig, generate};
use crate::query::analyze::{Report, SCHEMA_VERSION};
use crate::query::catalog::{self, CATALOG, Params, QuerySpec};
use crate::query::engine::EngineConfig;
use crate::query::log::QueryLog;
use crate::query::run::{Engines, RunOptions, run_query};
use crate::report::{self, OutputFormat};
use crate::storage::dataset::DataSet;
use crate::storage::publish::{DirState, dir_state};
use crate::storage::{Codec, FileFormat, Slice, StorageSpec};
use crate::util::human_count;

#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub data_dir: PathBuf,
    /// Fact rows when the demo generates the data set.
    pub rows: u64,
    pub threads: usize,
    pub report_dir: PathBuf,
    /// Result rows shown per query.
    pub show_rows: usize,
}

/// The report as text and Markdown, written section by section.
struct Out<'a> {
    print: &'a mut dyn FnMut(&str),
    md: String,
}

impl Out<'_> {
    fn section(&mut self, title: &str, intro: &str) {
        let line = "═".repeat(title.chars().count() + 4);
        (self.print)(&format!("\n{line}\n  {title}\n{line}\n{intro}\n"));
        self.md.push_str(&format!("\n## {title}\n\n{intro}\n"));
    }
    fn both(&mut self, text: &str, md: &str) {
        (self.print)(text);
        self.md.push_str(md);
    }
}

/// Drops a report's first line (its header; the demo has its own).
fn body(s: String) -> String {
    s.split_once('\n')
        .map_or(s.clone(), |(_, rest)| rest.to_string())
}

/// Runs the tour; returns the path of the Markdown report.
pub fn tour(cfg: &DemoConfig, print: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let (dir, threads) = (&cfg.data_dir, cfg.threads);
    match dir_state(dir)? {
        DirState::DataSet => {}
        DirState::Missing | DirState::Empty => {
            tracing::info!(
                "olap demo: no data set at {}; generating {} rows (Parquet and CSV)…",
                dir.display(),
                human_count(cfg.rows)
            );
            let mut spec = GenSpec::with_rows(cfg.rows);
            if cfg.rows < 20_000_000 {
                // A smaller customer base keeps the demo's set-up in seconds.
                spec.customers = 200_000;
            }
            let s = generate(&GenerateConfig {
                spec,
                storage: StorageSpec {
                    formats: FileFormat::ALL.to_vec(),
                    partition_by: vec![PartitionKey::Year, PartitionKey::Quarter],
                    compression: Codec::Snappy,
                    row_group_size: StorageSpec::DEFAULT_ROW_GROUP_SIZE,
                },
                slice: Slice::WHOLE,
                output: dir.clone(),
                threads,
                force: false,
                wait: false,
                durable: true,
            })?;
            tracing::info!(
                "olap demo: generated in {:.1} s ({}/s)",
                s.seconds,
                human_count(s.fact_rows_per_second as u64)
            );
        }
        // Foreign or half-written directories: refused below, with the
        // usual message, when the data set is opened.
        _ => {}
    }
    // Opened once: every query, the benchmark and the studies read it.
    let ds = Arc::new(DataSet::open(dir)?);
    let manifest = ds.manifest();
    let has_csv = manifest.storage.has(FileFormat::Csv);
    let mut engines = Engines::new(&ds, EngineConfig::new(FileFormat::Parquet, threads));
    let log = QueryLog::for_data_set(dir)?;
    let duckdb_version = engines.get(FileFormat::Parquet)?.duckdb_version()?;
    let mut out = Out {
        print,
        md: String::from("# olap demo\n"),
    };
    let intro = format!(
        "DuckDB {duckdb_version}, {threads} threads, {} fact rows in {} ({} partitions by {}).",
        human_count(manifest.spec.rows),
        dir.display(),
        studies::partitions_of(&ds),
        manifest.storage.partition_names().join(",")
    );
    out.both(&format!("{intro}\n"), &format!("\n{intro}\n"));
    let opts = RunOptions {
        execute: true,
        profile: true,
        show_rows: None,
        storage: FileFormat::Parquet,
        params: Params::default(),
    };
    let specs = |ids: &[&str]| -> Vec<&'static QuerySpec> {
        ids.iter().filter_map(|id| catalog::find(id)).collect()
    };
    let show = |out: &mut Out, engines: &mut Engines, ids: &[&str]| -> Result<()> {
        let mut queries = Vec::new();
        for spec in specs(ids) {
            queries.push(run_query(engines, spec, &opts, manifest, Some(&log))?);
        }
        let report = Report {
            schema_version: SCHEMA_VERSION,
            data_dir: dir.display().to_string(),
            duckdb_version: duckdb_version.clone(),
            threads,
            fact_rows: manifest.spec.rows,
            partition_by: manifest.storage.partition_names(),
            queries,
        };
        out.both(
            &body(report::analyze::table(&report, cfg.show_rows)),
            &body(report::analyze::markdown(&report)),
        );
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

    std::fs::create_dir_all(&cfg.report_dir)
        .with_context(|| format!("creating {}", cfg.report_dir.display()))?;
    // The studies and the HTML page come from one quick benchmark run.
    let base = manifest.spec.rows;
    let outcome = bench::run(
        &ds,
        &BenchConfig {
            engine: engines.config().clone(),
            specs: CATALOG.iter().collect(),
            params: Params::default(),
            rounds: Rounds {
                rounds: 3,
                warmup: 1,
                csv_rounds: 1,
            },
            baseline: None,
            allow_different_env: false,
            store: Store::new(cfg.report_dir.join("runs")),
            save: false,
            save_name: None,
            threshold: 0.10,
            storage_comparison: has_csv,
            scaling: Some(Scaling::Sizes(vec![
                (base / 4).max(10_000),
                (base / 2).max(20_000),
                base,
            ])),
            concurrency: Some(4),
            concurrency_via: crate::bench::studies::Clients::Threads,
            profiles: true,
            report_dir: cfg.report_dir.clone(),
            log: None,
            against_plain: false,
        },
    )?;
    let both_studies = |out: &mut Out, text: String, md: String, chart: &str, alt: &str| {
        out.both(&text, &format!("{md}\n![{alt}]({chart})\n"));
    };
    if has_csv {
        out.section(
            "US3 · Columnar vs row storage",
            "The same data as Parquet and as CSV: sizes, latency and bytes read.",
        );
        show(&mut out, &mut engines, &["storage_comparison", "column_io"])?;
        let render = |f| report::bench::studies(outcome.storage.as_ref(), None, None, f);
        both_studies(
            &mut out,
            render(OutputFormat::Table),
            render(OutputFormat::Markdown),
            "storage-speedup.svg",
            "Parquet speed-up over CSV",
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
    let render = |f| {
        report::bench::studies(
            None,
            outcome.scaling.as_ref(),
            outcome.concurrency.as_deref(),
            f,
        )
    };
    both_studies(
        &mut out,
        render(OutputFormat::Table),
        render(OutputFormat::Markdown),
        "scaling.svg",
        "p50 latency against data size",
    );
    let page = report::html::write(&cfg.report_dir, &outcome, "olap demo")?;
    out.md.push_str(&format!(
        "\nEvery query's latency, plan and partitions, and the studies as charts: [index.html]({}).\n",
        crate::report::html::INDEX
    ));

    let path = cfg.report_dir.join("README.md");
    std::fs::write(&path, &out.md).with_context(|| format!("writing {}", path.display()))?;
    (out.print)(&format!(
        "\nreport written to {} (with scaling.svg{}) and {}\n",
        path.display(),
        if has_csv {
            " and storage-speedup.svg"
        } else {
            ""
        },
        page.display()
    ));
    Ok(path)
}

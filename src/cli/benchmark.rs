//! `olap benchmark`: timed rounds of the catalog with percentiles and SLA
//! checks, baselines and regression detection, and the storage, scaling and
//! concurrency studies.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{Cell, CellAlignment, Table as Grid, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::analyze::{EngineArgs, OutputFormat};
use crate::bail_user;
use crate::bench::chart;
use crate::bench::compare::{Comparison, Verdict, compare};
use crate::bench::result::{
    BenchResult, DataSetIdentity, Machine, QueryResult, SCHEMA_VERSION, Settings, Sla, git_commit,
};
use crate::bench::run::{Rounds, executions, plan, time_variant};
use crate::bench::studies::{
    self, ConcurrencyCase, Growth, PartitionGrowth, ScalingPoint, ScalingStudy, StorageQuery,
    StorageStudy,
};
use crate::error::CheckFailed;
use crate::model::Table;
use crate::query::catalog::{self, CATALOG, Params, QuerySpec};
use crate::query::log::{DEFAULT_LOG, QueryLog};
use crate::query::run::Engines;
use crate::storage::FileFormat;
use crate::storage::manifest::Manifest;
use crate::util::{human_bytes, human_count, parse_count};

/// Data-set sizes of a scaling study, ascending.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<u64>);

fn parse_sizes(s: &str) -> Result<Sizes, String> {
    let mut v: Vec<u64> = s
        .split(',')
        .map(|p| parse_count(p.trim()))
        .collect::<Result<_, _>>()?;
    if v.len() < 2 {
        return Err("give at least two sizes, e.g. 10M,20M,40M".into());
    }
    if v.iter().any(|&n| n == 0 || n > super::generate::MAX_ROWS) {
        return Err("sizes must be between 1 and 20B rows".into());
    }
    v.sort_unstable();
    v.dedup();
    Ok(Sizes(v))
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err("threshold must be between 0 and 1000 (%)".into());
    }
    Ok(v / 100.0)
}

fn parse_clients(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (2..=256).contains(&n) => Ok(n),
        _ => Err("concurrency must be between 2 and 256 queries".into()),
    }
}

fn parse_rounds(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err("rounds must be between 1 and 10000".into()),
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog queries to benchmark (default: the whole catalog).
    pub ids: Vec<String>,
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
    /// Compare with this earlier result.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when a query regresses against the baseline or misses its SLA.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Regression threshold in percent of p95 (raised to the baseline's own
    /// p50-to-p95 spread where that is larger).
    #[arg(long, default_value = "10", value_parser = parse_percent)]
    pub threshold: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
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
    /// Where charts and CSV go (default: beside --output, else benchmark-results/latest).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Query log; default DATA_DIR/queries.log.jsonl.
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    result: &'a BenchResult,
    baseline: Option<String>,
    comparisons: &'a [Comparison],
}

fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner:.green}} {what} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {{msg}}  {{elapsed}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    )
}

pub fn run(mut args: Args) -> Result<ExitCode> {
    if args.quick {
        args.rounds = 3;
        args.warmup = 1;
        args.csv_rounds = 1;
    }
    let specs: Vec<&'static QuerySpec> = if args.ids.is_empty() {
        CATALOG.iter().collect()
    } else {
        args.ids
            .iter()
            .map(|id| catalog::lookup(id))
            .collect::<Result<_>>()?
    };
    let params = Params::parse(&args.params)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(BenchResult::load)
        .transpose()?;
    let cfg = args.engine.config();
    let manifest = Manifest::load(&cfg.data_dir)?;
    if let Some(b) = &baseline
        && (b.data_set.rows != manifest.spec.rows
            || b.data_set.partition_by != manifest.storage.partition_names())
    {
        bail_user!(
            "the baseline ran on {} rows partitioned by {:?}; this data set has {} rows partitioned by {:?}: latencies are not comparable",
            b.data_set.rows,
            b.data_set.partition_by,
            manifest.spec.rows,
            manifest.storage.partition_names()
        );
    }
    if args.storage_comparison && !manifest.storage.has(FileFormat::Csv) {
        bail_user!(
            "--storage-comparison needs CSV too: `olap generate --format both --output-dir {} --force`",
            cfg.data_dir.display()
        );
    }
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
    let log = QueryLog::open(
        &args
            .log
            .clone()
            .unwrap_or_else(|| cfg.data_dir.join(DEFAULT_LOG)),
    )?;
    let rounds = Rounds {
        rounds: args.rounds,
        warmup: args.warmup,
        csv_rounds: args.csv_rounds,
    };
    let mut engines = Engines::new(cfg.clone());
    let duckdb_version = engines.get(cfg.storage)?.duckdb_version()?;

    // Catalog rounds.
    let available = manifest.storage.formats.clone();
    let work: Vec<(&QuerySpec, usize, FileFormat)> = specs
        .iter()
        .flat_map(|s| {
            plan(s, cfg.storage, &available)
                .into_iter()
                .map(move |(v, st)| (*s, v, st))
        })
        .collect();
    let skipped: Vec<&str> = specs
        .iter()
        .filter(|s| plan(s, cfg.storage, &available).is_empty())
        .map(|s| s.id)
        .collect();
    let total: u64 = work.iter().map(|(_, _, st)| executions(*st, &rounds)).sum();
    let pb = bar(total, "benchmark");
    let mut queries: Vec<QueryResult> = Vec::new();
    for (spec, vi, storage) in &work {
        pb.set_message(format!("{} ({})", spec.id, storage.name()));
        queries.push(time_variant(
            &mut engines,
            spec,
            *vi,
            *storage,
            &params,
            &rounds,
            manifest.spec.rows,
            Some(&log),
            &|| pb.inc(1),
        )?);
    }
    pb.finish_and_clear();

    // Studies.
    let mut studies_json = serde_json::Map::new();
    let storage_study = if args.storage_comparison {
        Some(storage_study(
            &mut engines,
            &specs,
            &params,
            &rounds,
            &manifest,
            &queries,
            &report_dir,
        )?)
    } else {
        None
    };
    if let Some(s) = &storage_study {
        studies_json.insert("storage".into(), serde_json::to_value(s)?);
    }
    let scaling = match (&args.scaling, &args.scaling_dirs) {
        (Some(sizes), _) => Some(scaling_study(
            &cfg.data_dir,
            Some(&sizes.0),
            None,
            &manifest,
            &specs,
            &params,
            &rounds,
            cfg.threads,
            &report_dir,
        )?),
        (None, Some(dirs)) => Some(scaling_study(
            &cfg.data_dir,
            None,
            Some(dirs),
            &manifest,
            &specs,
            &params,
            &rounds,
            cfg.threads,
            &report_dir,
        )?),
        _ => None,
    };
    if let Some(s) = &scaling {
        studies_json.insert("scaling".into(), serde_json::to_value(s)?);
    }
    let concurrency = match args.concurrency {
        Some(n) => {
            let engine = engines.get(FileFormat::Parquet)?;
            let pb = bar(2, "concurrency");
            let mut cases = Vec::new();
            for (id, vi, target) in [
                ("partition_pruning", 0, Some(2.0)),
                ("revenue_by_region_year", 0, None),
            ] {
                pb.set_message(id);
                cases.push(studies::concurrency_case(
                    engine,
                    id,
                    vi,
                    &params,
                    n,
                    rounds.rounds.max(n),
                    target,
                )?);
                pb.inc(1);
            }
            pb.finish_and_clear();
            Some(cases)
        }
        None => None,
    };
    if let Some(c) = &concurrency {
        studies_json.insert("concurrency".into(), serde_json::to_value(c)?);
    }

    let fact = manifest
        .table(Table::SalesFact)
        .map(|t| t.content_checksum.clone())
        .unwrap_or_default();
    let result = BenchResult {
        schema_version: SCHEMA_VERSION,
        created_at: crate::query::log::now(),
        olap_version: env!("CARGO_PKG_VERSION").into(),
        duckdb_version,
        git_commit: git_commit(),
        machine: Machine::current(),
        data_set: DataSetIdentity {
            dir: cfg.data_dir.display().to_string(),
            seed: manifest.spec.seed,
            rows: manifest.spec.rows,
            partition_by: manifest.storage.partition_names(),
            formats: manifest
                .storage
                .formats
                .iter()
                .map(|f| f.name().to_string())
                .collect(),
            compression: manifest.storage.compression.name().into(),
            row_group_size: manifest.storage.row_group_size,
            fact_checksum: fact,
        },
        settings: Settings {
            rounds: rounds.rounds,
            warmup: rounds.warmup,
            threads: cfg.threads,
            storage: cfg.storage.name().into(),
            params: params.0.clone(),
        },
        queries,
        studies: serde_json::Value::Object(studies_json),
    };
    let comparisons = baseline
        .as_ref()
        .map(|b| compare(b, &result, args.threshold))
        .unwrap_or_default();
    if let Some(out) = &args.output {
        result.save(out)?;
    }
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Output {
                result: &result,
                baseline: args.baseline.as_ref().map(|p| p.display().to_string()),
                comparisons: &comparisons
            })?
        ),
        OutputFormat::Markdown => print!(
            "{}",
            markdown(
                &result,
                &comparisons,
                storage_study.as_ref(),
                scaling.as_ref(),
                concurrency.as_deref()
            )
        ),
        OutputFormat::Table => {
            print!(
                "{}",
                table(
                    &result,
                    &comparisons,
                    storage_study.as_ref(),
                    scaling.as_ref(),
                    concurrency.as_deref()
                )
            );
            if !skipped.is_empty() {
                println!(
                    "skipped (need CSV: generate with --format both): {}",
                    skipped.join(", ")
                );
            }
            if let Some(out) = &args.output {
                println!("result written to {}", out.display());
            }
        }
    }
    let regressions: Vec<&str> = comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Regression)
        .map(|c| c.key.as_str())
        .collect();
    let sla_fails: Vec<String> = result
        .queries
        .iter()
        .filter(|q| q.sla == Sla::Fail)
        .map(|q| q.key())
        .collect();
    if args.fail_on_regression && (!regressions.is_empty() || !sla_fails.is_empty()) {
        let mut why = Vec::new();
        if !regressions.is_empty() {
            why.push(format!(
                "{} regressed: {}",
                regressions.len(),
                regressions.join(", ")
            ));
        }
        if !sla_fails.is_empty() {
            why.push(format!(
                "{} missed the SLA: {}",
                sla_fails.len(),
                sla_fails.join(", ")
            ));
        }
        return Err(CheckFailed(why.join("; ")).into());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn storage_study(
    engines: &mut Engines,
    specs: &[&QuerySpec],
    params: &Params,
    rounds: &Rounds,
    manifest: &Manifest,
    timed: &[QueryResult],
    report_dir: &Path,
) -> Result<StorageStudy> {
    let (tables, total_ratio) = studies::sizes(manifest);
    // Every selected single-storage query on CSV too (the comparisons already ran on both).
    let mut queries = Vec::new();
    let singles: Vec<&&QuerySpec> = specs.iter().filter(|s| !s.is_comparison()).collect();
    let pb = bar(singles.len() as u64 + 2, "storage study");
    let mut csv_timed = Vec::new();
    for spec in singles {
        pb.set_message(spec.id);
        csv_timed.push(time_variant(
            engines,
            spec,
            0,
            FileFormat::Csv,
            params,
            rounds,
            manifest.spec.rows,
            None,
            &|| {},
        )?);
        pb.inc(1);
    }
    for spec in specs {
        let p = timed.iter().find(|q| {
            q.id == spec.id && q.storage == "parquet" && q.variant == spec.variants[0].name
        });
        let c = timed
            .iter()
            .chain(&csv_timed)
            .find(|q| q.id == spec.id && q.storage == "csv" && q.variant == spec.variants[0].name);
        let (Some(p), Some(c)) = (p, c) else { continue };
        let sql = catalog::render(spec, 0, params);
        let (pb_, cb_) = if spec.id == "column_io" || spec.id == "storage_comparison" {
            (
                studies::bytes_read(engines.get(FileFormat::Parquet)?, &sql)?,
                studies::bytes_read(engines.get(FileFormat::Csv)?, &sql)?,
            )
        } else {
            (None, None)
        };
        queries.push(StorageQuery {
            id: spec.id.to_string(),
            parquet_p50_ms: p.stats.p50,
            csv_p50_ms: c.stats.p50,
            speedup: c.stats.p50 / p.stats.p50.max(1e-9),
            parquet_bytes_read: pb_,
            csv_bytes_read: cb_,
            bytes_share: match (pb_, cb_) {
                (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
                _ => None,
            },
        });
    }
    pb.finish_and_clear();
    let speedup_target_met = !queries.is_empty() && queries.iter().all(|q| q.speedup >= 10.0);
    let bytes_target_met = queries
        .iter()
        .filter_map(|q| q.bytes_share)
        .all(|s| s < 0.20);
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let svg = report_dir.join("storage-speedup.svg");
    let bars: Vec<(String, f64)> = queries
        .iter()
        .map(|q| (q.id.replace('_', " "), q.speedup))
        .collect();
    chart::bar_chart(
        &svg,
        "Parquet speed-up over CSV (p50, same query)",
        "times faster",
        &bars,
    )?;
    Ok(StorageStudy {
        size_target_met: total_ratio >= 5.0,
        tables,
        total_ratio,
        queries,
        speedup_target_met,
        bytes_target_met,
        chart: Some(svg.display().to_string()),
    })
}

/// Default queries of the scaling study: a full scan, a filtered query, a
/// window function and a ranking.
const SCALING_DEFAULT: [&str; 4] = [
    "revenue_by_region_year",
    "category_by_quarter",
    "moving_average",
    "product_rankings",
];

#[allow(clippy::too_many_arguments)]
pub(crate) fn scaling_study(
    data_dir: &Path,
    sizes: Option<&Vec<u64>>,
    dirs: Option<&Vec<PathBuf>>,
    manifest: &Manifest,
    specs: &[&QuerySpec],
    params: &Params,
    rounds: &Rounds,
    threads: usize,
    report_dir: &Path,
) -> Result<ScalingStudy> {
    let chosen: Vec<&QuerySpec> = if specs.len() == CATALOG.len() {
        SCALING_DEFAULT
            .iter()
            .filter_map(|id| catalog::find(id))
            .collect()
    } else {
        specs
            .iter()
            .copied()
            .filter(|s| !s.is_comparison())
            .collect()
    };
    let mut data_sets: Vec<PathBuf> = Vec::new();
    if let Some(sizes) = sizes {
        for &rows in sizes {
            data_sets.push(ensure_data_set(
                &studies::scaling_dir(data_dir, rows),
                manifest,
                rows,
                None,
                threads,
            )?);
        }
    } else if let Some(dirs) = dirs {
        data_sets = dirs.clone();
    }
    let mut points = Vec::new();
    let pb = bar((data_sets.len() * chosen.len()) as u64, "scaling");
    for dir in &data_sets {
        let m = Manifest::load(dir)?;
        let partitions = studies::partitions_of(dir)?;
        for spec in &chosen {
            pb.set_message(format!("{} @ {}", spec.id, human_count(m.spec.rows)));
            let sql = catalog::render(spec, 0, params);
            let stats = studies::time_on(dir, threads, &sql, rounds.rounds, rounds.warmup)?;
            points.push(ScalingPoint {
                rows: m.spec.rows,
                partitions,
                query: spec.id.to_string(),
                stats,
            });
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let mut growth = Vec::new();
    let mut series = Vec::new();
    for spec in &chosen {
        let mut pts: Vec<(u64, f64)> = points
            .iter()
            .filter(|p| p.query == spec.id)
            .map(|p| (p.rows, p.stats.p50))
            .collect();
        pts.sort_by_key(|p| p.0);
        if let Some(g) = studies::per_doubling(&pts) {
            growth.push(Growth {
                query: spec.id.to_string(),
                per_doubling: g,
                target_met: g < 2.5,
            });
        }
        series.push((spec.id.to_string(), pts));
    }
    // Twice the partitions: twice the span and rows, the same filter.
    let partition_growth = match (sizes, data_sets.first()) {
        (Some(sizes), Some(base)) => {
            let rows = sizes[0];
            let span = (manifest.spec.end - manifest.spec.start).num_days() + 1;
            let end = manifest.spec.start + chrono::Duration::days(2 * span - 1);
            let doubled = ensure_data_set(
                &studies::scaling_dir(data_dir, rows * 2).with_extension("partitions-x2"),
                manifest,
                rows * 2,
                Some(end),
                threads,
            )?;
            let mut p = params.clone();
            let first_year = chrono::Datelike::year(&manifest.spec.start);
            p.0.insert("year".into(), first_year.to_string());
            p.0.insert("quarter".into(), "4".into());
            let sql = studies::filtered_sql(&p);
            let a = studies::time_on(base, threads, &sql, rounds.rounds, rounds.warmup)?;
            let b = studies::time_on(&doubled, threads, &sql, rounds.rounds, rounds.warmup)?;
            let ratio = b.p50 / a.p50.max(1e-9);
            Some(PartitionGrowth {
                partitions: (
                    studies::partitions_of(base)?,
                    studies::partitions_of(&doubled)?,
                ),
                rows: (rows, rows * 2),
                p50_ms: (a.p50, b.p50),
                ratio,
                target_met: ratio < 1.25,
            })
        }
        _ => None,
    };
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let csv_path = report_dir.join("scaling.csv");
    let mut csv = String::from("rows,partitions,query,p50_ms,p95_ms,min_ms,max_ms\n");
    for p in &points {
        csv.push_str(&format!(
            "{},{},{},{:.3},{:.3},{:.3},{:.3}\n",
            p.rows, p.partitions, p.query, p.stats.p50, p.stats.p95, p.stats.min, p.stats.max
        ));
    }
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    let svg = report_dir.join("scaling.svg");
    chart::latency_chart(&svg, "olap: p50 latency vs data size (2 threads)", &series)?;
    Ok(ScalingStudy {
        points,
        growth,
        partition_growth,
        csv: Some(csv_path.display().to_string()),
        chart: Some(svg.display().to_string()),
    })
}

/// A data set like `like` with `rows` rows (and span end), reused when present.
fn ensure_data_set(
    dir: &Path,
    like: &Manifest,
    rows: u64,
    end: Option<chrono::NaiveDate>,
    threads: usize,
) -> Result<PathBuf> {
    let mut spec = like.spec.clone();
    spec.rows = rows;
    if let Some(e) = end {
        spec.end = e;
    }
    if let Ok(m) = Manifest::load(dir)
        && m.spec == spec
        && m.storage.partition_by == like.storage.partition_by
    {
        return Ok(dir.to_path_buf());
    }
    eprintln!(
        "olap: generating {} rows into {} for the scaling study",
        human_count(rows),
        dir.display()
    );
    let cfg = super::generate::GenerateConfig {
        spec,
        storage: crate::storage::StorageSpec {
            formats: vec![FileFormat::Parquet],
            ..like.storage.clone()
        },
        slice: crate::storage::Slice::WHOLE,
        output: dir.to_path_buf(),
        threads,
        force: true,
        json: false,
    };
    super::generate::generate(&cfg, true)?;
    Ok(dir.to_path_buf())
}

fn grid() -> Grid {
    let mut g = Grid::new();
    g.load_style(UTF8_FULL_CONDENSED);
    g
}

fn r(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

fn queries_grid(res: &BenchResult) -> Grid {
    let mut g = grid();
    g.set_header(vec![
        "query",
        "variant",
        "storage",
        "n",
        "min",
        "p50",
        "p95",
        "p99",
        "max",
        "mean",
        "p95 target",
        "SLA",
    ]);
    for q in &res.queries {
        let s = &q.stats;
        g.add_row(vec![
            Cell::new(&q.id),
            Cell::new(&q.variant),
            Cell::new(&q.storage),
            r(s.n.to_string()),
            r(ms(s.min)),
            r(ms(s.p50)),
            r(ms(s.p95)),
            r(ms(s.p99)),
            r(ms(s.max)),
            r(ms(s.mean)),
            r(q.scaled_target_p95_ms.map(ms).unwrap_or_default()),
            Cell::new(match q.sla {
                Sla::Pass => "pass",
                Sla::Fail => "FAIL",
                Sla::None => "",
            }),
        ]);
    }
    g
}

fn comparison_grid(c: &[Comparison]) -> Grid {
    let mut g = grid();
    g.set_header(vec![
        "query",
        "baseline p95",
        "p95",
        "ratio",
        "threshold",
        "verdict",
    ]);
    for x in c {
        g.add_row(vec![
            Cell::new(&x.key),
            r(x.baseline_p95_ms.map(ms).unwrap_or_default()),
            r(x.current_p95_ms.map(ms).unwrap_or_default()),
            r(x.ratio.map(|v| format!("{v:.2}x")).unwrap_or_default()),
            r(format!("±{:.0}%", x.threshold * 100.0)),
            Cell::new(match x.verdict {
                Verdict::Regression => "REGRESSION",
                Verdict::Improvement => "improvement",
                Verdict::Unchanged => "unchanged",
                Verdict::New => "new",
                Verdict::Missing => "missing",
            }),
        ]);
    }
    g
}

fn yes(b: bool) -> &'static str {
    if b { "met" } else { "NOT met" }
}

pub(crate) fn studies_text(
    storage: Option<&StorageStudy>,
    scaling: Option<&ScalingStudy>,
    conc: Option<&[ConcurrencyCase]>,
) -> String {
    let mut s = String::new();
    if let Some(st) = storage {
        s.push_str("\nStorage: Parquet vs CSV\n");
        let mut g = grid();
        g.set_header(vec!["table", "parquet", "csv", "csv : parquet"]);
        for t in &st.tables {
            g.add_row(vec![
                Cell::new(&t.table),
                r(human_bytes(t.parquet_bytes)),
                r(human_bytes(t.csv_bytes)),
                r(format!("{:.1} : 1", t.ratio)),
            ]);
        }
        s.push_str(&format!(
            "{g}\nsize ratio {:.1} : 1 (target ≥ 5 : 1: {})\n",
            st.total_ratio,
            yes(st.size_target_met)
        ));
        let mut g = grid();
        g.set_header(vec![
            "query",
            "parquet p50",
            "csv p50",
            "speedup",
            "parquet read",
            "csv read",
            "share",
        ]);
        for q in &st.queries {
            g.add_row(vec![
                Cell::new(&q.id),
                r(ms(q.parquet_p50_ms)),
                r(ms(q.csv_p50_ms)),
                r(format!("{:.1}x", q.speedup)),
                r(q.parquet_bytes_read.map(human_bytes).unwrap_or_default()),
                r(q.csv_bytes_read.map(human_bytes).unwrap_or_default()),
                r(q.bytes_share
                    .map(|x| format!("{:.1}%", x * 100.0))
                    .unwrap_or_default()),
            ]);
        }
        s.push_str(&format!(
            "{g}\nspeedup ≥ 10x on every query: {} · Parquet reads < 20% of CSV's bytes: {}\n",
            yes(st.speedup_target_met),
            yes(st.bytes_target_met)
        ));
        if let Some(c) = &st.chart {
            s.push_str(&format!("chart: {c}\n"));
        }
    }
    if let Some(sc) = scaling {
        s.push_str("\nScaling\n");
        let mut g = grid();
        g.set_header(vec!["query", "rows", "partitions", "p50", "p95"]);
        for p in &sc.points {
            g.add_row(vec![
                Cell::new(&p.query),
                r(human_count(p.rows)),
                r(p.partitions.to_string()),
                r(ms(p.stats.p50)),
                r(ms(p.stats.p95)),
            ]);
        }
        s.push_str(&format!("{g}\n"));
        for gr in &sc.growth {
            s.push_str(&format!(
                "{}: latency x{:.2} per doubling of the data (target < 2.5: {})\n",
                gr.query,
                gr.per_doubling,
                yes(gr.target_met)
            ));
        }
        if let Some(pg) = &sc.partition_growth {
            s.push_str(&format!(
                "partition-filtered query on {} vs {} partitions ({} vs {} rows): {} vs {} p50, x{:.2} (constant within 25%: {})\n",
                pg.partitions.0,
                pg.partitions.1,
                human_count(pg.rows.0),
                human_count(pg.rows.1),
                ms(pg.p50_ms.0),
                ms(pg.p50_ms.1),
                pg.ratio,
                yes(pg.target_met)
            ));
        }
        if let (Some(c), Some(v)) = (&sc.csv, &sc.chart) {
            s.push_str(&format!("curve: {c} · chart: {v}\n"));
        }
    }
    if let Some(cases) = conc {
        s.push_str("\nConcurrency\n");
        let mut g = grid();
        g.set_header(vec![
            "query",
            "variant",
            "clients",
            "alone p50",
            "together p50",
            "together p95",
            "slowdown",
            "qps alone",
            "qps together",
            "target",
        ]);
        for c in cases {
            g.add_row(vec![
                Cell::new(&c.query),
                Cell::new(&c.variant),
                r(c.clients.to_string()),
                r(ms(c.single.p50)),
                r(ms(c.concurrent.p50)),
                r(ms(c.concurrent.p95)),
                r(format!("{:.2}x", c.slowdown)),
                r(format!("{:.1}", c.single_qps)),
                r(format!("{:.1}", c.concurrent_qps)),
                Cell::new(match (c.target, c.target_met) {
                    (Some(t), Some(m)) => format!("< {t:.0}x: {}", yes(m)),
                    _ => "throughput only".into(),
                }),
            ]);
        }
        s.push_str(&format!("{g}\n"));
        s.push_str("Full scans are CPU-bound: N at once share the same cores, so each takes about N times as long; throughput is the honest measure.\n");
    }
    s
}

fn header(res: &BenchResult) -> String {
    format!(
        "olap {} · DuckDB {} · {} cores, {} · {} fact rows ({}) · {} rounds after {} warm-up · {} threads\n",
        res.olap_version,
        res.duckdb_version,
        res.machine.cores,
        human_bytes(res.machine.memory_bytes),
        human_count(res.data_set.rows),
        if res.data_set.partition_by.is_empty() {
            "unpartitioned".into()
        } else {
            res.data_set.partition_by.join(",")
        },
        res.settings.rounds,
        res.settings.warmup,
        res.settings.threads
    )
}

fn table(
    res: &BenchResult,
    cmp: &[Comparison],
    storage: Option<&StorageStudy>,
    scaling: Option<&ScalingStudy>,
    conc: Option<&[ConcurrencyCase]>,
) -> String {
    let mut s = header(res);
    s.push_str(&format!("{}\n", queries_grid(res)));
    if res.data_set.rows != crate::bench::result::TARGET_ROWS {
        let rows = human_count(res.data_set.rows);
        s.push_str(&if res.data_set.rows < crate::bench::result::TARGET_ROWS {
            format!(
                "p95 targets are defined at 100M rows; at {rows} rows: {} ms fixed cost + the rest x {rows}/100M.\n",
                crate::bench::result::TARGET_FLOOR_MS
            )
        } else {
            format!("p95 targets are defined at 100M rows; scaled x {rows}/100M.\n")
        });
    }
    if !cmp.is_empty() {
        s.push_str(&format!(
            "\nAgainst the baseline\n{}\n",
            comparison_grid(cmp)
        ));
    }
    s.push_str(&studies_text(storage, scaling, conc));
    s
}

/// The Markdown report (also used by `olap demo`).
pub fn markdown(
    res: &BenchResult,
    cmp: &[Comparison],
    storage: Option<&StorageStudy>,
    scaling: Option<&ScalingStudy>,
    conc: Option<&[ConcurrencyCase]>,
) -> String {
    let mut s = format!(
        "# olap benchmark\n\n{}\n```text\n{}\n```\n",
        header(res),
        queries_grid(res)
    );
    if !cmp.is_empty() {
        s.push_str(&format!(
            "\n## Against the baseline\n\n```text\n{}\n```\n",
            comparison_grid(cmp)
        ));
    }
    let studies = studies_text(storage, scaling, conc);
    if !studies.is_empty() {
        s.push_str(&format!("\n## Studies\n\n```text{studies}```\n"));
    }
    if let Some(sc) = scaling
        && let Some(chart) = &sc.chart
    {
        let name = Path::new(chart)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        s.push_str(&format!("\n![p50 latency against data size]({name})\n"));
    }
    s
}

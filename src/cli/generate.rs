//! `olap generate`: write the star schema as Hive-partitioned Parquet and/or CSV.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDate;
use comfy_table::{Cell, CellAlignment, Table as Grid, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::bail_user;
use crate::datagen::{GenSpec, Star, geography::DEFAULT_CITIES};
use crate::model::{PartitionKey, Table};
use crate::storage::layout::MANIFEST;
use crate::storage::manifest::{GenerationStats, Generator, MANIFEST_VERSION, Manifest};
use crate::storage::publish::Staging;
use crate::storage::write::{WriteOptions, plan, write};
use crate::storage::{Codec, FileFormat, Slice, StorageSpec};
use crate::util::{free_bytes, human_bytes, human_count, human_secs, parse_count};

/// The most fact rows one run may ask for.
pub const MAX_ROWS: u64 = 20_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Parquet,
    Csv,
    Both,
}

impl FormatArg {
    fn formats(self) -> Vec<FileFormat> {
        match self {
            FormatArg::Parquet => vec![FileFormat::Parquet],
            FormatArg::Csv => vec![FileFormat::Csv],
            FormatArg::Both => vec![FileFormat::Parquet, FileFormat::Csv],
        }
    }
}

/// Partition keys, coarsest first (parsed from "year,quarter" or "none").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBy(pub Vec<PartitionKey>);

pub fn parse_partition_by(s: &str) -> Result<PartitionBy, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") || s.is_empty() {
        return Ok(PartitionBy(Vec::new()));
    }
    let mut keys = Vec::new();
    for part in s.split(',') {
        let name = part.trim().to_ascii_lowercase();
        let key = PartitionKey::from_name(&name)
            .ok_or_else(|| format!("unknown partition key {name:?}; choose from year, quarter, month (comma-separated) or none"))?;
        if keys.contains(&key) {
            return Err(format!("partition key {name:?} is listed twice"));
        }
        keys.push(key);
    }
    keys.sort();
    if keys[0] != PartitionKey::Year {
        return Err(format!(
            "partitioning by {} alone would mix years in one directory; add year (e.g. year,{})",
            keys[0].name(),
            keys[0].name()
        ));
    }
    Ok(PartitionBy(keys))
}

fn parse_rows(s: &str) -> Result<u64, String> {
    let n = parse_count(s)?;
    if n == 0 {
        return Err("must be at least 1 row".into());
    }
    if n > MAX_ROWS {
        return Err(format!(
            "{} rows is more than one run may write ({}); use --parts to shard",
            human_count(n),
            human_count(MAX_ROWS)
        ));
    }
    Ok(n)
}

fn parse_customers(s: &str) -> Result<u32, String> {
    let n = parse_count(s)?;
    if n < DEFAULT_CITIES as u64 {
        return Err(format!(
            "must be at least {DEFAULT_CITIES} (every city needs a resident)"
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= 100_000_000)
        .ok_or_else(|| "at most 100M customers".to_string())
}

fn parse_products(s: &str) -> Result<u32, String> {
    let n = parse_count(s)?;
    if n == 0 {
        return Err("must be at least 1 product".into());
    }
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= 5_000_000)
        .ok_or_else(|| "at most 5M products".to_string())
}

fn parse_row_group(s: &str) -> Result<u64, String> {
    let n = parse_count(s)?;
    if !(1_024..=67_108_864).contains(&n) {
        return Err("row-group size must be between 1024 and 64M rows".into());
    }
    Ok(n)
}

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

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date like 2021-01-01"))?;
    if !(1900..=2200).contains(&chrono::Datelike::year(&d)) {
        return Err("dates must fall between 1900 and 2200".into());
    }
    Ok(d)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fact rows (line items) to generate: 10M, 100000000, 1.5B...
    #[arg(long, default_value = "10M", value_parser = parse_rows, allow_hyphen_values = true)]
    pub rows: u64,
    /// Random seed; the same seed and settings give the same data on any machine.
    #[arg(long, default_value_t = GenSpec::DEFAULT_SEED, allow_hyphen_values = true)]
    pub seed: u64,
    /// File formats to write.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    pub format: FormatArg,
    /// Hive partitioning of sales_fact: year, year,quarter, year,month,
    /// year,quarter,month or none.
    #[arg(long, default_value = "year,quarter", value_parser = parse_partition_by)]
    pub partition_by: PartitionBy,
    /// Directory of the data set (replaced atomically with --force).
    #[arg(long, default_value = "data")]
    pub output_dir: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Parquet compression codec.
    #[arg(long, value_enum, default_value_t = Codec::Snappy)]
    pub compression: Codec,
    /// Rows per Parquet row group (and per unit of parallel work).
    #[arg(long, default_value = "262144", value_parser = parse_row_group, allow_hyphen_values = true)]
    pub row_group_size: u64,
    /// First day of the span (YYYY-MM-DD).
    #[arg(long, default_value = "2021-01-01", value_parser = parse_date)]
    pub start_date: NaiveDate,
    /// Last day of the span, inclusive (YYYY-MM-DD).
    #[arg(long, default_value = "2023-12-31", value_parser = parse_date)]
    pub end_date: NaiveDate,
    /// Customers in dim_customer (at least 5000, one per city).
    #[arg(long, default_value = "1M", value_parser = parse_customers, allow_hyphen_values = true)]
    pub customers: u32,
    /// Products (natural keys) in dim_product; SCD2 versions add ~35% rows.
    #[arg(long, default_value = "10K", value_parser = parse_products, allow_hyphen_values = true)]
    pub products: u32,
    /// Split the fact table into this many parts (for several machines).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub parts: u32,
    /// Which part to generate, 1..=parts. Parts write into one shared
    /// --output-dir; the last one to finish writes manifest.json.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub part: u32,
    /// Replace an existing data set (never a directory olap did not write).
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The validated plan of a run.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    pub spec: GenSpec,
    pub storage: StorageSpec,
    pub slice: Slice,
    pub output: PathBuf,
    pub threads: usize,
    pub force: bool,
    pub json: bool,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl GenerateConfig {
    pub fn from_args(a: Args) -> Result<GenerateConfig> {
        if a.start_date > a.end_date {
            bail_user!(
                "--start-date {} is after --end-date {}",
                a.start_date,
                a.end_date
            );
        }
        if (a.end_date - a.start_date).num_days() > 366 * 100 {
            bail_user!("the span may be at most 100 years");
        }
        if a.part > a.parts {
            bail_user!(
                "--part {} is outside 1..={} (--parts {})",
                a.part,
                a.parts,
                a.parts
            );
        }
        if a.parts as u64 > a.rows {
            bail_user!("--parts {} is more than --rows {}", a.parts, a.rows);
        }
        Ok(GenerateConfig {
            spec: GenSpec {
                seed: a.seed,
                rows: a.rows,
                start: a.start_date,
                end: a.end_date,
                customers: a.customers,
                products: a.products,
                cities: DEFAULT_CITIES,
            },
            storage: StorageSpec {
                formats: a.format.formats(),
                partition_by: a.partition_by.0,
                compression: a.compression,
                row_group_size: a.row_group_size,
            },
            slice: Slice {
                part: a.part,
                parts: a.parts,
            },
            output: a.output_dir,
            threads: a.threads.unwrap_or_else(default_threads),
            force: a.force,
            json: a.json,
        })
    }

    /// A generous estimate of the bytes this run writes (measured bytes per
    /// row, rounded up), to refuse a run that cannot fit before starting it.
    pub fn estimated_bytes(&self) -> u64 {
        let rows = self.slice.rows(self.spec.rows);
        let n = rows.end - rows.start;
        let dims = if self.slice.writes_dimensions() {
            self.spec.customers as u64
        } else {
            0
        };
        let mut total = 0;
        if self.storage.has(FileFormat::Parquet) {
            total += n * 30 + dims * 8;
        }
        if self.storage.has(FileFormat::Csv) {
            total += n * 100 + dims * 50;
        }
        total
    }
}

/// What `generate` reports.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub output_dir: String,
    pub complete: bool,
    pub seconds: f64,
    pub fact_rows_per_second: f64,
    pub threads: usize,
    pub parquet_bytes: u64,
    pub csv_bytes: u64,
    /// CSV bytes / Parquet bytes, when both were written.
    pub csv_to_parquet_ratio: Option<f64>,
    pub manifest: Manifest,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = GenerateConfig::from_args(args)?;
    let summary = generate(&cfg, true)?;
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a generation; `progress` shows a bar on a terminal.
pub fn generate(cfg: &GenerateConfig, progress: bool) -> Result<Summary> {
    let staging = Staging::prepare(&cfg.output, cfg.slice, cfg.force)?;
    let need = cfg.estimated_bytes();
    // OLAP_SKIP_SPACE_CHECK=1 lets tests reach a real ENOSPC mid-run.
    let check = std::env::var_os("OLAP_SKIP_SPACE_CHECK").is_none();
    if let Some(free) = free_bytes(&staging.path).filter(|_| check)
        && need > free
    {
        bail_user!(
            "this run needs about {} but only {} is free at {} (the old data set stays until the new one is complete)",
            human_bytes(need),
            human_bytes(free),
            staging.path.parent().unwrap_or(&staging.path).display()
        );
    }
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()?;
    let star = pool.install(|| Star::new(cfg.spec.clone()));
    let jobs = plan(&star, &cfg.storage, cfg.slice);
    let total: u64 = jobs.iter().map(|j| j.rows.end - j.rows.start).sum();
    let bar = if progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner:.green} generating [{bar:32.cyan/blue}] {human_pos}/{human_len} rows  {per_sec}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let cancel = AtomicBool::new(false);
    let tick = |n: u64| bar.inc(n);
    let tables = write(
        &star,
        &cfg.storage,
        &jobs,
        &staging.path,
        &WriteOptions {
            threads: cfg.threads,
            progress: &tick,
            cancel: &cancel,
        },
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        generator: Generator::current(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        spec: cfg.spec.clone(),
        storage: cfg.storage.clone(),
        slice: cfg.slice,
        merged_parts: false,
        tables,
        generation: GenerationStats {
            seconds,
            threads: cfg.threads,
        },
    };
    let (complete, manifest) = if cfg.slice.is_whole() {
        crate::storage::verify::stamp_all(&staging.path, &manifest)?;
        manifest.write_to(&staging.path, MANIFEST)?;
        staging.commit_whole()?;
        (true, manifest)
    } else {
        match staging.commit_part(&manifest)? {
            Some(merged) => (true, merged),
            None => (false, manifest),
        }
    };
    let written = |m: &Manifest, f| m.tables.iter().map(|t| t.bytes(f)).sum::<u64>();
    let fact_rows = {
        let r = cfg.slice.rows(cfg.spec.rows);
        r.end - r.start
    };
    let (pq, csv) = (
        written(&manifest, FileFormat::Parquet),
        written(&manifest, FileFormat::Csv),
    );
    Ok(Summary {
        output_dir: cfg.output.display().to_string(),
        complete,
        seconds,
        fact_rows_per_second: fact_rows as f64 / seconds,
        threads: cfg.threads,
        parquet_bytes: pq,
        csv_bytes: csv,
        csv_to_parquet_ratio: (pq > 0 && csv > 0).then(|| csv as f64 / pq as f64),
        manifest,
    })
}

fn print_summary(s: &Summary) {
    let m = &s.manifest;
    let both = s.parquet_bytes > 0 && s.csv_bytes > 0;
    let mut grid = Grid::new();
    grid.load_style(UTF8_FULL_CONDENSED);
    let mut head = vec!["table", "rows", "files"];
    if s.parquet_bytes > 0 {
        head.push("parquet");
    }
    if s.csv_bytes > 0 {
        head.push("csv");
    }
    if both {
        head.push("csv : parquet");
    }
    grid.set_header(head);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for t in &m.tables {
        let files = t
            .files
            .iter()
            .filter(|f| Some(f.format) == m.storage.formats.first().copied())
            .count();
        let mut row = vec![
            Cell::new(&t.name),
            right(t.rows.to_string()),
            right(files.to_string()),
        ];
        let (pq, csv) = (t.bytes(FileFormat::Parquet), t.bytes(FileFormat::Csv));
        if s.parquet_bytes > 0 {
            row.push(right(human_bytes(pq)));
        }
        if s.csv_bytes > 0 {
            row.push(right(human_bytes(csv)));
        }
        if both {
            row.push(right(format!("{:.1} : 1", csv as f64 / pq.max(1) as f64)));
        }
        grid.add_row(row);
    }
    let mut total = vec![
        Cell::new("total"),
        right(String::new()),
        right(String::new()),
    ];
    if s.parquet_bytes > 0 {
        total.push(right(human_bytes(s.parquet_bytes)));
    }
    if s.csv_bytes > 0 {
        total.push(right(human_bytes(s.csv_bytes)));
    }
    if let Some(r) = s.csv_to_parquet_ratio {
        total.push(right(format!("{r:.1} : 1")));
    }
    grid.add_row(total);
    println!("{grid}");
    let fact = m.table(Table::SalesFact).map_or(0, |t| t.rows);
    let parts = if m.storage.partition_by.is_empty() {
        "unpartitioned".to_string()
    } else {
        format!("partitioned by {}", m.storage.partition_names().join(","))
    };
    println!(
        "{} fact rows in {} ({}/s fact rows, {} threads), {}, {} compression, seed {}",
        human_count(fact),
        human_secs(s.seconds),
        human_count(s.fact_rows_per_second as u64),
        s.threads,
        parts,
        m.storage.compression.name(),
        m.spec.seed,
    );
    if s.complete {
        println!("data set written to {}/ (manifest.json last)", s.output_dir);
    } else {
        println!(
            "part {} of {} written to {}/; manifest.json appears when every part is there",
            m.slice.part, m.slice.parts, s.output_dir
        );
    }
}

//! `olap generate`: write the star schema as Hive-partitioned Parquet and/or CSV.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use chrono::NaiveDate;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::{codec, parse_threads};
use crate::bail_user;
use crate::model::{DEFAULT_CITIES, GenSpec, PartitionKey};
use crate::pipeline::{GenerateConfig, MAX_ROWS, MAX_TOTAL_ROWS, generate};
use crate::storage::{Codec, FileFormat, Slice, StorageSpec};
use crate::util::{cap_threads, default_threads, human_count, parse_count};

/// The file formats to write.
#[derive(Debug, Clone)]
pub struct Formats(pub Vec<FileFormat>);

/// `--format parquet|csv|both`.
fn formats() -> impl TypedValueParser<Value = Formats> {
    PossibleValuesParser::new(["parquet", "csv", "both"]).map(|s| {
        Formats(match s.as_str() {
            "both" => FileFormat::ALL.to_vec(),
            one => vec![FileFormat::from_name(one).expect("a listed name")],
        })
    })
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
    if n > MAX_TOTAL_ROWS {
        return Err(format!(
            "{} rows is more than a data set may have ({})",
            human_count(n),
            human_count(MAX_TOTAL_ROWS)
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
    #[arg(long, default_value_t = GenSpec::DEFAULT_ROWS, value_parser = parse_rows, allow_hyphen_values = true)]
    pub rows: u64,
    /// Random seed; the same seed and settings give the same data on any machine.
    #[arg(long, default_value_t = GenSpec::DEFAULT_SEED, allow_hyphen_values = true)]
    pub seed: u64,
    /// File formats to write.
    #[arg(long, value_parser = formats(), default_value = "parquet")]
    pub format: Formats,
    /// Hive partitioning of sales_fact: year, year,quarter, year,month,
    /// year,quarter,month or none.
    #[arg(long, default_value = "year,quarter", value_parser = parse_partition_by)]
    pub partition_by: PartitionBy,
    /// Directory of the data set (replaced atomically with --force), or an
    /// object-store URL, s3://bucket/prefix (credentials and endpoint from
    /// the AWS_* environment variables).
    #[arg(long, default_value = "data")]
    pub output_dir: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Parquet compression codec.
    #[arg(long, value_parser = codec(), default_value = "snappy")]
    pub compression: Codec,
    /// Rows per Parquet row group (and per unit of parallel work).
    #[arg(long, default_value_t = StorageSpec::DEFAULT_ROW_GROUP_SIZE, value_parser = parse_row_group, allow_hyphen_values = true)]
    pub row_group_size: u64,
    /// First day of the span (YYYY-MM-DD).
    #[arg(long, default_value_t = GenSpec::DEFAULT_START, value_parser = parse_date)]
    pub start_date: NaiveDate,
    /// Last day of the span, inclusive (YYYY-MM-DD).
    #[arg(long, default_value_t = GenSpec::DEFAULT_END, value_parser = parse_date)]
    pub end_date: NaiveDate,
    /// Customers in dim_customer (at least 5000, one per city).
    #[arg(long, default_value_t = GenSpec::DEFAULT_CUSTOMERS, value_parser = parse_customers, allow_hyphen_values = true)]
    pub customers: u32,
    /// Products (natural keys) in dim_product; SCD2 versions add ~35% rows.
    #[arg(long, default_value_t = GenSpec::DEFAULT_PRODUCTS, value_parser = parse_products, allow_hyphen_values = true)]
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
    /// If another olap generate is writing the same --output-dir, wait for
    /// it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Skip fsync of files and directories: faster on some disks, but a
    /// power cut can leave empty files in a data set that looks complete.
    #[arg(long)]
    pub no_fsync: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The validated plan of the run.
    fn config(self) -> Result<GenerateConfig> {
        let a = self;
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
        // Refused now rather than after writing a data set nothing can query.
        if crate::storage::remote::url_of(&a.output_dir).is_none() {
            if a.output_dir.to_str().is_some_and(|s| s.contains("://")) {
                bail_user!(
                    "--output-dir {}: only s3:// URLs are supported for object storage",
                    a.output_dir.display()
                );
            }
            let abs = std::path::absolute(&a.output_dir).unwrap_or(a.output_dir.clone());
            crate::storage::dataset::check_queryable_path(&abs)?;
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
        if a.rows.div_ceil(a.parts as u64) > MAX_ROWS {
            bail_user!(
                "{} rows in {} {} is more than one run may write ({} a part): use --parts {} or more",
                human_count(a.rows),
                a.parts,
                if a.parts == 1 { "part" } else { "parts" },
                human_count(MAX_ROWS),
                a.rows.div_ceil(MAX_ROWS)
            );
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
                formats: a.format.0,
                partition_by: a.partition_by.0,
                compression: a.compression,
                row_group_size: a.row_group_size,
            },
            slice: Slice {
                part: a.part,
                parts: a.parts,
            },
            output: a.output_dir,
            threads: a.threads.map_or_else(default_threads, cap_threads),
            force: a.force,
            wait: a.wait,
            durable: !a.no_fsync,
        })
    }
}
pub fn run(args: Args) -> Result<ExitCode> {
    let json = args.json;
    let summary = generate(&args.config()?)?;
    if json {
        println!("{}", crate::report::json(&summary));
    } else {
        print!("{}", crate::report::generate::summary(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

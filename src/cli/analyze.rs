//! `olap analyze`: run the query catalog (or ad-hoc SQL) and explain it:
//! results, the executed plan as an operator tree with time and rows per
//! operator, scan metrics, partition pruning and window operators.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table as Grid, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::bail_user;
use crate::error::CheckFailed;
use crate::query::catalog::{self, CATALOG, Params, QuerySpec};
use crate::query::engine::EngineConfig;
use crate::query::log::{DEFAULT_LOG, QueryLog};
use crate::query::profile::{Operator, Profile};
use crate::query::run::{Engines, QueryRun, RunOptions, VariantRun, run_query, run_sql};
use crate::storage::FileFormat;
use crate::storage::manifest::Manifest;
use crate::util::{human_bytes, human_count, human_secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageArg {
    Parquet,
    Csv,
}

impl StorageArg {
    pub fn format(self) -> FileFormat {
        match self {
            StorageArg::Parquet => FileFormat::Parquet,
            StorageArg::Csv => FileFormat::Csv,
        }
    }
}

/// Engine flags shared by analyze, benchmark and demo.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Data set directory (made by `olap generate`).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Storage to query: parquet or csv.
    #[arg(long, value_enum, default_value_t = StorageArg::Parquet)]
    pub storage: StorageArg,
    /// DuckDB threads (default: all cores).
    #[arg(long, value_parser = super::generate::parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// DuckDB memory limit, e.g. 4GB.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Load the tables into native DuckDB tables in this database file first
    /// (for comparison with querying the files directly).
    #[arg(long)]
    pub load: Option<PathBuf>,
}

impl EngineArgs {
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            data_dir: self.data_dir.clone(),
            storage: self.storage.format(),
            threads: self
                .threads
                .unwrap_or_else(super::generate::default_threads),
            memory_limit: self.memory_limit.clone(),
            load_into: self.load.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog queries to run (default: the whole catalog). See --list.
    #[arg(conflicts_with = "sql")]
    pub ids: Vec<String>,
    /// Run this SQL instead of catalog queries (tables: sales_fact,
    /// dim_time, dim_geography, dim_product, dim_customer, dim_payment).
    #[arg(long)]
    pub sql: Option<String>,
    /// Execute the queries (without it: show the SQL and DuckDB's plan).
    #[arg(long)]
    pub execute: bool,
    /// Profile with EXPLAIN ANALYZE (implies --execute).
    #[arg(long)]
    pub profile: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Query parameter, e.g. --param year=2022 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// List the catalog and exit.
    #[arg(long)]
    pub list: bool,
    /// Result rows to show per query in table output.
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
    /// Query log (one JSON line per execution); default DATA_DIR/queries.log.jsonl.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Exit 1 when a check fails (pruning, Parquet vs CSV).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub data_dir: String,
    pub duckdb_version: String,
    pub threads: usize,
    pub fact_rows: u64,
    pub partition_by: Vec<String>,
    pub queries: Vec<QueryRun>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.list {
        print_list(args.format);
        return Ok(ExitCode::SUCCESS);
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
    if !params.0.is_empty() && args.sql.is_none() {
        for name in params.0.keys() {
            if !specs
                .iter()
                .any(|q| q.params().iter().any(|p| p.name == name))
            {
                bail_user!("no selected query takes --param {name}");
            }
        }
    }
    let cfg = args.engine.config();
    let manifest = Manifest::load(&cfg.data_dir)?;
    let opts = RunOptions {
        execute: args.execute || args.profile,
        profile: args.profile,
        storage: cfg.storage,
        params,
    };
    let log_path = args
        .log
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join(DEFAULT_LOG));
    let log = if opts.execute {
        Some(QueryLog::open(&log_path)?)
    } else {
        None
    };
    let mut engines = Engines::new(cfg.clone());
    let duckdb_version = engines.get(cfg.storage)?.duckdb_version()?;
    let explicit = !args.ids.is_empty();
    let mut queries = Vec::new();
    if let Some(sql) = &args.sql {
        queries.push(run_sql(&mut engines, sql, &opts, log.as_ref())?);
    } else {
        for spec in &specs {
            let r = run_query(&mut engines, spec, &opts, &manifest, log.as_ref())?;
            if explicit && let Some(why) = &r.skipped {
                bail_user!("{} {why}", spec.id);
            }
            queries.push(r);
        }
    }
    let report = Report {
        data_dir: cfg.data_dir.display().to_string(),
        duckdb_version,
        threads: cfg.threads,
        fact_rows: manifest.spec.rows,
        partition_by: manifest.storage.partition_names(),
        queries,
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Markdown => print!("{}", markdown(&report)),
        OutputFormat::Table => print!("{}", table(&report, args.rows)),
    }
    let failed: Vec<String> = report
        .queries
        .iter()
        .flat_map(|q| {
            q.checks
                .iter()
                .filter(|c| !c.passed)
                .map(move |c| format!("{}: {}", q.id, c.name))
        })
        .collect();
    if args.check && !failed.is_empty() {
        return Err(CheckFailed(format!("failed checks: {}", failed.join("; "))).into());
    }
    Ok(ExitCode::SUCCESS)
}

fn grid() -> Grid {
    let mut g = Grid::new();
    g.load_style(UTF8_FULL_CONDENSED);
    g
}

fn right(s: impl Into<String>) -> Cell {
    Cell::new(s.into()).set_alignment(CellAlignment::Right)
}

fn print_list(format: OutputFormat) {
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Entry<'a> {
                id: &'a str,
                story: &'a str,
                title: &'a str,
                about: &'a str,
                parameters: Vec<(&'a str, &'a str)>,
                target: String,
                target_p95_ms: Option<u64>,
                variants: Vec<&'a str>,
                /// SQL of each variant with default parameters.
                sql: Vec<String>,
                storages: Vec<&'a str>,
            }
            let list: Vec<Entry> = CATALOG
                .iter()
                .map(|q| Entry {
                    id: q.id,
                    story: q.story,
                    title: q.title,
                    about: q.about,
                    parameters: q.params().iter().map(|p| (p.name, p.default)).collect(),
                    target: q.expect.describe(),
                    target_p95_ms: q.target_ms(),
                    variants: q.variants.iter().map(|v| v.name).collect(),
                    sql: (0..q.variants.len())
                        .map(|vi| catalog::render(q, vi, &Params::default()))
                        .collect(),
                    storages: q.storages.iter().map(|s| s.name()).collect(),
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("serialises")
            );
        }
        OutputFormat::Markdown => print!("{}", catalog_markdown()),
        OutputFormat::Table => {
            let mut g = grid();
            g.set_header(vec![
                "id",
                "story",
                "what",
                "parameters (default)",
                "target",
            ]);
            for q in &CATALOG {
                let params = q
                    .params()
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.default))
                    .collect::<Vec<_>>()
                    .join(" ");
                g.add_row(vec![
                    q.id.to_string(),
                    q.story.to_string(),
                    q.title.to_string(),
                    params,
                    q.expect.describe(),
                ]);
            }
            println!("{g}");
        }
    }
}

/// The catalog as Markdown: every entry with its SQL (default parameters).
/// docs/query-catalog.md starts with exactly this; a test keeps them equal.
pub fn catalog_markdown() -> String {
    let mut s = String::new();
    s.push_str("| id | story | what | target |\n|---|---|---|---|\n");
    for q in &CATALOG {
        s.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            q.id,
            q.id,
            q.story,
            q.title,
            q.expect.describe()
        ));
    }
    for q in &CATALOG {
        s.push_str(&format!(
            "\n## {}\n\n**{}** ({}). {}\n\n",
            q.id,
            q.title,
            q.story,
            q.about.replace("{window}", "3")
        ));
        let params = q.params();
        if !params.is_empty() {
            s.push_str("Parameters: ");
            s.push_str(
                &params
                    .iter()
                    .map(|p| format!("`{}` ({}, default `{}`)", p.name, p.help, p.default))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            s.push_str(".\n\n");
        }
        s.push_str(&format!(
            "Target: {}. Runs on: {}.\n",
            q.expect.describe(),
            q.storages
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        for (vi, v) in q.variants.iter().enumerate() {
            if q.variants.len() > 1 {
                s.push_str(&format!("\nVariant *{}*:\n", v.name));
            }
            s.push_str(&format!(
                "\n```sql\n{}\n```\n",
                catalog::render(q, vi, &Params::default())
            ));
        }
    }
    s
}

/// One line of an operator's most telling details.
fn summary(op: &Operator) -> String {
    let d = &op.details;
    let mut parts = Vec::new();
    if op.is_scan() {
        if let Some(files) = d.get("Filename(s)") {
            let first = files.split(", ").next().unwrap_or("");
            let table = first
                .split('/')
                .rev()
                .find(|seg| seg.starts_with("sales_fact") || seg.starts_with("dim_"))
                .unwrap_or(first);
            parts.push(
                table
                    .trim_end_matches(".parquet")
                    .trim_end_matches(".csv")
                    .to_string(),
            );
        }
        if let Some(f) = d.get("Scanning Files") {
            parts.push(format!("files {f}"));
        } else if let Some(f) = d.get("Total Files Read") {
            parts.push(format!("files {f}"));
        }
        for k in ["File Filters", "Filters"] {
            if let Some(v) = d.get(k) {
                parts.push(format!("{}: {}", k.to_lowercase(), v));
            }
        }
    }
    for k in [
        "Join Type",
        "Conditions",
        "Groups",
        "Aggregates",
        "Function",
    ] {
        if let Some(v) = d.get(k).filter(|_| !op.is_scan() || k != "Function") {
            parts.push(v.clone());
        }
    }
    let s = parts.join("  ");
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(89).collect::<String>())
    } else {
        s
    }
}

fn tree(ops: &[Operator], total_ms: f64, prefix: &str, out: &mut Vec<[String; 5]>) {
    for (i, op) in ops.iter().enumerate() {
        let last = i + 1 == ops.len();
        let branch = if prefix.is_empty() && ops.len() == 1 {
            ""
        } else if last {
            "└─ "
        } else {
            "├─ "
        };
        let star = if op.is_window() { "★ " } else { "" };
        let share = if total_ms > 0.0 {
            format!("{:.0}%", 100.0 * op.timing_ms / total_ms)
        } else {
            String::new()
        };
        out.push([
            format!("{prefix}{branch}{star}{}", op.name),
            format!("{:.1} ms", op.timing_ms),
            share,
            human_count(op.rows),
            summary(op),
        ]);
        let child_prefix = if prefix.is_empty() && ops.len() == 1 {
            String::new()
        } else {
            format!("{prefix}{}", if last { "   " } else { "│  " })
        };
        tree(&op.children, total_ms, &child_prefix, out);
    }
}

pub fn plan_tree(p: &Profile) -> String {
    let mut rows = Vec::new();
    let total: f64 = p
        .operators
        .iter()
        .flat_map(|o| o.walk())
        .map(|o| o.timing_ms)
        .sum();
    tree(&p.operators, total, "", &mut rows);
    let w0 = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    let w3 = rows.iter().map(|r| r[3].len()).max().unwrap_or(0);
    let mut s = format!(
        "{:w0$}  {:>w1$}  {:>4}  {:>w3$}  {}\n",
        "operator",
        "time",
        "",
        "rows",
        "details",
        w0 = w0,
        w1 = w1,
        w3 = w3.max(4)
    );
    for r in rows {
        let pad = w0 - r[0].chars().count();
        s.push_str(&format!(
            "{}{}  {:>w1$}  {:>4}  {:>w3$}  {}\n",
            r[0],
            " ".repeat(pad),
            r[1],
            r[2],
            r[3],
            r[4],
            w1 = w1,
            w3 = w3.max(4)
        ));
    }
    s
}

pub fn metrics_line(run: &VariantRun) -> String {
    let mut parts = Vec::new();
    if let Some(ms) = run.latency_ms {
        parts.push(format!("latency {}", human_secs(ms / 1e3)));
    }
    if let Some(p) = &run.profile {
        parts.push(format!("DuckDB {}", human_secs(p.total_ms / 1e3)));
        if let Some(c) = p.cpu_ms {
            parts.push(format!("CPU {}", human_secs(c / 1e3)));
        }
        if let Some(r) = p.rows_scanned {
            parts.push(format!("rows scanned {}", human_count(r)));
        }
        if let Some(b) = p.bytes_read {
            parts.push(format!("read {}", human_bytes(b)));
        }
        if let (Some(a), Some(b)) = (
            p.row_groups_scanned,
            p.row_groups_to_scan.filter(|&b| b > 0),
        ) {
            parts.push(format!("row groups {a}/{b}"));
        }
        if let Some(m) = p.peak_memory_bytes {
            parts.push(format!("peak memory {}", human_bytes(m)));
        }
    }
    parts.join(" · ")
}

fn variants_table(q: &QueryRun) -> String {
    let mut g = grid();
    g.set_header(vec![
        "variant",
        "storage",
        "latency",
        "partitions",
        "fact files",
        "rows scanned",
        "bytes read",
    ]);
    for r in &q.runs {
        let p = r.profile.as_ref();
        g.add_row(vec![
            Cell::new(&r.variant),
            Cell::new(r.storage.name()),
            right(
                r.latency_ms
                    .map(|m| human_secs(m / 1e3))
                    .unwrap_or_default(),
            ),
            right(
                p.and_then(|p| {
                    p.partitions_scanned
                        .map(|s| format!("{s}/{}", p.partitions_total))
                })
                .unwrap_or_else(|| "-".into()),
            ),
            right(
                p.and_then(|p| {
                    p.fact_files_scanned
                        .map(|s| format!("{s}/{}", p.fact_files_total))
                })
                .unwrap_or_else(|| "-".into()),
            ),
            right(
                p.and_then(|p| p.rows_scanned)
                    .map(human_count)
                    .unwrap_or_default(),
            ),
            right(
                p.and_then(|p| p.bytes_read)
                    .map(human_bytes)
                    .unwrap_or_default(),
            ),
        ]);
    }
    g.to_string()
}

fn result_table(run: &VariantRun, max_rows: usize) -> String {
    let mut g = grid();
    g.set_header(run.columns.clone());
    for row in run.rows.iter().take(max_rows) {
        g.add_row(
            row.iter()
                .map(|v| {
                    if v.parse::<f64>().is_ok() {
                        right(v.clone())
                    } else {
                        Cell::new(v)
                    }
                })
                .collect::<Vec<_>>(),
        );
    }
    let mut s = g.to_string();
    if run.rows.len() > max_rows {
        let more = run.rows.len() - max_rows;
        s.push_str(&format!(
            "\n… {more} more {} (--rows N shows more)",
            plural(more, "row")
        ));
    }
    s
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// The human-readable report (also used by `olap demo`).
pub fn table(r: &Report, max_rows: usize) -> String {
    let mut s = format!(
        "DuckDB {} · {} threads · {} fact rows in {} · partitioned by {}\n",
        r.duckdb_version,
        r.threads,
        human_count(r.fact_rows),
        r.data_dir,
        if r.partition_by.is_empty() {
            "nothing".to_string()
        } else {
            r.partition_by.join(",")
        }
    );
    for q in &r.queries {
        s.push_str(&format!("\n━━ {} ({}) — {}\n", q.id, q.story, q.title));
        if !q.about.is_empty() {
            s.push_str(&format!("{}\n", q.about));
        }
        if !q.parameters.is_empty() {
            s.push_str(&format!(
                "parameters: {}\n",
                q.parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if let Some(why) = &q.skipped {
            s.push_str(&format!("skipped: {why}\n"));
            continue;
        }
        let first = &q.runs[0];
        if first.latency_ms.is_none() {
            for run in &q.runs {
                s.push_str(&format!(
                    "\n{} ({}):\n{}\n\nplan:\n{}\n",
                    run.variant,
                    run.storage.name(),
                    run.sql,
                    run.plan.clone().unwrap_or_default()
                ));
            }
            continue;
        }
        s.push_str(&format!(
            "\nresult: {} {}\n{}\n",
            first.result_rows,
            plural(first.result_rows as usize, "row"),
            result_table(first, max_rows)
        ));
        if q.runs.len() > 1 {
            s.push('\n');
            s.push_str(&variants_table(q));
            s.push('\n');
        }
        for run in &q.runs {
            if q.runs.len() > 1 {
                s.push_str(&format!("\n[{} · {}]\n", run.variant, run.storage.name()));
            } else {
                s.push('\n');
            }
            if let Some(p) = &run.profile {
                s.push_str(&plan_tree(p));
                if let Some(line) = p.pruning_line() {
                    s.push_str(&format!("partitions: {line}\n"));
                }
                for (name, ms, rows) in &p.window_operators {
                    s.push_str(&format!(
                        "★ window operator {name}: {ms:.1} ms, {} rows\n",
                        human_count(*rows)
                    ));
                }
            }
            s.push_str(&format!("{}\n", metrics_line(run)));
        }
        if !q.target.is_empty() {
            s.push_str(&format!("target: {}\n", q.target));
        }
        for c in &q.checks {
            s.push_str(&format!(
                "{} {}: {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
    }
    s
}

/// The Markdown report (also used by `olap demo`).
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "DuckDB {} · {} threads · {} fact rows · partitioned by {}\n",
        r.duckdb_version,
        r.threads,
        human_count(r.fact_rows),
        if r.partition_by.is_empty() {
            "nothing".to_string()
        } else {
            r.partition_by.join(",")
        }
    );
    for q in &r.queries {
        s.push_str(&format!("\n### {} ({})\n\n{}\n", q.id, q.story, q.title));
        if let Some(why) = &q.skipped {
            s.push_str(&format!("\nskipped: {why}\n"));
            continue;
        }
        if q.runs.len() > 1 && q.runs[0].latency_ms.is_some() {
            s.push_str(&format!("\n```text\n{}\n```\n", variants_table(q)));
        }
        for run in &q.runs {
            if q.runs.len() > 1 {
                s.push_str(&format!("\n*{} · {}*\n", run.variant, run.storage.name()));
            }
            if let Some(p) = &run.profile {
                s.push_str(&format!("\n```text\n{}", plan_tree(p)));
                if let Some(line) = p.pruning_line() {
                    s.push_str(&format!("partitions: {line}\n"));
                }
                s.push_str("```\n");
            } else if let Some(plan) = &run.plan {
                s.push_str(&format!("\n```text\n{plan}\n```\n"));
            }
            let m = metrics_line(run);
            if !m.is_empty() {
                s.push_str(&format!("\n{m}\n"));
            }
        }
        for c in &q.checks {
            s.push_str(&format!(
                "\n**{}** {}: {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_query_catalog_is_generated_from_the_catalog() {
        // The checkout being tested, read when the test runs: the compiled
        // test may come from another checkout sharing the target directory.
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let doc = std::fs::read_to_string(format!("{root}/docs/query-catalog.md"))
            .expect("docs/query-catalog.md");
        let begin = doc
            .find("-->\n")
            .map(|i| i + 4)
            .expect("catalog:begin marker");
        let end = doc
            .find("<!-- catalog:end -->")
            .expect("catalog:end marker");
        assert_eq!(
            &doc[begin..end],
            super::catalog_markdown(),
            "docs/query-catalog.md is stale: regenerate its catalog section with `olap analyze --list --format markdown`"
        );
    }
}

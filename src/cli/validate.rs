//! `olap validate`: re-read a data set and check everything the manifest and
//! DESIGN.md promise; report each violation; exit 1 when there is any.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{Cell, Table as Grid, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::analyze::OutputFormat;
use crate::error::CheckFailed;
use crate::model::Table;
use crate::query::engine::{Engine, EngineConfig};
use crate::query::invariants::INVARIANTS;
use crate::storage::FileFormat;
use crate::storage::checksum::{from_hex, to_hex};
use crate::storage::manifest::Manifest;
use crate::storage::read::{file_checksum, file_hash};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set directory.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Only sizes and byte checksums: skip decoding files and SQL invariants.
    #[arg(long)]
    pub quick: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// DuckDB threads for the invariant queries (default: all cores).
    #[arg(long, value_parser = super::generate::parse_threads)]
    pub threads: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Validation {
    pub data_dir: String,
    pub checks: Vec<CheckResult>,
    pub violations: usize,
}

fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

pub fn validate(dir: &Path, quick: bool, threads: usize) -> Result<Validation> {
    let m = Manifest::load(dir)?;
    let mut checks = Vec::new();
    let mut push = |check: String, problems: Vec<String>, ok_detail: String| {
        let passed = problems.is_empty();
        let detail = if passed {
            ok_detail
        } else if problems.len() > 8 {
            format!(
                "{}; … and {} more",
                problems[..8].join("; "),
                problems.len() - 8
            )
        } else {
            problems.join("; ")
        };
        checks.push(CheckResult {
            check,
            passed,
            detail,
        });
    };
    let listed: BTreeSet<String> = m
        .tables
        .iter()
        .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
        .collect();
    let mut present = BTreeSet::new();
    for f in m.storage.formats.iter() {
        walk(&dir.join(f.name()), dir, &mut present);
    }
    let missing: Vec<String> = listed
        .difference(&present)
        .map(|p| format!("missing {p}"))
        .collect();
    let stray: Vec<String> = present
        .difference(&listed)
        .map(|p| format!("stray file {p} (not in the manifest)"))
        .collect();
    push(
        "files: every listed file present".into(),
        missing.clone(),
        format!("{} files", listed.len()),
    );
    push(
        "files: nothing unlisted".into(),
        stray,
        "no stray files".into(),
    );

    let mut bad_bytes = Vec::new();
    for f in m.tables.iter().flat_map(|t| &t.files) {
        if missing.iter().any(|x| x.ends_with(&f.path)) {
            continue;
        }
        let (bytes, hash) = file_hash(&dir.join(&f.path))?;
        if bytes != f.bytes {
            bad_bytes.push(format!(
                "{}: {bytes} bytes, manifest says {}",
                f.path, f.bytes
            ));
        } else if to_hex(hash) != f.xxh3 {
            bad_bytes.push(format!(
                "{}: content differs from the manifest (xxh3)",
                f.path
            ));
        }
    }
    push(
        "files: sizes and byte checksums".into(),
        bad_bytes,
        "all match the manifest".into(),
    );
    if quick {
        return Ok(finish(dir, checks));
    }

    let mut bad_content = Vec::new();
    for t in &m.tables {
        let Some(table) = Table::from_name(&t.name) else {
            bad_content.push(format!("unknown table {} in the manifest", t.name));
            continue;
        };
        for format in &m.storage.formats {
            let (mut rows, mut sum) = (0u64, 0u64);
            for f in t.files_of(*format) {
                if missing.iter().any(|x| x.ends_with(&f.path)) {
                    continue;
                }
                match file_checksum(&dir.join(&f.path), f.format, table) {
                    Ok((r, s)) => {
                        if r != f.rows {
                            bad_content
                                .push(format!("{}: {r} rows, manifest says {}", f.path, f.rows));
                        }
                        if to_hex(s) != f.content_checksum {
                            bad_content.push(format!(
                                "{}: decoded content differs from the manifest",
                                f.path
                            ));
                        }
                        rows += r;
                        sum = sum.wrapping_add(s);
                    }
                    Err(e) => bad_content.push(format!(
                        "{}: {}",
                        f.path,
                        format!("{e:#}")
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                }
            }
            if missing.is_empty()
                && (rows != t.rows || Some(sum) != from_hex(&t.content_checksum))
                && bad_content.is_empty()
            {
                bad_content.push(format!(
                    "{} ({}): table rows or checksum differ from the manifest",
                    t.name,
                    format.name()
                ));
            }
        }
    }
    push(
        "content: schema, rows and checksums of every file".into(),
        bad_content.clone(),
        "every file decodes to the manifest's rows".into(),
    );

    if !missing.is_empty() || !bad_content.is_empty() {
        checks.push(CheckResult {
            check: "invariants".into(),
            passed: false,
            detail: "not checked: files are missing or damaged".into(),
        });
        return Ok(finish(dir, checks));
    }
    let storage = if m.storage.has(FileFormat::Parquet) {
        FileFormat::Parquet
    } else {
        FileFormat::Csv
    };
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_owned(),
        storage,
        threads,
        memory_limit: None,
        load_into: None,
    })?;
    for (name, sql) in INVARIANTS {
        let n: i64 =
            engine
                .connection()
                .query_row(&format!("SELECT CAST(({sql}) AS BIGINT)"), [], |r| r.get(0))?;
        checks.push(CheckResult {
            check: format!("invariant: {name}"),
            passed: n == 0,
            detail: if n == 0 {
                "holds".into()
            } else {
                format!("{n} violating rows")
            },
        });
    }
    Ok(finish(dir, checks))
}

fn finish(dir: &Path, checks: Vec<CheckResult>) -> Validation {
    let violations = checks.iter().filter(|c| !c.passed).count();
    Validation {
        data_dir: dir.display().to_string(),
        checks,
        violations,
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let v = validate(
        &args.data_dir,
        args.quick,
        args.threads
            .unwrap_or_else(super::generate::default_threads),
    )?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        OutputFormat::Table | OutputFormat::Markdown => {
            let mut g = Grid::new();
            g.load_style(UTF8_FULL_CONDENSED);
            g.set_header(vec!["check", "", "detail"]);
            for c in &v.checks {
                g.add_row(vec![
                    Cell::new(&c.check),
                    Cell::new(if c.passed { "ok" } else { "FAIL" }),
                    Cell::new(&c.detail),
                ]);
            }
            println!("{g}");
            if v.violations == 0 {
                println!("{}: every check passed", v.data_dir);
            }
        }
    }
    if v.violations > 0 {
        return Err(CheckFailed(format!(
            "{} check(s) failed for {}",
            v.violations, v.data_dir
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

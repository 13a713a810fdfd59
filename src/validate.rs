//! Validation of a data set: re-read it and check everything the manifest
//! and the data model (docs/architecture.md, README "The data model")
//! promise, reporting each violation. `olap validate` renders the report.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::model::Table;
use crate::query::engine::{Engine, EngineConfig, RewriteMode};
use crate::query::invariants::INVARIANTS;
use crate::storage::FileFormat;
use crate::storage::checksum::{from_hex, to_hex};
use crate::storage::dataset::DataSet;
use crate::storage::layout::MANIFEST;
use crate::storage::read::{file_checksum, file_hash};
use crate::targets::Check;

#[derive(Debug, Serialize)]
pub struct Validation {
    /// Version of this JSON shape (docs/json-output.md).
    pub schema_version: u32,
    pub data_dir: String,
    pub checks: Vec<Check>,
    pub violations: usize,
}

/// Every file below `dir`, relative to `base`. Symbolic links are listed,
/// never followed: a link to a directory (or a loop) is one stray entry.
fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Validates the opened data set `ds` (one version from the first file to
/// the last: the handle's).
pub fn validate(ds: &Arc<DataSet>, quick: bool, threads: usize) -> Result<Validation> {
    // Files are read through the handle (`root`: the version it opened);
    // the report names the data set as the user did (`dir`).
    let (root, dir, m) = (ds.root(), ds.dir(), ds.manifest());
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
        checks.push(Check::new(check, passed, detail));
    };
    let listed: BTreeSet<String> = m
        .tables
        .iter()
        .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
        .collect();
    let mut present = BTreeSet::new();
    for f in m.storage.formats.iter() {
        walk(&root.join(f.name()), root, &mut present);
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
        let (bytes, hash) = file_hash(&root.join(&f.path))?;
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
                match file_checksum(&root.join(&f.path), f.format, table) {
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
        checks.push(Check::new(
            "invariants",
            false,
            "not checked: files are missing or damaged",
        ));
        return Ok(finish(dir, checks));
    }
    let storage = if m.storage.has(FileFormat::Parquet) {
        FileFormat::Parquet
    } else {
        FileFormat::Csv
    };
    // The invariants run exactly as written.
    let engine = Engine::open(
        ds,
        EngineConfig::new(storage, threads).with_rewrite(RewriteMode::Off),
    )?;
    for (name, sql) in INVARIANTS {
        let n: i64 =
            engine
                .connection()
                .query_row(&format!("SELECT CAST(({sql}) AS BIGINT)"), [], |r| r.get(0))?;
        checks.push(Check::new(
            format!("invariant: {name}"),
            n == 0,
            if n == 0 {
                "holds".into()
            } else {
                format!("{n} violating rows")
            },
        ));
    }
    Ok(finish(dir, checks))
}

/// Version of the validation report's JSON shape.
pub const SCHEMA_VERSION: u32 = 2;

fn finish(dir: &Path, checks: Vec<Check>) -> Validation {
    let violations = checks.iter().filter(|c| !c.passed).count();
    Validation {
        schema_version: SCHEMA_VERSION,
        data_dir: dir.display().to_string(),
        checks,
        violations,
    }
}

/// Validates a data set in object storage (`s3://bucket/prefix`): the
/// manifest, every object's presence, size and xxh3 (streamed), nothing
/// unlisted under its run root, and objects of other runs no manifest names
/// (leftovers; deleted with `remove_leftovers`). Decoding and the SQL
/// invariants need the files local: `olap validate` on a copy does those.
pub fn validate_remote(url: &str, remove_leftovers: bool) -> Result<Validation> {
    use crate::storage::remote::{Remote, root_of};
    let remote = Remote::open(url)?;
    let Some(m) = remote.manifest()? else {
        let any = !remote.list("")?.is_empty();
        crate::bail_user!(
            "no data set at {} ({}): run `olap generate --output-dir {}` first",
            remote.url,
            if any {
                "objects but no manifest.json: an interrupted or unfinished run"
            } else {
                "nothing there"
            },
            remote.url
        );
    };
    let root = m.root.clone().unwrap_or_default();
    let objects = remote.list("")?;
    let mut checks = Vec::new();
    let listed: std::collections::BTreeMap<String, &crate::storage::manifest::FileEntry> = m
        .tables
        .iter()
        .flat_map(|t| &t.files)
        .map(|f| (format!("{root}{}", f.path), f))
        .collect();
    let sizes: std::collections::BTreeMap<&str, u64> =
        objects.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    let mut missing = Vec::new();
    let mut bad = Vec::new();
    for (key, f) in &listed {
        match sizes.get(key.as_str()) {
            None => missing.push(format!("missing {key}")),
            Some(&n) if n != f.bytes => {
                bad.push(format!("{key}: {n} bytes, manifest says {}", f.bytes))
            }
            Some(_) => {
                let (n, hash) = remote.hash(key)?;
                if n != f.bytes || to_hex(hash) != f.xxh3 {
                    bad.push(format!("{key}: content differs from the manifest (xxh3)"));
                }
            }
        }
    }
    let problems = |v: Vec<String>, ok: String| {
        let passed = v.is_empty();
        (passed, if passed { ok } else { v.join("; ") })
    };
    let (p, d) = problems(missing, format!("{} objects", listed.len()));
    checks.push(Check::new("objects: every listed object present", p, d));
    let (p, d) = problems(bad, "all match the manifest".into());
    checks.push(Check::new("objects: sizes and byte checksums", p, d));
    let stray: Vec<String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(&root) && !listed.contains_key(*k))
        .filter(|k| {
            let name = &k[root.len()..];
            name != MANIFEST && !name.starts_with("manifest.part-")
        })
        .map(|k| format!("stray object {k}"))
        .collect();
    let (p, d) = problems(stray, "nothing unlisted under the run root".into());
    checks.push(Check::new("objects: nothing unlisted", p, d));
    let leftovers: Vec<String> = objects
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| root_of(k).is_some_and(|r| r != root))
        .collect();
    let runs: BTreeSet<&str> = leftovers.iter().filter_map(|k| root_of(k)).collect();
    let detail = if leftovers.is_empty() {
        "none".to_string()
    } else if remove_leftovers {
        remote.delete(&leftovers)?;
        format!(
            "removed {} objects of {} other run(s): {}",
            leftovers.len(),
            runs.len(),
            runs.iter().copied().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!(
            "{} objects of {} other run(s) no manifest names ({}): interrupted, or still running elsewhere; --remove-leftovers deletes them",
            leftovers.len(),
            runs.len(),
            runs.iter().copied().collect::<Vec<_>>().join(", ")
        )
    };
    checks.push(Check::new("leftovers of other runs", true, detail));
    let violations = checks.iter().filter(|c| !c.passed).count();
    Ok(Validation {
        schema_version: SCHEMA_VERSION,
        data_dir: remote.url.clone(),
        checks,
        violations,
    })
}

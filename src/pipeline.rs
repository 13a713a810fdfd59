//! The generation pipeline: stage a run beside the output, check the space,
//! generate and write every file on a thread pool, write the manifest last
//! and publish atomically. `olap generate`, the benchmark's scaling study,
//! the demo and the benches all call [`generate`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::bail_user;
use crate::datagen::Star;
use crate::model::GenSpec;
use crate::storage::layout::MANIFEST;
use crate::storage::manifest::{GenerationStats, Generator, MANIFEST_VERSION, Manifest};
use crate::storage::publish::{PublishOptions, Staging};
use crate::storage::write::{LocalDir, Sink, WriteOptions, plan, write_to};
use crate::storage::{FileFormat, Slice, StorageSpec};
use crate::util::{free_bytes, human_bytes, progress_bar};

/// The most fact rows one run (one part of `--parts`) may write.
pub const MAX_ROWS: u64 = 20_000_000_000;

/// The most fact rows a data set of many parts may have.
pub const MAX_TOTAL_ROWS: u64 = 1_000 * MAX_ROWS;

/// Bytes a row group of `rows` holds while it is encoded: Parquet column
/// chunks and, with CSV, its text (about 96 bytes a row, preallocated).
fn row_group_bytes(rows: u64, storage: &StorageSpec) -> u64 {
    let per_row = 48 + if storage.has(FileFormat::Csv) { 96 } else { 0 };
    rows * per_row
}

/// The validated plan of a run.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    pub spec: GenSpec,
    pub storage: StorageSpec,
    pub slice: Slice,
    pub output: PathBuf,
    pub threads: usize,
    /// Replace an existing data set (never a directory olap did not write).
    pub force: bool,
    /// Queue behind another writer of the same directory instead of failing.
    pub wait: bool,
    /// fsync files and directories before publishing (see `--no-fsync`).
    pub durable: bool,
}

impl GenerateConfig {
    /// Peak memory of the writer: up to 2 × threads + 1 row groups in
    /// flight (see `storage::write`), plus the dimensions.
    pub fn estimated_memory(&self) -> u64 {
        let in_flight = 2 * self.threads as u64 + 1;
        in_flight * row_group_bytes(self.storage.row_group_size, &self.storage)
            + self.spec.customers as u64 * 200
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

/// What a generation did (`olap generate --json` prints it).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub output_dir: String,
    /// False for a part whose siblings are not all written yet.
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

/// Runs a generation; a progress bar shows on a terminal.
pub fn generate(cfg: &GenerateConfig) -> Result<Summary> {
    let memory = crate::util::memory_bytes();
    if memory > 0 && cfg.estimated_memory() > memory / 10 * 8 {
        bail_user!(
            "--row-group-size {} with {} threads needs about {} of memory in flight, more than this machine's {} allows: use smaller row groups or fewer threads",
            cfg.storage.row_group_size,
            cfg.threads,
            human_bytes(cfg.estimated_memory()),
            human_bytes(memory)
        );
    }
    if let Some(url) = crate::storage::remote::url_of(&cfg.output) {
        return generate_remote(cfg, url);
    }
    let stage = Instant::now();
    let staging = Staging::prepare(
        &cfg.output,
        cfg.slice,
        PublishOptions {
            force: cfg.force,
            wait: cfg.wait,
            durable: cfg.durable,
        },
    )?;
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
    tracing::debug!("generate: staged in {:?}", stage.elapsed());
    let manifest = produce(
        cfg,
        &LocalDir {
            dir: &staging.path,
            durable: cfg.durable,
        },
    )?;
    let seconds = manifest.generation.seconds;
    let stage = Instant::now();
    // The query log outlives the data set it was written against (`--force`).
    let log = cfg.output.join(crate::query::log::DEFAULT_LOG);
    if log.is_file() {
        let _ = std::fs::copy(&log, staging.path.join(crate::query::log::DEFAULT_LOG));
    }
    let (complete, manifest) = if cfg.slice.is_whole() {
        crate::storage::verify::stamp_all(&staging.path, &manifest)?;
        crate::fault::point("after-stamp");
        manifest.write_to(&staging.path, MANIFEST)?;
        crate::fault::point("after-manifest");
        staging.commit_whole()?;
        (true, manifest)
    } else {
        match staging.commit_part(&manifest)? {
            Some(merged) => (true, merged),
            None => (false, manifest),
        }
    };
    tracing::debug!("generate: committed in {:?}", stage.elapsed());
    Ok(summary(
        cfg,
        cfg.output.display().to_string(),
        complete,
        seconds,
        manifest,
    ))
}

fn summary(
    cfg: &GenerateConfig,
    output_dir: String,
    complete: bool,
    seconds: f64,
    manifest: Manifest,
) -> Summary {
    let written = |m: &Manifest, f| m.tables.iter().map(|t| t.bytes(f)).sum::<u64>();
    let fact_rows = {
        let r = cfg.slice.rows(cfg.spec.rows);
        r.end - r.start
    };
    let (pq, csv) = (
        written(&manifest, FileFormat::Parquet),
        written(&manifest, FileFormat::Csv),
    );
    Summary {
        output_dir,
        complete,
        seconds,
        fact_rows_per_second: fact_rows as f64 / seconds,
        threads: cfg.threads,
        parquet_bytes: pq,
        csv_bytes: csv,
        csv_to_parquet_ratio: (pq > 0 && csv > 0).then(|| csv as f64 / pq as f64),
        manifest,
    }
}

/// Generates every file of the run into `sink` and returns its manifest
/// (not yet written anywhere).
fn produce(cfg: &GenerateConfig, sink: &dyn Sink) -> Result<Manifest> {
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()?;
    let stage = Instant::now();
    let star = pool.install(|| Star::new(cfg.spec.clone()));
    tracing::debug!("generate: dimensions built in {:?}", stage.elapsed());
    let jobs = plan(&star, &cfg.storage, cfg.slice);
    let total: u64 = jobs.iter().map(|j| j.rows.end - j.rows.start).sum();
    let bar = progress_bar(total, "generating", true);
    let stage = Instant::now();
    let tick = |n: u64| bar.inc(n);
    let tables = write_to(
        &star,
        &cfg.storage,
        &jobs,
        sink,
        &WriteOptions {
            durable: cfg.durable,
            threads: cfg.threads,
            progress: &tick,
        },
    )?;
    bar.finish_and_clear();
    crate::fault::point("after-data");
    tracing::debug!(
        "generate: {} files written in {:?}",
        jobs.len(),
        stage.elapsed()
    );
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        generator: Generator::current(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        spec: cfg.spec.clone(),
        storage: cfg.storage.clone(),
        slice: cfg.slice,
        merged_parts: false,
        tables,
        generation: GenerationStats {
            seconds: started.elapsed().as_secs_f64(),
            threads: cfg.threads,
        },
        root: None,
    })
}

/// A run into object storage (see `storage::remote` for the protocol).
fn generate_remote(cfg: &GenerateConfig, url: &str) -> Result<Summary> {
    use crate::storage::manifest::part_manifest_name;
    use crate::storage::remote::{Remote, fresh_root, parts_root, root_of};
    let remote = Remote::open(url)?;
    let existing = remote.manifest()?;
    let objects = remote.list("")?;
    if let Some((rel, _)) = objects
        .iter()
        .find(|(rel, _)| rel != MANIFEST && root_of(rel).is_none())
    {
        bail_user!(
            "{} holds {rel:?}, which olap did not write; refusing to write there (nothing was changed): choose another prefix",
            remote.url
        );
    }
    let whole = cfg.slice.is_whole();
    if existing.is_some() && !cfg.force {
        if whole {
            bail_user!(
                "{} already holds an olap data set; pass --force to replace it",
                remote.url
            );
        }
        bail_user!(
            "{} already holds a complete data set; pass --force to add parts to it",
            remote.url
        );
    }
    // Settings alone name a sharded run's root, so every part finds it.
    let root = if whole {
        fresh_root()
    } else {
        parts_root(&cfg.spec, &cfg.storage, cfg.slice.parts)
    };
    let part_name = format!("{root}{}", part_manifest_name(cfg.slice));
    if !whole && !cfg.force && objects.iter().any(|(rel, _)| *rel == part_name) {
        bail_user!(
            "part {} of {} is already in {}; pass --force to regenerate it",
            cfg.slice.part,
            cfg.slice.parts,
            remote.url
        );
    }
    let current = existing.as_ref().and_then(|m| m.root.clone());
    let others: BTreeSet<&str> = objects
        .iter()
        .filter_map(|(rel, _)| root_of(rel))
        .filter(|r| Some(*r) != current.as_deref() && *r != root)
        .collect();
    if !others.is_empty() {
        eprintln!(
            "olap: {} holds objects of {} run(s) no manifest names ({}): interrupted, or still running elsewhere; `olap validate --data-dir {} --remove-leftovers` deletes them",
            remote.url,
            others.len(),
            others.into_iter().collect::<Vec<_>>().join(", "),
            remote.url
        );
    }
    let manifest = produce(cfg, &remote.sink(&root))?;
    let seconds = manifest.generation.seconds;
    let publish = |m: &Manifest| -> Result<Manifest> {
        // The run's own copy (a plain local-style manifest), then the
        // prefix's manifest naming the root: the commit point.
        remote.put(&format!("{root}{MANIFEST}"), m.to_json().into_bytes())?;
        crate::fault::point("after-manifest");
        let top = Manifest {
            root: Some(root.clone()),
            ..m.clone()
        };
        if !remote.put_new(MANIFEST, top.to_json().into_bytes())?
            && remote.manifest()?.as_ref() != Some(&top)
        {
            remote.put(MANIFEST, top.to_json().into_bytes())?;
        }
        crate::fault::point("after-swap");
        // The replaced run's objects go only after the commit.
        if let Some(old) = current.as_deref().filter(|r| *r != root) {
            let keys: Vec<String> = remote
                .list(old.trim_end_matches('/'))?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            remote.delete(&keys)?;
        }
        Ok(top)
    };
    let (complete, manifest) = if whole {
        (true, publish(&manifest)?)
    } else {
        remote.put(&part_name, manifest.to_json().into_bytes())?;
        let mut parts = Vec::new();
        // A store lists by whole path segments: list the root, keep the
        // part manifests.
        let names = remote.list(root.trim_end_matches('/'))?;
        for (rel, _) in names
            .iter()
            .filter(|(rel, _)| rel[root.len()..].starts_with("manifest.part-"))
        {
            if let Some(b) = remote.get(rel)?
                && let Ok(m) = Manifest::parse(&String::from_utf8_lossy(&b), &remote.show(rel))
                && m.slice.parts == cfg.slice.parts
            {
                parts.push(m);
            }
        }
        if parts.len() as u32 == cfg.slice.parts {
            (true, publish(&Manifest::merge(parts)?)?)
        } else {
            (false, manifest)
        }
    };
    Ok(summary(
        cfg,
        remote.url.clone(),
        complete,
        seconds,
        manifest,
    ))
}

//! One opened data set: what every reader (analyze, benchmark, validate,
//! export, the demo, the server) reads through.
//!
//! [`DataSet::open`] takes the reader lock once, puts back a data set an
//! interrupted run moved aside (the one recovery a reader may do), loads
//! the manifest once and resolves each table's files to absolute paths
//! once. Everything a reader needs comes from the handle; nothing re-derives
//! "the data set I am reading" from a path. Two engines in one process
//! (Parquet and CSV) share one handle, and with it one lock.
//!
//! The handle knows the version it holds (the manifest's content hash) and
//! can tell cheaply whether a newer one has been published
//! ([`DataSet::is_current`]); a long-lived reader reopens to see it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;

use super::FileFormat;
use super::layout::{MANIFEST, partition_values};
use super::lock::{self, Snapshot};
use super::manifest::Manifest;
use crate::bail_user;
use crate::model::{PartitionKey, Table};

/// A file's Hive key values.
pub type HiveKeys = Vec<(PartitionKey, i32)>;

/// How many data sets this process has opened (tests count them: one
/// `olap demo` opens each data set once).
static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An opened data set; see the module docs.
#[derive(Debug)]
pub struct DataSet {
    dir: PathBuf,
    manifest: Manifest,
    /// The manifest's content hash: the version this handle holds.
    version: String,
    /// Per table and format: absolute file paths with their Hive keys.
    files: BTreeMap<(Table, FileFormat), Vec<(String, HiveKeys)>>,
    /// Formats whose files were checked against the manifest (sizes, and
    /// checksums where the stamp says a file changed), once per handle.
    verified: Mutex<Vec<FileFormat>>,
    _snapshot: Snapshot,
}

impl DataSet {
    /// Opens the data set at `dir` (see the module docs).
    pub fn open(dir: &Path) -> Result<DataSet> {
        if let Some(url) = super::remote::url_of(dir) {
            return Err(crate::error::UserError::new(format!(
                "{url} is in object storage: `olap validate --data-dir {url}` checks it and Spark (or any Hive-aware engine) reads it; to query it with olap, copy its run directory (the `root` in its manifest.json) to local disk"
            ))
            .into());
        }
        // A run that died between its two fallback renames moved the data
        // set aside: put it back (the writer does this too).
        super::recover::for_reader(dir);
        let snapshot = lock::reader(dir)?;
        let manifest = Manifest::load(dir)?;
        let text = std::fs::read(dir.join(MANIFEST)).unwrap_or_default();
        let version = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&text));
        let mut files = BTreeMap::new();
        for entry in &manifest.tables {
            let Some(table) = Table::from_name(&entry.name) else {
                continue;
            };
            for format in &manifest.storage.formats {
                let mut list = Vec::new();
                for f in entry.files_of(*format) {
                    let p = dir.join(&f.path);
                    let abs = std::path::absolute(&p).unwrap_or(p);
                    check_queryable_path(&abs)?;
                    list.push((abs.to_string_lossy().to_string(), partition_values(&f.path)));
                }
                files.insert((table, *format), list);
            }
        }
        OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!("opened data set {} (version {version})", dir.display());
        Ok(DataSet {
            dir: dir.to_path_buf(),
            manifest,
            version,
            files,
            verified: Mutex::new(Vec::new()),
            _snapshot: snapshot,
        })
    }

    /// How many data sets this process has opened.
    pub fn opened() -> u64 {
        OPENED.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The version this handle holds (the manifest's content hash).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the version held is still the published one: one read of
    /// the small manifest, no lock taken, so a waiting writer is never
    /// held up by the check.
    pub fn is_current(&self) -> bool {
        std::fs::read(self.dir.join(MANIFEST))
            .is_ok_and(|t| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&t)) == self.version)
    }

    /// The formats the data set holds.
    pub fn formats(&self) -> &[FileFormat] {
        &self.manifest.storage.formats
    }

    /// The files of `table` in `format`, absolute, each with its Hive key
    /// values, in the manifest's order; a missing file is an error.
    pub fn files(&self, table: Table, format: FileFormat) -> Result<&[(String, HiveKeys)]> {
        let Some(list) = self.files.get(&(table, format)) else {
            if self.manifest.table(table).is_none() {
                anyhow::bail!("manifest lists no {}", table.name());
            }
            return self.no_format(format).map(|_| &[][..]);
        };
        Ok(list)
    }

    /// A one-line refusal for a format the data set does not hold.
    fn no_format(&self, format: FileFormat) -> Result<()> {
        if self.formats().contains(&format) {
            return Ok(());
        }
        bail_user!(
            "{} has no {} files (it holds {}): regenerate with `olap generate --format both --output-dir {} --force`",
            self.dir.display(),
            format.name(),
            self.formats()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
            self.dir.display()
        );
    }

    /// Checks the files of `format` against the manifest before they are
    /// queried (see `storage::verify`), once per handle.
    pub fn verify(&self, format: FileFormat) -> Result<()> {
        self.no_format(format)?;
        let mut done = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if !done.contains(&format) {
            super::verify::verify(&self.dir, &self.manifest, format)?;
            done.push(format);
        }
        Ok(())
    }
}

/// The path as DuckDB will see it, or a one-line refusal naming it: DuckDB
/// takes paths as UTF-8 text and expands glob characters in them, so a data
/// set under such a path would be unreadable or read someone else's files.
pub fn check_queryable_path(path: &Path) -> Result<&str> {
    let Some(text) = path.to_str() else {
        bail_user!(
            "{} is not valid UTF-8: DuckDB cannot open it; use a UTF-8 path for the data set",
            path.display()
        );
    };
    if text.contains(['*', '?', '[', ']', '{', '}']) {
        bail_user!(
            "{} has a glob character (* ? [ ] {{ }}), which DuckDB would expand to other files: use another name for the data set",
            path.display()
        );
    }
    Ok(text)
}


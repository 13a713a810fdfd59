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
//!
//! Versions: the handle holds the data directory open (a file descriptor)
//! and reads every file through it (`/proc/self/fd/N/…` on Linux), so when
//! `generate --force` swaps a new data set in, this handle keeps reading
//! the version it opened, wherever the writer moved it, and the writer does
//! not wait for it. A shared lock on that version
//! (`storage::lock::version_reader`) keeps its files until the last handle
//! closes: the writer deletes the old version at once when nobody reads it,
//! else the last handle to close deletes it, or the next open or run does
//! (`storage::recover`). One handle, one version: a query never mixes two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;

use super::FileFormat;
use super::layout::{MANIFEST, partition_values};
use super::lock;
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
    /// Where the files are read: the directory this handle opened, through
    /// its descriptor (`root_dir`), whatever path it has by now.
    root: PathBuf,
    /// The opened directory (kept open: `root` goes through it).
    root_dir: Option<std::fs::File>,
    /// This version's shared lock: its files stay while it is held.
    version_lock: Option<lock::Held>,
}

impl Drop for DataSet {
    /// The last reader of a replaced version deletes it.
    fn drop(&mut self) {
        drop(self.version_lock.take());
        if let Some(path) = self.root_dir.as_ref().and_then(current_path) {
            super::recover::remove_if_retired(&self.dir, &path);
        }
    }
}

/// Where an open directory is now (it may have been renamed).
fn current_path(dir: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()
}

/// The path that reaches the open directory `dir` whatever it is renamed
/// to (`/proc/self/fd/N` on Linux), when the system has one.
fn stable_path(dir: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.join(MANIFEST).is_file().then_some(p)
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
        // While the intent lock is held, no writer swaps the data set: the
        // manifest read, the directory opened and the version locked are
        // one version.
        let passage = lock::opening(dir)?;
        let manifest = Manifest::load(dir)?;
        let root_dir = std::fs::File::open(dir).ok();
        let root = root_dir
            .as_ref()
            .and_then(stable_path)
            .unwrap_or_else(|| std::path::absolute(dir).unwrap_or(dir.to_path_buf()));
        let text = std::fs::read(root.join(MANIFEST)).unwrap_or_default();
        let version = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&text));
        let version_lock = lock::version_reader(&root)?;
        drop(passage);
        // Replaced versions nobody reads any more.
        super::recover::sweep_retired(dir);
        check_queryable_path(&std::path::absolute(dir).unwrap_or(dir.to_path_buf()))?;
        let mut files = BTreeMap::new();
        for entry in &manifest.tables {
            let Some(table) = Table::from_name(&entry.name) else {
                continue;
            };
            for format in &manifest.storage.formats {
                let mut list = Vec::new();
                for f in entry.files_of(*format) {
                    let p = root.join(&f.path);
                    check_queryable_path(&p)?;
                    list.push((p.to_string_lossy().to_string(), partition_values(&f.path)));
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
            root,
            root_dir,
            version_lock,
        })
    }

    /// Where this handle reads its files: the version it opened, wherever
    /// it is now (see the module docs). Paths under it are for reading;
    /// show [`DataSet::dir`] to people ([`DataSet::display`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `text` with paths under [`DataSet::root`] shown under the data
    /// directory the user named (plans and profiles name files).
    pub fn display(&self, text: &str) -> String {
        let root = self.root.to_string_lossy();
        let dir = std::path::absolute(&self.dir).unwrap_or(self.dir.clone());
        text.replace(root.as_ref(), &dir.to_string_lossy())
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
            super::verify::verify(&self.root, &self.dir, &self.manifest, format)?;
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

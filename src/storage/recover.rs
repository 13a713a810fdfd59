//! Repairing what dead runs left beside a data directory: the one place
//! that does it, called by the writer before it starts and by a reader when
//! it opens a data set (`storage::dataset`); it knows neither.
//!
//! A run that died between the two fallback renames of its publish left the
//! old data set moved aside (`.<name>.olap-old-<run>`) and nothing at the
//! output: it is put back, as SQLite rolls back a hot journal. A writer
//! also removes dead runs' temporary directories and run locks. A live
//! run's leftovers are never touched: its run lock is held.

use std::path::{Path, PathBuf};

use super::layout::MANIFEST;
use super::lock::{self, parent_of};

/// A run's private directory beside the output: `.<name>.olap-tmp-<run>`.
pub const TMP_MARK: &str = ".olap-tmp-";
/// An old data set moved aside by the two-rename publish.
pub const OLD_MARK: &str = ".olap-old-";
/// A replaced version kept while readers hold it:
/// `.<name>.olap-held-<version>-<suffix>` (see `storage::dataset`).
pub const HELD_MARK: &str = ".olap-held-";

/// What [`recover`] did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// An old data set put back where a crashed run had moved it aside.
    pub restored: Option<PathBuf>,
    /// Leftovers of dead runs removed.
    pub removed: Vec<PathBuf>,
}

/// Repairs what dead runs left next to `output`: puts back a complete old
/// data set when the output is missing, and (with `clean`) removes their
/// temporary directories and run locks. A live run's leftovers are never
/// touched: its run lock is held.
pub fn recover(output: &Path, clean: bool) -> Recovery {
    let mut done = Recovery::default();
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return done;
    };
    let Ok(entries) = std::fs::read_dir(parent_of(output)) else {
        return done;
    };
    let mut found: Vec<(String, String, PathBuf)> = Vec::new();
    let mut locks = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        if let Some(id) = file
            .strip_prefix(&format!(".{name}.olap-run-"))
            .and_then(|r| r.strip_suffix(".lock"))
        {
            locks.push(id.to_string());
        }
        for mark in [TMP_MARK, OLD_MARK] {
            if let Some(id) = file.strip_prefix(&format!(".{name}{mark}")) {
                found.push((mark.to_string(), id.to_string(), e.path()));
            }
        }
    }
    for (mark, id, path) in &found {
        if !lock::run_is_dead(output, id) {
            continue;
        }
        let restore = mark == OLD_MARK
            && done.restored.is_none()
            && !output.exists()
            && path.join(MANIFEST).is_file();
        if restore && std::fs::rename(path, output).is_ok() {
            sync_dir(parent_of(output));
            done.restored = Some(path.clone());
        } else if clean && path.exists() {
            // A whole old version (a crash after the swap) may still be
            // read through open handles: retired, not simply deleted.
            match retire(output, path) {
                Ok(true) => done.removed.push(path.clone()),
                Ok(false) => {}
                Err(e) => tracing::debug!("{}: {e:#}", path.display()),
            }
        }
    }
    if clean {
        sweep_retired(output);
        for id in locks {
            let leftover = found.iter().any(|(_, i, p)| *i == id && p.exists());
            if !leftover && lock::run_is_dead(output, &id) {
                lock::remove_run_lock(output, &id);
            }
        }
    }
    done
}

/// The version (manifest hash) of the data set in `dir`, when it has one.
pub fn version_of(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join(MANIFEST)).ok()?;
    Some(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&text)))
}

/// Retires `old`, a directory beside `output` that no longer is the data
/// set (a replaced version, or a dead run's staging): deleted when no
/// reader holds its version, else renamed to a held directory that its
/// last reader, or the next open or run, deletes. `Ok(true)`: deleted.
pub fn retire(output: &Path, old: &Path) -> anyhow::Result<bool> {
    use anyhow::Context;
    let Some(version) = version_of(old) else {
        std::fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
        return Ok(true);
    };
    if lock::version_unread(old).is_some() {
        std::fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
        return Ok(true);
    }
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let held = parent_of(output).join(format!(".{name}{HELD_MARK}{version}-{}", lock::run_id()));
    std::fs::rename(old, &held)
        .with_context(|| format!("keeping {} for its readers", old.display()))?;
    tracing::info!(
        "olap: the replaced data set stays at {} until its readers close it",
        held.display()
    );
    Ok(false)
}

/// The version a held directory's name carries, if `file` names one of
/// `output`'s.
fn held_version<'a>(output_name: &str, file: &'a str) -> Option<&'a str> {
    let rest = file.strip_prefix(&format!(".{output_name}{HELD_MARK}"))?;
    rest.get(..16)
        .filter(|v| v.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Deletes the held versions of `output` that nobody reads any more.
pub fn sweep_retired(output: &Path) {
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent_of(output)) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        if held_version(&name, &file).is_some()
            && let Some(_unread) = lock::version_unread(&e.path())
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// After a handle closed: deletes `path` (where its version's directory is
/// now) when it is a held version of `output` nobody reads.
pub fn remove_if_retired(output: &Path, path: &Path) {
    let (Some(name), Some(file)) = (output.file_name(), path.file_name()) else {
        return;
    };
    if held_version(&name.to_string_lossy(), &file.to_string_lossy()).is_none() {
        return;
    }
    if let Some(_unread) = lock::version_unread(path) {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// A reader's part of [`recover`]: when the data set is missing because a
/// run died between its two fallback renames, put the old one back (and
/// say so); never removes anything.
pub fn for_reader(dir: &Path) {
    if dir.exists() {
        return;
    }
    if let Some(p) = recover(dir, false).restored {
        eprintln!(
            "olap: put back the data set an interrupted run had moved to {}",
            p.display()
        );
    }
}

/// fsyncs a directory so renames and new entries in it survive power loss
/// (a no-op where directories cannot be opened).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

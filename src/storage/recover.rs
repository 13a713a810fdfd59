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
        } else if clean && std::fs::remove_dir_all(path).is_ok() {
            done.removed.push(path.clone());
        }
    }
    if clean {
        for id in locks {
            let leftover = found.iter().any(|(_, i, p)| *i == id && p.exists());
            if !leftover && lock::run_is_dead(output, &id) {
                lock::remove_run_lock(output, &id);
            }
        }
    }
    done
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


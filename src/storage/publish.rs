//! Putting a finished run in place without ever exposing half a data set.
//!
//! A whole run writes into a hidden sibling `.<name>.olap-tmp-<pid>` and, once
//! its manifest is written, swaps it with the output directory in one atomic
//! `renameat2(RENAME_EXCHANGE)` (two renames where the filesystem lacks it),
//! then deletes the old data. A part of a sharded run (`--parts N --part K`)
//! moves its files, which carry its part number, into the shared directory,
//! writes `manifest.part-K-of-N.json`, and the part that completes the set
//! merges the part manifests into `manifest.json` (idempotent, so two parts
//! finishing together write the same bytes).
//!
//! Temporary directories of runs that died (SIGKILL, power loss) are removed
//! by the next run into the same place, which says so.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::Slice;
use super::layout::MANIFEST;
use super::manifest::{Manifest, part_manifest_name, part_manifests};
use crate::bail_user;
use crate::error::UserError;

const TMP_MARK: &str = ".olap-tmp-";
const OLD_MARK: &str = ".olap-old-";

/// Staging directories to remove if the process is interrupted.
static LIVE_STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes live staging directories; called from the Ctrl-C handler.
pub fn remove_live_staging() {
    if let Ok(list) = LIVE_STAGING.lock() {
        for p in list.iter() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    // Signal 0 checks existence without sending anything.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// What a directory holds, as far as olap is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum DirState {
    Missing,
    Empty,
    /// Has `manifest.json`.
    DataSet,
    /// Has part manifests and/or our files but no `manifest.json`.
    PartialOlap,
    /// Holds things olap did not write.
    Foreign(String),
}

/// Classifies `dir` without changing it.
pub fn dir_state(dir: &Path) -> Result<DirState> {
    if !dir.exists() {
        return Ok(DirState::Missing);
    }
    if !dir.is_dir() {
        return Ok(DirState::Foreign(format!(
            "{} is a file, not a directory",
            dir.display()
        )));
    }
    let mut ours = false;
    let mut manifest = false;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        let is_dir = e.file_type()?.is_dir();
        match name.as_str() {
            MANIFEST => manifest = true,
            "parquet" | "csv" if is_dir => ours = true,
            "queries.log.jsonl" | "olap.duckdb" | "olap.duckdb.wal" | ".olap-verified.json" => {
                ours = true
            }
            n if n.starts_with("manifest.part-") || n.starts_with(".manifest") => ours = true,
            _ => {
                return Ok(DirState::Foreign(format!(
                    "{} holds {name:?}, which olap did not write",
                    dir.display()
                )));
            }
        }
    }
    Ok(if manifest {
        DirState::DataSet
    } else if ours {
        DirState::PartialOlap
    } else {
        DirState::Empty
    })
}

/// A run's private directory; removed on drop unless committed.
pub struct Staging {
    pub path: PathBuf,
    output: PathBuf,
    done: bool,
}

fn sibling(output: &Path, mark: &str) -> Result<PathBuf> {
    let name = output
        .file_name()
        .context("output directory needs a name")?
        .to_string_lossy()
        .to_string();
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{name}{mark}{}", std::process::id())))
}

/// Removes leftovers of dead runs next to `output`; returns what it removed.
pub fn clean_stale(output: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return removed;
    };
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(parent) else {
        return removed;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        for mark in [TMP_MARK, OLD_MARK] {
            if let Some(pid) = file
                .strip_prefix(&format!(".{name}{mark}"))
                .and_then(|p| p.parse::<u32>().ok())
                && pid != std::process::id()
                && !pid_alive(pid)
                && std::fs::remove_dir_all(e.path()).is_ok()
            {
                removed.push(e.path());
            }
        }
    }
    removed
}

impl Staging {
    /// Checks that `output` may receive this run and creates the staging dir.
    pub fn prepare(output: &Path, slice: Slice, force: bool) -> Result<Staging> {
        let state = dir_state(output)?;
        match (&state, slice.is_whole()) {
            (DirState::Foreign(why), _) => bail_user!(
                "{why}; refusing to write there (nothing was changed): choose another --output-dir"
            ),
            (DirState::DataSet | DirState::PartialOlap, true) if !force => bail_user!(
                "{} already holds an olap data set; pass --force to replace it",
                output.display()
            ),
            (DirState::DataSet, false) if !force => bail_user!(
                "{} already holds a complete data set; pass --force to add parts to it",
                output.display()
            ),
            _ => {}
        }
        if !slice.is_whole() {
            if output.join(part_manifest_name(slice)).exists() && !force {
                bail_user!(
                    "part {} of {} is already in {}; pass --force to regenerate it",
                    slice.part,
                    slice.parts,
                    output.display()
                );
            }
            if let Some((_, other)) = part_manifests(output)?
                .into_iter()
                .find(|(_, m)| m.slice.parts != slice.parts)
            {
                bail_user!(
                    "{} holds parts of a {}-part run; this is a {}-part run: use another --output-dir",
                    output.display(),
                    other.slice.parts,
                    slice.parts
                );
            }
        }
        let parent = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))
            .map_err(|e| UserError::new(format!("{e:#}")))?;
        for p in clean_stale(output) {
            eprintln!("olap: removed {} left by an interrupted run", p.display());
        }
        let path = sibling(output, TMP_MARK)?;
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        std::fs::create_dir(&path)
            .map_err(|e| UserError::new(format!("cannot write in {}: {e}", parent.display())))?;
        LIVE_STAGING.lock().expect("lock").push(path.clone());
        Ok(Staging {
            path,
            output: output.to_owned(),
            done: false,
        })
    }

    /// Publishes a whole run whose manifest is already in the staging dir.
    pub fn commit_whole(mut self) -> Result<()> {
        let out = &self.output;
        match dir_state(out)? {
            DirState::Missing | DirState::Empty => {
                if out.exists() {
                    std::fs::remove_dir(out)
                        .with_context(|| format!("replacing empty {}", out.display()))?;
                }
                std::fs::rename(&self.path, out)
                    .with_context(|| format!("moving data set into {}", out.display()))?;
            }
            _ => {
                if exchange(&self.path, out).is_ok() {
                    // self.path now holds the old data set.
                    std::fs::remove_dir_all(&self.path)
                        .with_context(|| format!("removing old data at {}", self.path.display()))?;
                } else {
                    let old = sibling(out, OLD_MARK)?;
                    std::fs::rename(out, &old)
                        .with_context(|| format!("moving {} aside", out.display()))?;
                    std::fs::rename(&self.path, out)
                        .with_context(|| format!("moving data set into {}", out.display()))?;
                    let _ = std::fs::remove_dir_all(&old);
                }
            }
        }
        self.done = true;
        Ok(())
    }

    /// Publishes one part into the shared directory; returns the merged
    /// manifest when this part completed the set.
    pub fn commit_part(mut self, manifest: &Manifest) -> Result<Option<Manifest>> {
        let out = self.output.clone();
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        // A regenerated part replaces its own files only.
        let _ = std::fs::remove_file(out.join(part_manifest_name(manifest.slice)));
        let _ = std::fs::remove_file(out.join(MANIFEST));
        for t in &manifest.tables {
            for f in &t.files {
                let (from, to) = (self.path.join(&f.path), out.join(&f.path));
                if let Some(d) = to.parent() {
                    std::fs::create_dir_all(d)
                        .with_context(|| format!("creating {}", d.display()))?;
                }
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} into place", f.path))?;
            }
        }
        manifest.write_to(&out, &part_manifest_name(manifest.slice))?;
        self.done = true;
        let _ = std::fs::remove_dir_all(&self.path);
        let parts = part_manifests(&out)?;
        if parts.len() as u32 == manifest.slice.parts {
            let merged = Manifest::merge(parts.into_iter().map(|(_, m)| m).collect())?;
            // Every file was hashed as it was written; record that so the
            // first query does not rehash them (as a single run does).
            crate::storage::verify::stamp_all(&out, &merged)?;
            merged.write_to(&out, MANIFEST)?;
            return Ok(Some(merged));
        }
        Ok(None)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
        if let Ok(mut list) = LIVE_STAGING.lock() {
            list.retain(|p| p != &self.path);
        }
    }
}

/// Atomically swaps two paths (Linux renameat2 with RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_directories_are_recognised() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        assert_eq!(dir_state(&d).unwrap(), DirState::Missing);
        std::fs::create_dir(&d).unwrap();
        assert_eq!(dir_state(&d).unwrap(), DirState::Empty);
        std::fs::create_dir(d.join("parquet")).unwrap();
        assert_eq!(dir_state(&d).unwrap(), DirState::PartialOlap);
        std::fs::write(d.join("notes.txt"), "mine").unwrap();
        assert!(matches!(dir_state(&d).unwrap(), DirState::Foreign(_)));
    }

    #[test]
    fn exchange_swaps_directories() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "a").unwrap();
        exchange(&a, &b).unwrap();
        assert!(b.join("x").exists() && !a.join("x").exists());
    }
}

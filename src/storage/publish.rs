//! Putting a finished run in place without ever exposing half a data set.
//!
//! A whole run holds the writer lock (see [`super::lock`]) from start to
//! commit, writes into a hidden sibling `.<name>.olap-tmp-<run id>`, fsyncs
//! every file and directory, and once its manifest is written swaps it with
//! the output directory in one atomic exchange (`renameat2(RENAME_EXCHANGE)`
//! on Linux; elsewhere, or where the filesystem lacks it, two renames through
//! `.<name>.olap-old-<run id>`) while holding the intent lock exclusively, so
//! no reader is halfway through opening it. Readers that opened the old one
//! keep reading it (`storage::dataset`): it is deleted when none is left,
//! else kept aside until the last one closes (`storage::recover::retire`).
//! The parent is fsynced before the old data set is deleted. A part of a sharded run (`--parts N --part K`) moves its files,
//! which carry its part number, into the shared directory, writes
//! `manifest.part-K-of-N.json`, and the part that completes the set merges
//! the part manifests into `manifest.json`.
//!
//! Leftovers of runs that died (SIGKILL, power loss) are recognised by their
//! run lock being free and removed by the next run into the same place;
//! a complete old data set whose output is missing (a crash between the two
//! fallback renames) is put back instead, as SQLite rolls back a hot journal.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::Slice;
use super::layout::MANIFEST;
use super::lock::{self, Held, parent_of};
use super::manifest::{Manifest, part_manifest_name, part_manifests};
use crate::bail_user;
use crate::error::UserError;
use crate::fault;

use super::recover::{OLD_MARK, TMP_MARK, recover, retire, sync_dir, version_of};

/// Staging directories (and their run lock files) to remove if the
/// process is interrupted.
static LIVE_STAGING: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// Removes live staging directories; called from the Ctrl-C handler while
/// writer threads may still be running (they stop creating files first).
pub fn remove_live_staging() {
    super::write::stop();
    if let Ok(list) = LIVE_STAGING.lock() {
        for (dir, run_lock) in list.iter() {
            for _ in 0..20 {
                let _ = std::fs::remove_dir_all(dir);
                if !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = std::fs::remove_file(run_lock);
        }
    }
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
            "queries.log.jsonl"
            | "olap.duckdb"
            | "olap.duckdb.wal"
            | ".olap-verified.json"
            | lock::READERS => ours = true,
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
    id: String,
    force: bool,
    /// fsync files and directories before publishing.
    durable: bool,
    done: bool,
    _writer: Held,
    _run: Held,
}

/// `.<name><mark><id>` next to `output`.
fn sibling(output: &Path, mark: &str, id: &str) -> Result<PathBuf> {
    let name = output
        .file_name()
        .context("output directory needs a name")?
        .to_string_lossy()
        .to_string();
    Ok(parent_of(output).join(format!(".{name}{mark}{id}")))
}

/// fsyncs `dir` and every directory below it.
fn sync_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                sync_tree(&e.path());
            }
        }
    }
    sync_dir(dir);
}

/// Checks `state` of the output against what this run may replace.
fn check_target(output: &Path, state: &DirState, slice: Slice, force: bool) -> Result<()> {
    match (state, slice.is_whole()) {
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
        _ => Ok(()),
    }
}

/// How a run may use its output directory.
#[derive(Debug, Clone, Copy)]
pub struct PublishOptions {
    pub force: bool,
    /// Queue behind another writer instead of failing.
    pub wait: bool,
    /// fsync files and directories (off only for throwaway data).
    pub durable: bool,
}

impl Staging {
    /// Takes the writer lock, repairs what dead runs left, checks that
    /// `output` may receive this run and creates the staging dir.
    pub fn prepare(output: &Path, slice: Slice, opts: PublishOptions) -> Result<Staging> {
        let parent = parent_of(output);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))
            .map_err(|e| UserError::new(format!("{e:#}")))?;
        // Refuse a foreign target before taking any lock next to it.
        let state = dir_state(output)?;
        if let DirState::Foreign(_) = state {
            check_target(output, &state, slice, opts.force)?;
        }
        let writer =
            lock::writer(output, slice.is_whole(), opts.wait).map_err(|e| -> anyhow::Error {
                match e.downcast::<UserError>() {
                    Ok(u) => u.into(),
                    Err(e) => {
                        UserError::new(format!("cannot write in {}: {e:#}", parent.display()))
                            .into()
                    }
                }
            })?;
        let id = lock::run_id();
        let run = lock::run(output, &id)?;
        let rec = recover(output, true);
        if let Some(p) = &rec.restored {
            eprintln!(
                "olap: put back the data set an interrupted run had moved to {}",
                p.display()
            );
        }
        for p in rec.removed {
            eprintln!("olap: removed {} left by an interrupted run", p.display());
        }
        // Under the lock: what no other olap writer can change until we commit.
        check_target(output, &dir_state(output)?, slice, opts.force)?;
        if !slice.is_whole() {
            check_part(output, slice, opts.force)?;
        }
        let path = sibling(output, TMP_MARK, &id)?;
        std::fs::create_dir(&path)
            .map_err(|e| UserError::new(format!("cannot write in {}: {e}", parent.display())))?;
        LIVE_STAGING
            .lock()
            .expect("lock")
            .push((path.clone(), run.path.clone()));
        Ok(Staging {
            path,
            output: output.to_owned(),
            id,
            force: opts.force,
            durable: opts.durable,
            done: false,
            _writer: writer,
            _run: run,
        })
    }

    /// Makes everything written so far durable (files are fsynced as they
    /// close; this does the directories).
    pub fn sync(&self) {
        if self.durable {
            sync_tree(&self.path);
        }
    }

    /// Publishes a whole run whose manifest is already in the staging dir.
    pub fn commit_whole(mut self) -> Result<()> {
        self.sync();
        let out = self.output.clone();
        let _commit = lock::commit(&out)?;
        // Re-checked under the lock: someone may have put files there since.
        let state = dir_state(&out)?;
        check_target(&out, &state, Slice::WHOLE, self.force)?;
        match state {
            DirState::Missing | DirState::Empty => {
                if out.exists() {
                    std::fs::remove_dir(&out)
                        .with_context(|| format!("replacing empty {}", out.display()))?;
                }
                std::fs::rename(&self.path, &out)
                    .with_context(|| format!("moving data set into {}", out.display()))?;
                sync_dir(parent_of(&out));
                self.done = true;
                fault::point("after-swap");
            }
            _ => {
                if exchange(&self.path, &out).is_ok() {
                    // self.path now holds the old data set: deleted, or kept
                    // for the handles still reading it (see storage::dataset).
                    sync_dir(parent_of(&out));
                    self.done = true;
                    fault::point("after-swap");
                    retire(&out, &self.path)?;
                } else {
                    let old = sibling(&out, OLD_MARK, &self.id)?;
                    std::fs::rename(&out, &old)
                        .with_context(|| format!("moving {} aside", out.display()))?;
                    fault::point("between-renames");
                    std::fs::rename(&self.path, &out)
                        .with_context(|| format!("moving data set into {}", out.display()))?;
                    sync_dir(parent_of(&out));
                    self.done = true;
                    fault::point("after-swap");
                    let _ = retire(&out, &old);
                }
            }
        }
        Ok(())
    }

    /// Publishes one part into the shared directory; returns the merged
    /// manifest when this part completed the set.
    pub fn commit_part(mut self, manifest: &Manifest) -> Result<Option<Manifest>> {
        self.sync();
        let out = self.output.clone();
        let _commit = lock::commit(&out)?;
        // A part changes the directory in place: not under a handle that
        // reads the complete set it replaces.
        let _unread = match version_of(&out) {
            Some(_) => Some(lock::version_writer(&out)?),
            None => None,
        };
        check_part(&out, manifest.slice, self.force)?;
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        // A regenerated part replaces its own files only.
        let _ = std::fs::remove_file(out.join(part_manifest_name(manifest.slice)));
        let _ = std::fs::remove_file(out.join(MANIFEST));
        let mut dirs = std::collections::BTreeSet::new();
        for t in &manifest.tables {
            for f in &t.files {
                let (from, to) = (self.path.join(&f.path), out.join(&f.path));
                if let Some(d) = to.parent() {
                    std::fs::create_dir_all(d)
                        .with_context(|| format!("creating {}", d.display()))?;
                    dirs.insert(d.to_owned());
                }
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} into place", f.path))?;
            }
        }
        if self.durable {
            for d in &dirs {
                sync_dir(d);
            }
            sync_tree(&out);
        }
        fault::point("after-part-files");
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

/// Refuses a part that is already there (unless forced) or a part of a run
/// with another part count.
fn check_part(output: &Path, slice: Slice, force: bool) -> Result<()> {
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
    Ok(())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
        if let Ok(mut list) = LIVE_STAGING.lock() {
            list.retain(|(p, _)| p != &self.path);
        }
        lock::remove_run_lock(&self.output, &self.id);
    }
}

/// Atomically swaps two paths (Linux `renameat2` with `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    if fault::no_exchange() {
        return Err(std::io::Error::from_raw_os_error(22));
    }
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// No atomic exchange here: the caller falls back to two renames.
#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
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

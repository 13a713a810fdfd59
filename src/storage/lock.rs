//! Advisory locks that keep writers apart and give readers a snapshot.
//!
//! Three lock files live next to a data directory `D` (never inside it, so
//! they survive the directory being swapped):
//!
//! - `.D.olap-write.lock`: held by a writer from start to commit, exclusive
//!   for a whole run, shared by the parts of a sharded run. A second whole
//!   run is refused (or waits with `--wait`).
//! - `.D.olap-intent.lock`: held exclusive by a writer only while it swaps a
//!   new data set in (milliseconds), and shared by a reader only while it
//!   opens one (`storage::dataset::DataSet::open`): an open never sees half
//!   a swap, and a writer never waits for readers that are reading.
//! - `D/.olap-readers.lock`, inside the data set: held shared by every open
//!   handle of that version for as long as it is open; it moves with the
//!   directory when a writer swaps a new version in. A replaced version's
//!   files are deleted only by whoever can take it exclusively (no reader
//!   left): the writer right after the swap, the last reader as it closes,
//!   or the next open or run (see `storage::recover`).
//!
//! Each run also holds `.D.olap-run-<id>.lock` for as long as it lives:
//! leftovers whose run lock can be taken belong to a dead run, on this host or
//! another one sharing the directory (liveness comes from the lock, not from a
//! process id, which two containers or two hosts may share).
//!
//! The locks are `flock`-style (`std::fs::File::lock`), released by the
//! kernel when a process dies, however it dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bail_user;

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Held {
    _file: File,
    pub path: PathBuf,
}

/// `<parent>/.<name>.olap-<kind>.lock` for data directory `dir`.
pub fn lock_path(dir: &Path, kind: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .context("a data directory needs a name")?
        .to_string_lossy()
        .to_string();
    Ok(parent_of(dir).join(format!(".{name}.olap-{kind}.lock")))
}

/// The directory holding `dir` ("." for a bare name).
pub fn parent_of(dir: &Path) -> &Path {
    dir.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Opens a lock file for writing, or read-only when it exists on a mount
/// we cannot write (a lock works through either); `None` when neither works.
fn open_any(path: &Path) -> Option<File> {
    open_rw(path).or_else(|_| File::open(path)).ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

fn try_take(file: &File, mode: Mode) -> std::io::Result<bool> {
    let r = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match r {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn take(file: &File, mode: Mode) -> std::io::Result<()> {
    match mode {
        Mode::Shared => file.lock_shared(),
        Mode::Exclusive => file.lock(),
    }
}

/// Takes a lock without waiting, or waits after printing `waiting` once.
fn acquire(path: &Path, mode: Mode, waiting: Option<&str>) -> Result<Option<Held>> {
    let file = open_rw(path).with_context(|| format!("creating lock file {}", path.display()))?;
    if try_take(&file, mode).with_context(|| format!("locking {}", path.display()))? {
        return Ok(Some(Held {
            _file: file,
            path: path.to_owned(),
        }));
    }
    let Some(msg) = waiting else {
        return Ok(None);
    };
    eprintln!("olap: {msg}");
    take(&file, mode).with_context(|| format!("locking {}", path.display()))?;
    Ok(Some(Held {
        _file: file,
        path: path.to_owned(),
    }))
}

/// The writer lock of `dir`: exclusive for a whole run, shared for a part.
/// Without `wait`, a data set another run is writing is a one-line error.
pub fn writer(dir: &Path, whole: bool, wait: bool) -> Result<Held> {
    let path = lock_path(dir, "write")?;
    let mode = if whole { Mode::Exclusive } else { Mode::Shared };
    let waiting = format!(
        "waiting for another olap generate writing {} to finish",
        dir.display()
    );
    match acquire(&path, mode, wait.then_some(waiting.as_str()))? {
        Some(h) => Ok(h),
        None => bail_user!(
            "another olap generate is writing {} (it holds {}): wait for it, or pass --wait to queue behind it",
            dir.display(),
            path.display()
        ),
    }
}

/// A reader's passage through the intent lock of `dir` while it opens a
/// data set (a writer's swap is never half seen); `None` when there are no
/// lock files (no data set there, or a read-only mount no writer used).
pub fn opening(dir: &Path) -> Result<Option<Held>> {
    let Ok(intent_path) = lock_path(dir, "intent") else {
        return Ok(None);
    };
    // No data set here (yet): take the lock if a writer made it (it may be
    // between its two fallback renames), but leave no lock file behind for
    // a mistyped --data-dir.
    let intent = if dir.exists() {
        open_any(&intent_path)
    } else {
        File::open(&intent_path).ok()
    };
    let Some(intent) = intent else {
        tracing::debug!(
            "no lock files next to {} (no data set there, or a read-only mount no writer used): reading without a lock",
            dir.display()
        );
        return Ok(None);
    };
    if !try_take(&intent, Mode::Shared)? {
        eprintln!(
            "olap: waiting while a new data set is put in place at {}",
            dir.display()
        );
        take(&intent, Mode::Shared)?;
    }
    Ok(Some(Held {
        _file: intent,
        path: intent_path,
    }))
}

/// The lock inside a version's directory that its readers hold shared:
/// it moves with the directory when a writer swaps a new version in, and
/// goes with it when it is deleted.
pub const READERS: &str = ".olap-readers.lock";

/// A reader's hold on the version whose directory is `root` (shared, until
/// dropped): its files stay. `None` when the lock file cannot be made (a
/// read-only mount: nobody could delete the files there either).
pub fn version_reader(root: &Path) -> Result<Option<Held>> {
    let path = root.join(READERS);
    let Some(file) = open_any(&path) else {
        return Ok(None);
    };
    take(&file, Mode::Shared).with_context(|| format!("locking {}", path.display()))?;
    tracing::debug!("reader lock {}", path.display());
    Ok(Some(Held { _file: file, path }))
}

/// Proof that no reader holds the version in `dir` (an exclusive hold on
/// its lock, or no lock file: nobody ever read it); `None` while one does.
pub struct Unread(#[allow(dead_code)] Option<Held>);

/// Whether the version in `dir` has no reader left (see [`Unread`]).
pub fn version_unread(dir: &Path) -> Option<Unread> {
    let path = dir.join(READERS);
    if !path.exists() {
        return Some(Unread(None));
    }
    let file = open_any(&path)?;
    try_take(&file, Mode::Exclusive)
        .ok()?
        .then(|| Unread(Some(Held { _file: file, path })))
}

/// A writer's exclusive hold on the version in `dir`, waiting (with a
/// message) for its readers to close: for changes made in place.
pub fn version_writer(dir: &Path) -> Result<Held> {
    acquire(
        &dir.join(READERS),
        Mode::Exclusive,
        Some(&format!(
            "waiting for readers of {} to close it before changing it in place",
            dir.display()
        )),
    )?
    .context("version lock")
}

/// What a writer holds while it swaps a data set in: no open is halfway.
pub struct Commit {
    _intent: Held,
}

/// Takes the commit lock of `dir`: waits only for another writer's swap or
/// a reader's open, never for readers reading.
pub fn commit(dir: &Path) -> Result<Commit> {
    let intent = acquire(
        &lock_path(dir, "intent")?,
        Mode::Exclusive,
        Some("waiting for another writer to publish"),
    )?
    .context("intent lock")?;
    Ok(Commit { _intent: intent })
}

/// The lock a live run holds for its whole life; `id` names its temporary
/// directories.
pub fn run(dir: &Path, id: &str) -> Result<Held> {
    let path = lock_path(dir, &format!("run-{id}"))?;
    acquire(&path, Mode::Exclusive, None)?
        .with_context(|| format!("run lock {} is taken", path.display()))
}

/// Whether the run `id` that wrote next to `dir` is dead: its run lock can
/// be taken (or was never made). Takes and drops the lock.
pub fn run_is_dead(dir: &Path, id: &str) -> bool {
    let Ok(path) = lock_path(dir, &format!("run-{id}")) else {
        return false;
    };
    if !path.exists() {
        return true;
    }
    match open_any(&path) {
        Some(f) => try_take(&f, Mode::Exclusive).unwrap_or(false),
        None => false,
    }
}

/// Removes the run lock file of a dead run.
pub fn remove_run_lock(dir: &Path, id: &str) {
    if let Ok(p) = lock_path(dir, &format!("run-{id}")) {
        let _ = std::fs::remove_file(p);
    }
}

/// A name for this run's temporary directories, unique across hosts,
/// containers (where every olap may be PID 1) and restarts.
pub fn run_id() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(32)
        .collect::<String>();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let stack = &now as *const u64 as u64;
    let nonce = crate::util::mix64(now ^ stack.rotate_left(32) ^ std::process::id() as u64);
    format!("{host}-{}-{:08x}", std::process::id(), nonce as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_whole_writer_is_refused_and_parts_share() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        let first = writer(&d, true, false).unwrap();
        let err = writer(&d, true, false).unwrap_err();
        assert!(
            format!("{err:#}").contains("another olap generate"),
            "{err:#}"
        );
        assert!(writer(&d, false, false).is_err());
        drop(first);
        let a = writer(&d, false, false).unwrap();
        let b = writer(&d, false, false).unwrap();
        assert!(writer(&d, true, false).is_err());
        drop((a, b));
        assert!(writer(&d, true, false).is_ok());
    }

    #[test]
    fn a_version_is_unread_only_when_no_reader_holds_it_and_runs_are_alive_while_locked() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        // A mistyped --data-dir leaves no lock files behind.
        assert!(opening(&d).unwrap().is_none());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
        std::fs::create_dir(&d).unwrap();
        let passage = opening(&d).unwrap();
        assert!(passage.is_some());
        // A writer's swap waits for an open in progress, not for readers.
        let intent = File::open(lock_path(&d, "intent").unwrap()).unwrap();
        assert!(!try_take(&intent, Mode::Exclusive).unwrap());
        let a = version_reader(&d).unwrap();
        drop(passage);
        assert!(try_take(&intent, Mode::Exclusive).unwrap());
        drop(intent);
        let b = version_reader(&d).unwrap();
        assert!(version_unread(&d).is_none());
        drop(a);
        assert!(version_unread(&d).is_none(), "b still reads it");
        drop(b);
        assert!(version_unread(&d).is_some());
        let other = t.path().join("never-read");
        std::fs::create_dir(&other).unwrap();
        assert!(
            version_unread(&other).is_some(),
            "no lock file: nobody read it"
        );
        let id = run_id();
        let held = run(&d, &id).unwrap();
        assert!(!run_is_dead(&d, &id));
        drop(held);
        assert!(run_is_dead(&d, &id));
        assert!(run_is_dead(&d, "never-made"));
    }
}

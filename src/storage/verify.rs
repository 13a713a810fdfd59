//! Cheap, always-on integrity checks of a data set's files before they are
//! queried, so a damaged file is an error rather than wrong numbers.
//!
//! Every file's size is compared with the manifest. Content is compared by
//! xxh3 against the manifest too, but only for files whose size or mtime
//! differs from the verification stamp (`.olap-verified.json`): `generate`
//! writes the stamp, so a fresh data set costs one `stat` per file; a file
//! that was modified, replaced or copied is rehashed once, and a corrupt one
//! is refused. (Bit rot that keeps size and mtime is `olap validate`'s job:
//! it rehashes and decodes everything.)

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::FileFormat;
use super::manifest::{FileEntry, Manifest, write_atomic};
use super::read::file_hash;
use crate::bail_user;
use crate::util::cache_file;

pub const STAMP: &str = ".olap-verified.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stamp {
    /// path -> (size, mtime in ns) when last verified.
    files: BTreeMap<String, (u64, i128)>,
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The stamp inside the data set (read at `root`), else (read-only data
/// sets) in the cache, keyed by the data set's own path `dir`.
fn load(root: &Path, dir: &Path) -> Stamp {
    [Some(root.join(STAMP)), cache_file("stamps", dir, "json")]
        .into_iter()
        .flatten()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Records every listed file as verified (called right after writing them).
pub fn stamp_all(dir: &Path, manifest: &Manifest) -> Result<()> {
    let mut s = Stamp::default();
    for f in manifest.tables.iter().flat_map(|t| &t.files) {
        let m = std::fs::metadata(dir.join(&f.path))?;
        s.files.insert(f.path.clone(), (m.len(), mtime_ns(&m)));
    }
    write_atomic(&dir.join(STAMP), serde_json::to_string(&s)?.as_bytes())
}

fn check(
    root: &Path,
    dir: &Path,
    f: &FileEntry,
    stamp: &mut Stamp,
    changed: &mut bool,
) -> Result<()> {
    let path = root.join(&f.path);
    // Messages name the file where the user knows the data set.
    let shown = dir.join(&f.path);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(_) => bail_user!(
            "{} is listed in the manifest but missing: the data set is damaged (run `olap validate`)",
            shown.display()
        ),
    };
    if meta.len() != f.bytes {
        bail_user!(
            "{} has {} bytes but the manifest says {}: the file was truncated or changed (run `olap validate`)",
            shown.display(),
            meta.len(),
            f.bytes
        );
    }
    let now = (meta.len(), mtime_ns(&meta));
    if stamp.files.get(&f.path) == Some(&now) {
        return Ok(());
    }
    let (_, hash) = file_hash(&path)?;
    if format!("{hash:016x}") != f.xxh3 {
        bail_user!(
            "{} does not match the manifest's checksum: the file is corrupt (run `olap validate`)",
            shown.display()
        );
    }
    stamp.files.insert(f.path.clone(), now);
    *changed = true;
    Ok(())
}

/// Verifies the files of `format` before querying them: read at `root`
/// (an opened data set's files, see `storage::dataset`), the data set
/// being the one at `dir`.
pub fn verify(root: &Path, dir: &Path, manifest: &Manifest, format: FileFormat) -> Result<()> {
    let mut stamp = load(root, dir);
    let mut changed = false;
    for f in manifest.tables.iter().flat_map(|t| t.files_of(format)) {
        check(root, dir, f, &mut stamp, &mut changed)?;
    }
    if changed {
        // A read-only data set keeps its stamp in the cache; failing that, it
        // is still usable, just rehashed next time.
        let text = serde_json::to_string(&stamp)?;
        if write_atomic(&root.join(STAMP), text.as_bytes()).is_err()
            && let Some(p) = cache_file("stamps", dir, "json")
        {
            let _ = p.parent().map(std::fs::create_dir_all);
            let _ = write_atomic(&p, text.as_bytes());
        }
    }
    Ok(())
}

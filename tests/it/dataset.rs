//! One opened data set (`storage::dataset::DataSet`): every command reads
//! through one handle, so a whole `olap demo` opens each data set once,
//! reads each manifest once and takes one reader lock per data set.

use std::collections::BTreeMap;

use olap::query::engine::{Engine, EngineConfig};
use olap::storage::FileFormat;
use olap::storage::dataset::DataSet;
use olap::storage::manifest::Manifest;
use std::sync::Arc;

use crate::common::*;

/// Counts `-v` lines starting with `prefix`, by the path that follows.
fn count_by_path(log: &str, prefix: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in log.lines() {
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            let path = rest.split(" (").next().unwrap_or(rest).trim().to_string();
            *counts.entry(path).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn a_demo_opens_each_data_set_once_and_reads_each_manifest_once() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    generate(&data, 40_000, &["--format", "both"]);
    let o = olap()
        .current_dir(t.path())
        .args(["-v", "demo", "--rows", "40K", "--data-dir"])
        .arg(&data)
        .arg("--report-dir")
        .arg(t.path().join("report"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    let opened = count_by_path(&log, "opened data set ");
    let read = count_by_path(&log, "read manifest ");
    // The demo's data set and the scaling study's (three sizes and the
    // doubled span).
    assert!(opened.len() >= 4, "{opened:?}");
    assert!(
        opened.keys().any(|p| p == &data.display().to_string()),
        "{opened:?}"
    );
    for (path, n) in &opened {
        assert_eq!(*n, 1, "{path} opened {n} times: {opened:?}");
    }
    assert_eq!(read.len(), opened.len(), "{read:?} vs {opened:?}");
    let locks = count_by_path(&log, "reader lock ");
    assert_eq!(locks.len(), opened.len(), "{locks:?} vs {opened:?}");
    for (path, n) in &locks {
        assert_eq!(*n, 1, "{path} locked {n} times: {locks:?}");
    }
    for (path, n) in &read {
        assert_eq!(*n, 1, "{path} read {n} times: {read:?}");
    }
}

/// (rows, revenue) of the fact table through an engine over `ds`.
fn totals(engine: &Engine) -> (i64, String) {
    use arrow::array::AsArray;
    let b = engine
        .query("SELECT count(*)::BIGINT, sum(revenue)::VARCHAR FROM sales_fact")
        .unwrap();
    let n = b[0]
        .column(0)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0);
    let s = b[0].column(1).as_string::<i32>().value(0).to_string();
    (n, s)
}

/// Entries beside `dir` that hold a replaced version for its readers.
fn held(dir: &std::path::Path) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!(".{name}.olap-held-")))
        .collect()
}

/// `olap generate --force` over `dir` with `seed`, bounded in time: the
/// writer must not wait for the handles reading the old version.
fn replace(dir: &std::path::Path, seed: u64, failpoint: Option<&str>) -> std::process::Output {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("olap"));
    c.args(["generate", "--rows", "20000", "--force", "-q", "--seed"])
        .arg(seed.to_string())
        .arg("--output-dir")
        .arg(dir)
        .args(SMALL);
    if let Some(p) = failpoint {
        c.env("OLAP_FAILPOINT", p);
    }
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the writer waited for the readers of the old version");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A data set of seed 1 in a temporary directory, opened, with an engine
/// over the handle: (the directory's owner, the data set's path, the
/// handle, the engine).
fn held_data_set() -> (tempfile::TempDir, std::path::PathBuf, Arc<DataSet>, Engine) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 20_000, &["--seed", "1"]);
    let old = Arc::new(DataSet::open(&dir).unwrap());
    let engine = Engine::open(&old, EngineConfig::new(FileFormat::Parquet, 2)).unwrap();
    (t, dir, old, engine)
}

#[test]
fn a_held_handle_keeps_its_version_while_a_writer_replaces_the_data_set() {
    let (_t, dir, old, engine) = held_data_set();
    let before = totals(&engine);
    assert!(old.is_current());

    let o = replace(&dir, 2, None);
    assert!(o.status.success(), "{}", stderr(&o));
    // The old handle answers from the old version, and knows it is old.
    assert_eq!(totals(&engine), before);
    assert!(!old.is_current());
    assert_eq!(
        held(&dir).len(),
        1,
        "the old version is kept for its reader"
    );
    // A new handle sees the new version.
    let new = Arc::new(DataSet::open(&dir).unwrap());
    assert!(new.is_current());
    assert_ne!(new.version(), old.version());
    let now = totals(&Engine::open(&new, EngineConfig::new(FileFormat::Parquet, 2)).unwrap());
    assert_ne!(now, before, "seed 2 is another data set");
    // The last reader of the old version removes it as it closes.
    drop(engine);
    drop(old);
    assert!(held(&dir).is_empty(), "{:?}", held(&dir));
    drop(new);
    // The new version validates as a whole data set.
    olap()
        .args(["validate", "--data-dir"])
        .arg(&dir)
        .assert()
        .success();
}

#[test]
fn a_crash_after_the_swap_keeps_the_old_version_for_its_reader_until_it_closes() {
    let (_t, dir, old, engine) = held_data_set();
    let before = totals(&engine);
    // The writer dies right after swapping the new version in: the old one
    // sits in its staging directory, still read through this handle.
    let o = replace(&dir, 2, Some("after-swap"));
    assert!(!o.status.success());
    assert_eq!(totals(&engine), before);
    // The next run cleans up what the dead one left, but not under a reader.
    let o = replace(&dir, 3, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(totals(&engine), before);
    assert!(!held(&dir).is_empty());
    drop(engine);
    drop(old);
    assert!(held(&dir).is_empty(), "{:?}", held(&dir));
    assert_eq!(
        Manifest::load(&dir).unwrap().spec.seed,
        3,
        "one whole version: the last run's"
    );
}

/// A data set in object storage is not opened as a `DataSet` (docs/
/// architecture.md, "Beyond one machine", says why): the reader says so in
/// one line and points to what reads it.
#[test]
fn a_reader_of_a_bucket_is_told_what_reads_it() {
    let o = olap()
        .args(["analyze", "--data-dir", "s3://bucket/retail", "--execute"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("is in object storage")
            && err.contains("olap validate --data-dir s3://bucket/retail"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

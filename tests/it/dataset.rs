//! One opened data set (`storage::dataset::DataSet`): every command reads
//! through one handle, so a whole `olap demo` opens each data set once,
//! reads each manifest once and takes one reader lock per data set.

use std::collections::BTreeMap;

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

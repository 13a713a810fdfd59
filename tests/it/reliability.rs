//! Damaged data sets are reported, never silently queried; bad input across
//! every subcommand gets one line and the right exit code.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::*;

/// A pristine small data set to copy and damage.
fn pristine() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make_fixture("reliability-fixture", 20_000))
}

fn copy(to: &Path) -> PathBuf {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(pristine())
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
    to.to_path_buf()
}

fn validate(dir: &Path) -> std::process::Output {
    olap()
        .arg("validate")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn analyze(dir: &Path, storage: &str) -> std::process::Output {
    olap()
        .args([
            "analyze",
            "revenue_by_region_year",
            "--execute",
            "--storage",
            storage,
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .unwrap()
}

const FACT: &str = "parquet/sales_fact/year=2022/quarter=3/part-00000.parquet";

#[test]
fn a_pristine_data_set_validates() {
    let o = validate(pristine());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("every check passed"), "{out}");
    assert!(
        out.contains("invariant: SCD2: sale uses the version valid on its date"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_slice(
        &olap()
            .args(["validate", "--format", "json", "--data-dir"])
            .arg(pristine())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["violations"], 0);
    assert!(v["checks"].as_array().unwrap().len() >= 25);
}

#[test]
fn truncated_file_is_reported_by_validate_and_refused_by_analyze() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    let f = d.join(FACT);
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let o = validate(&d);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("{FACT}: {} bytes, manifest says {len}", len / 2)),
        "{}",
        stdout(&o)
    );
    let o = analyze(&d, "parquet");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("truncated or changed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn flipped_bytes_are_caught_before_any_number_is_returned() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    let f = d.join(FACT);
    let mut bytes = std::fs::read(&f).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&f, &bytes).unwrap();
    let o = validate(&d);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("content differs from the manifest"),
        "{}",
        stdout(&o)
    );
    let o = analyze(&d, "parquet");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("corrupt"), "{}", stderr(&o));
    // The same for a CSV file.
    let d2 = copy(&t.path().join("d2"));
    let c = d2.join("csv/sales_fact/year=2021/quarter=2/part-00000.csv");
    let text = std::fs::read_to_string(&c)
        .unwrap()
        .replacen(",1,", ",7,", 1);
    std::fs::write(&c, text).unwrap();
    assert_eq!(validate(&d2).status.code(), Some(1));
    let o = analyze(&d2, "csv");
    assert!(stderr(&o).contains("corrupt"), "{}", stderr(&o));
}

#[test]
fn deleted_partition_and_stray_files_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    std::fs::remove_dir_all(d.join("parquet/sales_fact/year=2021/quarter=1")).unwrap();
    let o = validate(&d);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("missing parquet/sales_fact/year=2021/quarter=1/part-00000.parquet"),
        "{}",
        stdout(&o)
    );
    let o = analyze(&d, "parquet");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));

    let d2 = copy(&t.path().join("d2"));
    let stray = d2.join("parquet/sales_fact/year=2099/quarter=1");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::copy(d2.join(FACT), stray.join("part-00000.parquet")).unwrap();
    let o = validate(&d2);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("stray file parquet/sales_fact/year=2099/quarter=1/part-00000.parquet"),
        "{}",
        stdout(&o)
    );
    // analyze reads only the manifest's files: the stray one cannot change its numbers.
    let json = |dir: &Path| {
        let o = olap()
            .args([
                "analyze",
                "column_io",
                "--execute",
                "--format",
                "json",
                "--data-dir",
            ])
            .arg(dir)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["queries"][0]["runs"][0]["rows"].clone()
    };
    assert_eq!(json(&d2), json(pristine()));
}

#[test]
fn broken_or_missing_manifests_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    std::fs::write(d.join("manifest.json"), "{ not json").unwrap();
    for cmd in ["validate", "analyze", "benchmark"] {
        let o = olap().arg(cmd).arg("--data-dir").arg(&d).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(
            stderr(&o).contains("is not an olap manifest"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
    std::fs::remove_file(d.join("manifest.json")).unwrap();
    let o = validate(&d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a complete olap data set"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn files_that_are_not_ours_are_refused_by_the_reader() {
    let t = tempfile::tempdir().unwrap();
    let foreign = t.path().join("foreign.parquet");
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "COPY (SELECT 1 AS a, 'x' AS b) TO '{}' (FORMAT parquet)",
        foreign.display()
    ))
    .unwrap();
    let refused = |path: &Path, format, table, msg: &str| {
        let e = olap::storage::read::file_checksum(path, format, table).unwrap_err();
        assert!(format!("{e:#}").contains(msg), "{e:#}");
    };
    use olap::model::Table::{DimPayment, SalesFact};
    use olap::storage::FileFormat::{Csv, Parquet};
    refused(
        &foreign,
        Parquet,
        SalesFact,
        "does not have the expected schema",
    );
    let csv = t.path().join("foreign.csv");
    std::fs::write(&csv, "name,age\nann,3\n").unwrap();
    refused(&csv, Csv, DimPayment, "is not an olap dim_payment CSV file");
    let junk = t.path().join("junk.parquet");
    std::fs::write(&junk, "not parquet at all").unwrap();
    refused(&junk, Parquet, SalesFact, "is not a readable Parquet file");
}

#[test]
fn every_subcommand_refuses_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let foreign = t.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let p = pristine().to_str().unwrap().to_string();
    let f = file.to_str().unwrap().to_string();
    let fo = foreign.to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec![], 2, "see --help"),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
        (
            vec!["validate", "--data-dir", "/nonexistent/x"],
            2,
            "no data set",
        ),
        (
            vec!["validate", "--data-dir", &f],
            2,
            "not a complete olap data set",
        ),
        (
            vec!["validate", "--data-dir", &fo],
            2,
            "not a complete olap data set",
        ),
        (
            vec!["validate", "--threads", "0", "--data-dir", &p],
            2,
            "between 1 and 1024",
        ),
        (
            vec!["validate", "--format", "yaml", "--data-dir", &p],
            2,
            "invalid value",
        ),
        (
            vec!["demo", "--rows", "10", "--data-dir", &p],
            2,
            "40K to 200M",
        ),
        (
            vec!["demo", "--rows", "-1", "--data-dir", &p],
            2,
            "unexpected argument",
        ),
        (
            vec!["demo", "--data-dir", &fo],
            2,
            "not a complete olap data set",
        ),
        (
            vec!["analyze", "--format", "xml", "--data-dir", &p],
            2,
            "invalid value",
        ),
        (
            vec!["analyze", "--storage", "orc", "--data-dir", &p],
            2,
            "invalid value",
        ),
        (
            vec!["analyze", "a", "--sql", "SELECT 1", "--data-dir", &p],
            2,
            "cannot be used with",
        ),
        (
            vec!["analyze", "--data-dir", &fo],
            2,
            "not a complete olap data set",
        ),
        (
            vec!["benchmark", "--data-dir", &fo],
            2,
            "not a complete olap data set",
        ),
        (
            vec![
                "benchmark",
                "--scaling",
                "1M,2M",
                "--scaling-dirs",
                "a,b",
                "--data-dir",
                &p,
            ],
            2,
            "cannot be used with",
        ),
        (
            vec!["generate", "--output-dir", &fo, "--rows", "1000", "--force"],
            2,
            "did not write",
        ),
        (
            vec!["generate", "--output-dir", &p, "--rows", "1000"],
            2,
            "--force",
        ),
    ];
    for (args, code, msg) in cases {
        assert_refused(olap().args(&args), &format!("{args:?}"), code, msg);
    }
    // The pristine data set was never touched.
    assert!(validate(pristine()).status.success());
}

#[test]
fn manifests_naming_files_outside_the_data_set_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    let path = d.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    for bad in [
        "../../outside.parquet",
        "/etc/hostname",
        "parquet/x[1].parquet",
    ] {
        let edited = text.replacen(FACT, bad, 1);
        assert_ne!(edited, text);
        std::fs::write(&path, edited).unwrap();
        for cmd in [vec!["analyze", "--execute"], vec!["validate"]] {
            let msg = if bad.contains('[') {
                "glob characters"
            } else {
                "not a file inside the data set"
            };
            assert_refused(
                olap().args(&cmd).arg("--data-dir").arg(&d),
                &format!("{cmd:?} with {bad}"),
                2,
                msg,
            );
        }
    }
}

#[test]
fn data_dirs_with_glob_characters_are_refused_by_name_and_threads_are_capped() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("runs[1]");
    // Refused before writing anything: nothing could query it.
    let err = assert_refused(
        olap()
            .args(["generate", "--rows", "5000", "--output-dir"])
            .arg(&dir),
        "generate into runs[1]",
        2,
        "glob character",
    );
    assert!(err.contains("runs[1]"), "{err}");
    assert!(!dir.exists());
    let plain = t.path().join("runs");
    let o = olap()
        .args([
            "generate",
            "--rows",
            "5000",
            "--threads",
            "1024",
            "--output-dir",
        ])
        .arg(&plain)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--threads 1024"),
        "capped with a message: {}",
        stderr(&o)
    );
    // A data set moved under such a name is refused by the reader, by name.
    std::fs::rename(&plain, &dir).unwrap();
    let err = assert_refused(
        olap()
            .args(["analyze", "--execute", "--data-dir"])
            .arg(&dir),
        "a data dir named runs[1]",
        2,
        "glob character",
    );
    assert!(err.contains("runs[1]"), "{err}");
}

#[test]
fn data_dirs_with_quotes_and_spaces_work_and_non_utf8_ones_are_refused_by_name() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("it's a data set");
    generate(&dir, 5_000, &[]);
    let o = olap()
        .args([
            "analyze",
            "revenue_by_region_year",
            "--execute",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    olap()
        .args(["validate", "--data-dir"])
        .arg(&dir)
        .assert()
        .success();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = t.path().join(std::ffi::OsStr::from_bytes(b"bad\xffname"));
        let err = assert_refused(
            olap()
                .args(["generate", "--rows", "5000", "--output-dir"])
                .arg(&bad),
            "a non-UTF-8 output dir",
            2,
            "not valid UTF-8",
        );
        assert!(err.contains("bad"), "{err}");
        assert!(!bad.exists());
        // A data set moved there is refused by the reader, by name.
        std::fs::rename(&dir, &bad).unwrap();
        assert_refused(
            olap()
                .args(["analyze", "--execute", "--data-dir"])
                .arg(&bad),
            "a non-UTF-8 data dir",
            2,
            "not valid UTF-8",
        );
    }
}

#[test]
fn validate_lists_symbolic_links_without_following_them() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    // A loop: a link inside the data set to its own parent directory.
    std::os::unix::fs::symlink(&d, d.join("parquet/sales_fact/loop")).unwrap();
    let o = validate(&d);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("stray file parquet/sales_fact/loop"),
        "{}",
        stdout(&o)
    );
}

#[test]
#[ignore = "needs root to make a read-only bind mount: `cargo test --release -- --ignored` runs it (.ci/run does)"]
fn a_read_only_data_set_is_queried_and_validated_with_its_log_elsewhere() {
    let t = tempfile::tempdir().unwrap();
    let d = copy(&t.path().join("d"));
    // Without its stamp, the first query must hash every file and keep the
    // result somewhere it can write.
    let _ = std::fs::remove_file(d.join(".olap-verified.json"));
    let ro = t.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    // A read-only bind mount (root can write through permission bits).
    let mounted = std::process::Command::new("mount")
        .args(["--bind"])
        .arg(&d)
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro)
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        let _ = std::process::Command::new("umount").arg(&ro).status();
        panic!("cannot make a read-only bind mount here: this test needs root with mount rights");
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&ro);
    assert!(
        std::fs::write(ro.join("probe"), "x").is_err(),
        "the mount is read-only"
    );
    let cache = t.path().join("cache");
    let run = |args: &[&str]| {
        olap()
            .env("XDG_CACHE_HOME", &cache)
            .args(args)
            .arg("--data-dir")
            .arg(&ro)
            .output()
            .unwrap()
    };
    let o = run(&["analyze", "column_io", "--execute"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not writable; the query log goes to"),
        "{}",
        stderr(&o)
    );
    let logs: Vec<_> = std::fs::read_dir(cache.join("olap/logs"))
        .unwrap()
        .collect();
    assert_eq!(logs.len(), 1, "one log for the data set");
    assert!(
        cache.join("olap/stamps").is_dir(),
        "the verification stamp is kept in the cache"
    );
    let o = run(&[
        "benchmark",
        "column_io",
        "--quick",
        "--store",
        t.path().join("s").to_str().unwrap(),
        "--report",
        t.path().join("r").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(&["validate", "--quick"]).status.success());
}

#[test]
fn the_query_log_survives_a_forced_regeneration() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    generate(&d, 5_000, &[]);
    let o = olap()
        .args([
            "analyze",
            "revenue_by_region_year",
            "--execute",
            "--data-dir",
        ])
        .arg(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read_to_string(d.join("queries.log.jsonl")).unwrap();
    assert_eq!(before.lines().count(), 1);
    generate(&d, 6_000, &["--force"]);
    let after = std::fs::read_to_string(d.join("queries.log.jsonl")).unwrap();
    assert_eq!(after, before, "the log was carried over");
}

#[test]
fn spills_go_to_olaps_own_directory_and_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    generate(&d, 300_000, &[]);
    let cache = t.path().join("cache");
    let sql = "SELECT transaction_id, sum(revenue) AS r FROM sales_fact \
               GROUP BY transaction_id ORDER BY r DESC, transaction_id LIMIT 5";
    let run = |extra: &[&str]| {
        olap()
            .current_dir(t.path())
            .env("XDG_CACHE_HOME", &cache)
            .args([
                "analyze",
                "--sql",
                sql,
                "--execute",
                "--format",
                "json",
                "--data-dir",
            ])
            .arg(&d)
            .args(extra)
            .output()
            .unwrap()
    };
    let free = run(&[]);
    assert!(free.status.success(), "{}", stderr(&free));
    let rows = |o: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["queries"][0]["runs"][0]["rows"].clone()
    };
    // Under a tight limit DuckDB may spill (to olap's directory) or give up;
    // at these limits it does either from run to run, so both are allowed:
    // the same answer, or one clear line and exit 2 (ad-hoc SQL's errors,
    // under the user's own --memory-limit, are the user's to fix).
    for limit in ["8MB", "30MB"] {
        let o = run(&["--memory-limit", limit, "--threads", "2"]);
        if o.status.success() {
            assert_eq!(rows(&o), rows(&free), "{limit}");
        } else {
            assert_eq!(o.status.code(), Some(2), "{limit}: {}", stderr(&o));
            assert!(stderr(&o).contains("Out of Memory"), "{}", stderr(&o));
            assert_eq!(stderr(&o).trim_end().lines().count(), 1);
        }
    }
    // The spill directories are olap's and are gone; nothing in the cwd.
    let left = std::fs::read_dir(cache.join("olap/spill"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "spill directories removed");
    let cwd = entries_without_locks(t.path());
    assert!(cwd.iter().all(|n| n == "d" || n == "cache"), "{cwd:?}");
    assert!(
        cache.join("olap/spill").is_dir(),
        "DuckDB was pointed at olap's spill directory"
    );
}

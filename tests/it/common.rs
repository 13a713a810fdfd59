use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use olap::storage::manifest::Manifest;

/// The binary under test.
pub fn olap() -> Command {
    let mut c = Command::cargo_bin("olap").expect("olap binary");
    c.env("NO_COLOR", "1");
    // Benchmark runs are saved in a store of the tests' own, not the checkout's.
    c.env(
        "OLAP_BENCH_STORE",
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-store"),
    );
    c
}

/// Small but complete: every city has residents, products have versions.
pub const SMALL: [&str; 6] = [
    "--customers",
    "5000",
    "--products",
    "600",
    "--row-group-size",
    "4096",
];

/// Generates `rows` fact rows into `dir` with the small dimensions plus `extra` flags.
pub fn generate(dir: &Path, rows: u64, extra: &[&str]) -> Manifest {
    let out = olap()
        .args(["generate", "--rows", &rows.to_string(), "--output-dir"])
        .arg(dir)
        .args(SMALL)
        .args(extra)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Manifest::load(dir).expect("manifest")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Table name -> content checksum.
pub fn checksums(m: &Manifest) -> Vec<(String, u64, String)> {
    m.tables
        .iter()
        .map(|t| (t.name.clone(), t.rows, t.content_checksum.clone()))
        .collect()
}

/// Runs `cmd` and checks it was refused with exit `code` and one line on
/// stderr containing `msg`; returns that line.
pub fn assert_refused(cmd: &mut assert_cmd::Command, what: &str, code: i32, msg: &str) -> String {
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(err.contains(msg), "{what}: expected {msg:?} in {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    err
}

/// A shared data set (both formats) under the test target dir, made afresh
/// once per test binary run; callers keep it in a `OnceLock`.
pub fn make_fixture(name: &str, rows: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    generate(&dir, rows, &["--format", "both"]);
    dir
}

/// The rows of one run of an `analyze --format json` report as text:
/// numbers back in their column's notation (a DECIMAL(_, 2) with two
/// decimals), NULL spelled out.
pub fn result_text(run: &serde_json::Value) -> Vec<Vec<String>> {
    let scales: Vec<Option<usize>> = run["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            let t = c["type"].as_str().expect("column type");
            t.strip_prefix("Decimal128(")
                .and_then(|r| r.trim_end_matches(')').split(", ").nth(1))
                .and_then(|s| s.parse().ok())
        })
        .collect();
    run["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .zip(&scales)
                .map(|(v, scale)| match (v, scale) {
                    (serde_json::Value::Null, _) => "NULL".to_string(),
                    (serde_json::Value::String(s), _) => s.clone(),
                    (serde_json::Value::Number(n), Some(s)) => {
                        format!("{:.*}", *s, n.as_f64().expect("a number"))
                    }
                    (other, _) => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// Lock files olap keeps next to a data directory for good (see
/// src/storage/lock.rs); everything else named `.olap-` is a leftover.
pub fn is_permanent_lock(name: &str) -> bool {
    ["write", "read", "intent"]
        .iter()
        .any(|k| name.ends_with(&format!(".olap-{k}.lock")))
}

/// Leftovers of runs next to data directories in `parent`.
pub fn leftovers(parent: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".olap-") && !is_permanent_lock(n))
        .collect()
}

/// Names in `parent`, without olap's lock files.
pub fn entries_without_locks(parent: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !is_permanent_lock(&n.to_string_lossy()))
        .collect();
    v.sort();
    v
}

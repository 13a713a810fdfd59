//! Interruptions and a full disk never cost the previous data set.

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::Duration;

use olap::storage::manifest::Manifest;
use olap::storage::read::file_hash;

use crate::common::*;

/// The data set at `dir` is complete and every file matches its manifest.
fn assert_intact(dir: &Path, expected: &Manifest) {
    let m = Manifest::load(dir).expect("manifest still loads");
    assert_eq!(&m, expected);
    for f in m.tables.iter().flat_map(|t| &t.files) {
        let (bytes, hash) = file_hash(&dir.join(&f.path)).unwrap();
        assert_eq!(
            (bytes, format!("{hash:016x}")),
            (f.bytes, f.xxh3.clone()),
            "{}",
            f.path
        );
    }
}

/// Starts a slow `generate --force` over `dir` and signals it `delay_ms`
/// after its temporary directory has data in it. `None` when the run ended
/// before the signal could be sent.
fn interrupt_after(dir: &Path, signal: i32, delay_ms: u64) -> Option<std::process::ExitStatus> {
    let bin = assert_cmd::cargo::cargo_bin("olap");
    let mut child = StdCommand::new(bin)
        .args([
            "generate",
            "--rows",
            "3000000",
            "--threads",
            "1",
            "--force",
            "--output-dir",
        ])
        .arg(dir)
        .args(SMALL)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let staging = |pid: u32| -> Option<std::path::PathBuf> {
        std::fs::read_dir(dir.parent().unwrap())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().to_string();
                n.contains(".olap-tmp-") && n.contains(&format!("-{pid}-"))
            })
    };
    let mut tmp = std::path::PathBuf::from("/nonexistent");
    for _ in 0..200 {
        if let Some(p) = staging(child.id()) {
            tmp = p;
        }
        if tmp.join("parquet").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    if child.try_wait().unwrap().is_some() {
        return None;
    }
    unsafe { libc::kill(child.id() as i32, signal) };
    Some(child.wait().unwrap())
}

fn interrupt(dir: &Path, signal: i32) -> std::process::ExitStatus {
    interrupt_after(dir, signal, 150).expect("the run finished before it could be interrupted")
}

/// Delays for "random points", seeded from the clock and printed so a
/// failure can be replayed.
fn random_delays(n: usize, max_ms: u64) -> Vec<u64> {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("interrupt delays seeded with {x}");
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % max_ms
        })
        .collect()
}

#[test]
fn sigkill_mid_run_keeps_the_old_data_set_and_the_next_run_cleans_up() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let before = generate(&dir, 4_000, &[]);
    let status = interrupt(&dir, libc::SIGKILL);
    assert!(!status.success());
    assert_intact(&dir, &before);
    let left = leftovers(t.path());
    assert_eq!(
        left.len(),
        2,
        "a killed run leaves its temporary directory and its (now free) run lock: {left:?}"
    );
    assert!(left.iter().any(|n| n.contains(".olap-tmp-")), "{left:?}");
    assert!(left.iter().any(|n| n.contains(".olap-run-")), "{left:?}");
    let o = regenerate_small(&dir);
    assert!(
        stderr(&o).contains("left by an interrupted run"),
        "{}",
        stderr(&o)
    );
    assert!(leftovers(t.path()).is_empty());
}

/// A quick `generate --force` over `dir`, which must succeed.
fn regenerate_small(dir: &Path) -> std::process::Output {
    let o = olap()
        .args(["generate", "--rows", "3000", "--force", "--output-dir"])
        .arg(dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

#[test]
fn sigkill_at_random_points_leaves_the_old_or_the_new_data_set_never_a_mix() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let before = generate(&dir, 4_000, &[]);
    // From the first files to past the end of the run (a 3M-row run on one
    // thread takes about a second here), so some kills may land after the
    // swap: then the new data set must be whole, and it becomes the one the
    // next kills must not damage.
    let mut current = before;
    for delay in random_delays(6, 1_200) {
        let status = interrupt_after(&dir, libc::SIGKILL, delay);
        let now = Manifest::load(&dir).expect("a manifest after the kill");
        if now == current {
            assert_intact(&dir, &current);
            eprintln!("{delay} ms: {status:?}; the previous data set is intact");
        } else {
            assert_eq!(
                now.table(olap::model::Table::SalesFact).unwrap().rows,
                3_000_000
            );
            assert_intact(&dir, &now);
            eprintln!("{delay} ms: {status:?}; the new data set is complete");
            current = now;
        }
    }
    // The next run removes whatever the killed ones left.
    regenerate_small(&dir);
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

#[test]
fn ctrl_c_mid_run_exits_130_and_removes_its_temporary_directory() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let before = generate(&dir, 4_000, &[]);
    let status = interrupt(&dir, libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    assert_intact(&dir, &before);
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

#[test]
#[ignore = "needs root to mount a tmpfs: `cargo test --release -- --ignored` runs it (.ci/run does)"]
fn a_full_disk_fails_cleanly_and_keeps_the_old_data_set() {
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = StdCommand::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "cannot mount a tmpfs here: this test needs root");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = StdCommand::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let dir = mnt.join("data");
    let before = generate(&dir, 20_000, &[]);
    // Refused up front when the estimate cannot fit.
    let o = olap()
        .args(["generate", "--rows", "5000000", "--force", "--output-dir"])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is free"), "{}", stderr(&o));
    // A real ENOSPC mid-run: exit 3 (runtime), one line, nothing lost, nothing left.
    let o = olap()
        .env("OLAP_SKIP_SPACE_CHECK", "1")
        .args(["generate", "--rows", "3000000", "--force", "--output-dir"])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("No space left on device"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    assert_intact(&dir, &before);
    assert!(leftovers(&mnt).is_empty(), "{:?}", leftovers(&mnt));
}

/// A CPU older than the instruction set DuckDB was compiled for is refused
/// with the way out, before any of DuckDB's code (its static constructors
/// included) could die of an illegal instruction.
#[test]
fn a_cpu_without_the_builds_instructions_is_refused_with_how_to_rebuild() {
    let mut cmd = olap();
    cmd.env("OLAP_FAULT_CPU", "avx2,bmi2").arg("--version");
    if olap::CXX_MARCH == "x86-64-v3" {
        let err = assert_refused(&mut cmd, "a CPU without AVX2", 2, "lacks avx2, bmi2");
        assert!(err.contains("cargo build --release"), "{err}");
    } else {
        // A build for the baseline needs nothing the hook can take away.
        cmd.assert().success();
    }
}

//! Readers and writers at once, crashes at each commit step, injected I/O
//! errors: a data set is always whole, old or new, never a mix.

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use olap::storage::manifest::Manifest;

use crate::common::*;

fn gen_cmd(dir: &Path, rows: u64, seed: u64) -> assert_cmd::Command {
    let mut c = olap();
    c.args([
        "generate",
        "--rows",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .args(["--force", "-q", "--output-dir"])
    .arg(dir)
    .args(SMALL);
    c
}

/// Two queries' answers from one `analyze` process, as text.
fn answers(dir: &Path) -> Result<String, String> {
    let o = olap()
        .args([
            "analyze",
            "revenue_by_region_year",
            "moving_average",
            "--execute",
            "--threads",
            "1",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(stderr(&o));
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows: Vec<_> = v["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| result_text(&q["runs"][0]))
        .collect();
    Ok(format!("{rows:?}"))
}

fn validate_ok(dir: &Path) -> Manifest {
    let o = olap()
        .args(["validate", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "validate: {}{}", stdout(&o), stderr(&o));
    Manifest::load(dir).unwrap()
}

#[test]
fn readers_see_one_whole_data_set_while_it_is_replaced() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let rows = 400_000;
    gen_cmd(&dir, rows, 1).assert().success();
    let one = answers(&dir).unwrap();
    gen_cmd(&dir, rows, 2).assert().success();
    let two = answers(&dir).unwrap();
    assert_ne!(one, two, "the two seeds must give different answers");
    let writing = AtomicBool::new(true);
    let done_reads = std::sync::atomic::AtomicUsize::new(0);
    let mut replaced = 0;
    std::thread::scope(|s| {
        // Six replacements at least, and more (up to 40) until five reads
        // have overlapped them: the writer never waits for readers, so on
        // a fast disk it could otherwise finish before the reader starts.
        let writer = s.spawn(|| {
            let mut seed = 1;
            while replaced < 6 || (done_reads.load(Ordering::SeqCst) < 5 && replaced < 40) {
                gen_cmd(&dir, rows, seed).assert().success();
                seed = 3 - seed;
                replaced += 1;
            }
            writing.store(false, Ordering::SeqCst);
        });
        while writing.load(Ordering::SeqCst) {
            let got = answers(&dir).expect("a reader never fails during a replace");
            let reads = done_reads.load(Ordering::SeqCst);
            assert!(
                got == one || got == two,
                "read {reads}: an answer equal to neither data set"
            );
            done_reads.fetch_add(1, Ordering::SeqCst);
        }
        writer.join().unwrap();
    });
    let reads = done_reads.load(Ordering::SeqCst);
    assert!(replaced >= 6);
    assert!(
        reads >= 5,
        "only {reads} reads overlapped {replaced} replacements"
    );
    eprintln!("{reads} reads during {replaced} replacements, each equal to one data set");
    validate_ok(&dir);
}

#[test]
fn two_writers_at_once_one_wins_and_the_other_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let spawn = |seed: &str, extra: &[&str]| {
        StdCommand::new(assert_cmd::cargo::cargo_bin("olap"))
            .args([
                "generate",
                "--rows",
                "1500000",
                "--threads",
                "1",
                "--seed",
                seed,
            ])
            .args(extra)
            .arg("--output-dir")
            .arg(&dir)
            .args(SMALL)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("1", &[]), spawn("2", &[]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let wins = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1, "a: {}\nb: {}", stderr(&a), stderr(&b));
    let loser = if a.status.success() { &b } else { &a };
    assert_eq!(loser.status.code(), Some(2), "{}", stderr(loser));
    let err = stderr(loser);
    assert!(
        err.contains("another olap generate is writing")
            || err.contains("already holds an olap data set"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    validate_ok(&dir);
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));

    // With --wait the second queues behind the first; both land, in order.
    let (a, b) = (spawn("3", &["--force"]), {
        std::thread::sleep(Duration::from_millis(100));
        spawn("4", &["--force", "--wait"])
    });
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    assert!(
        stderr(&b).contains("waiting for another olap generate"),
        "{}",
        stderr(&b)
    );
    assert_eq!(validate_ok(&dir).spec.seed, 4);
}

#[test]
fn files_that_appear_during_a_run_are_never_deleted() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("olap"))
        .args([
            "generate",
            "--rows",
            "1500000",
            "--threads",
            "1",
            "--output-dir",
        ])
        .arg(&dir)
        .args(SMALL)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

/// Runs `generate --force --seed 2` over a seed-1 data set, aborting at
/// `point`; returns the seed of the data set `validate` then accepts.
fn crash_at(point: &str, no_exchange: bool) -> u64 {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    gen_cmd(&dir, 20_000, 1).assert().success();
    let mut c = gen_cmd(&dir, 20_000, 2);
    c.env("OLAP_FAILPOINT", point);
    if no_exchange {
        c.env("OLAP_FAULT_NO_EXCHANGE", "1");
    }
    let o = c.output().unwrap();
    assert!(!o.status.success(), "{point}: the run was not aborted");
    assert!(
        stderr(&o).contains(&format!("failpoint {point}")),
        "{}",
        stderr(&o)
    );
    let seed = validate_ok(&dir).spec.seed;
    // The next run repairs and cleans whatever the crash left.
    gen_cmd(&dir, 20_000, 3).assert().success();
    assert_eq!(validate_ok(&dir).spec.seed, 3);
    assert!(
        leftovers(t.path()).is_empty(),
        "{point}: {:?}",
        leftovers(t.path())
    );
    seed
}

#[test]
fn a_crash_at_each_commit_step_leaves_a_whole_data_set() {
    for (point, no_exchange, expected) in [
        ("after-data", false, 1),
        ("after-stamp", false, 1),
        ("after-manifest", false, 1),
        ("after-swap", false, 2),
        ("after-manifest", true, 1),
        ("between-renames", true, 1),
        ("after-swap", true, 2),
    ] {
        let seed = crash_at(point, no_exchange);
        assert_eq!(seed, expected, "{point} (fallback: {no_exchange})");
    }
}

#[test]
fn a_crash_between_the_fallback_renames_is_rolled_back_by_the_next_reader() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    gen_cmd(&dir, 20_000, 1).assert().success();
    let one = answers(&dir).unwrap();
    let o = gen_cmd(&dir, 20_000, 2)
        .env("OLAP_FAILPOINT", "between-renames")
        .env("OLAP_FAULT_NO_EXCHANGE", "1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!dir.exists(), "the crash left the output moved aside");
    // A reader puts the old data set back and answers from it.
    assert_eq!(answers(&dir).unwrap(), one);
    assert_eq!(validate_ok(&dir).spec.seed, 1);
}

#[test]
fn a_crash_while_a_part_lands_leaves_a_set_the_part_completes_on_rerun() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let part = |k: &str| {
        let mut c = olap();
        c.args([
            "generate", "--rows", "20000", "--parts", "2", "--part", k, "-q",
        ])
        .arg("--output-dir")
        .arg(&dir)
        .args(SMALL);
        c
    };
    part("1").assert().success();
    let o = part("2")
        .env("OLAP_FAILPOINT", "after-part-files")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        Manifest::load(&dir).is_err(),
        "no manifest.json: not a data set"
    );
    part("2").assert().success();
    let m = validate_ok(&dir);
    assert_eq!(m.table(olap::model::Table::SalesFact).unwrap().rows, 20_000);
}

#[test]
fn injected_write_errors_fail_cleanly_and_keep_the_old_data_set() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    gen_cmd(&dir, 20_000, 1).assert().success();
    let before = Manifest::load(&dir).unwrap();
    for (fault, text) in [
        ("3:EIO", "Input/output error"),
        ("40:ENOSPC", "No space left on device"),
    ] {
        let o = gen_cmd(&dir, 20_000, 2)
            .env("OLAP_FAULT_WRITE", fault)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{fault}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{fault}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
        assert_eq!(validate_ok(&dir), before);
        assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
    }
    // No atomic exchange (NFS, CIFS): the two-rename fallback publishes.
    gen_cmd(&dir, 20_000, 2)
        .env("OLAP_FAULT_NO_EXCHANGE", "1")
        .assert()
        .success();
    assert_eq!(validate_ok(&dir).spec.seed, 2);
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

#[test]
fn a_loaded_database_records_its_data_set_in_the_same_transaction() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let db = t.path().join("olap.duckdb");
    gen_cmd(&dir, 20_000, 1).assert().success();
    let run = |d: &Path| {
        let o = olap()
            .args([
                "analyze",
                "revenue_by_region_year",
                "--execute",
                "--format",
                "json",
            ])
            .arg("--load")
            .arg(&db)
            .arg("--data-dir")
            .arg(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        result_text(&v["queries"][0]["runs"][0])
    };
    let one = run(&dir);
    gen_cmd(&dir, 20_000, 2).assert().success();
    let two = run(&dir);
    assert_ne!(one, two, "the database was reloaded from the new data set");
    let conn = duckdb::Connection::open(&db).unwrap();
    let identity: String = conn
        .query_row("SELECT identity FROM olap_loaded", [], |r| r.get(0))
        .unwrap();
    let m = Manifest::load(&dir).unwrap();
    let fact = m.table(olap::model::Table::SalesFact).unwrap();
    assert!(identity.contains(&fact.content_checksum), "{identity}");
}

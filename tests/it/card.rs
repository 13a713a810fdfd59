//! The product card's commands, verbatim, in a fresh empty directory (the
//! generation with fewer rows), and the baseline store behind
//! `--baseline` with no value.

use olap::bench::result::BenchResult;
use olap::bench::stats::Stats;

use crate::common::*;

/// `olap` run in `dir` with the store at its default place under `dir`.
fn in_dir(dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = olap();
    c.current_dir(dir).env_remove("OLAP_BENCH_STORE");
    c
}

/// The runs saved in the store under `dir`.
fn saved(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let store = dir.join("benchmark-results/runs");
    let mut v: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .flat_map(|m| {
            std::fs::read_dir(m.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .collect();
    v.sort();
    v
}

/// Rewrites a saved run with every sample multiplied by `factor`.
fn scale(path: &std::path::Path, factor: f64) {
    let mut r = BenchResult::load(path).unwrap();
    for q in &mut r.queries {
        q.samples_ms.iter_mut().for_each(|s| *s *= factor);
        q.stats = Stats::of(&q.samples_ms);
    }
    r.save(path).unwrap();
}

#[test]
fn the_cards_commands_work_verbatim_in_an_empty_directory() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    // `olap generate --rows 100000000 --partition-by year,quarter`, with fewer rows.
    let o = in_dir(dir)
        .args([
            "generate",
            "--rows",
            "30000",
            "--partition-by",
            "year,quarter",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("data/manifest.json").is_file());

    let o = in_dir(dir)
        .args(["analyze", "--execute", "--profile"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("TABLE_SCAN") && out.contains("partitions: scanned 1 of 12"),
        "{out}"
    );

    // Before any saved run: a clear one-line message, exit 2.
    let card = ["benchmark", "--baseline", "--fail-on-regression"];
    let err = assert_refused(
        in_dir(dir).args(card),
        "bare --baseline before any run",
        2,
        "no earlier run",
    );
    assert!(err.contains("run `olap benchmark` once"), "{err}");

    // One run saves itself in the store; the card's command then compares with it.
    let o = in_dir(dir).args(["benchmark", "--quick"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = saved(dir);
    assert_eq!(runs.len(), 1, "{runs:?}");
    // Slow the saved run down 5x, so noise cannot turn the comparison into
    // a regression: the card's command compares and exits 0.
    scale(&runs[0], 5.0);
    let o = in_dir(dir).args(card).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Against the baseline") && out.contains("improvement"),
        "{out}"
    );
    assert!(
        out.contains(&format!("baseline: {}", "benchmark-results/runs/")),
        "{out}"
    );
    assert_eq!(saved(dir).len(), 2, "every run is saved");

    // A deliberately fast baseline: the same command finds the regression, exit 1.
    let fast = dir.join("fast.json");
    std::fs::copy(&runs[0], &fast).unwrap();
    scale(&fast, 1.0 / 50.0);
    let o = in_dir(dir)
        .args([
            "benchmark",
            "--baseline",
            "fast.json",
            "--fail-on-regression",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("regressed"), "{}", stderr(&o));
    assert!(stdout(&o).contains("REGRESSION"), "{}", stdout(&o));
}

#[test]
fn baselines_from_another_machine_or_thread_count_are_refused_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    generate(&dir.join("data"), 8_000, &[]);
    let o = in_dir(dir)
        .args([
            "benchmark",
            "revenue_by_region_year",
            "--quick",
            "--threads",
            "1",
        ])
        .args(["--save-baseline", "one-thread"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Named, with another thread count: refused with the reason.
    let err = assert_refused(
        in_dir(dir).args([
            "benchmark",
            "revenue_by_region_year",
            "--quick",
            "--threads",
            "2",
            "--baseline",
            "one-thread",
        ]),
        "another thread count",
        2,
        "1 threads vs 2",
    );
    assert!(err.contains("--allow-different-env"), "{err}");
    // Bare: nothing comparable (the only run used 1 thread).
    assert_refused(
        in_dir(dir).args([
            "benchmark",
            "revenue_by_region_year",
            "--quick",
            "--threads",
            "2",
            "--baseline",
        ]),
        "bare, nothing comparable",
        2,
        "no comparable run",
    );
    // Allowed: compares and says what differs.
    let o = in_dir(dir)
        .args([
            "benchmark",
            "revenue_by_region_year",
            "--quick",
            "--threads",
            "2",
        ])
        .args(["--baseline", "one-thread", "--allow-different-env"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 threads vs 2"), "{}", stdout(&o));
    // Another machine: a fabricated result from a 16-core machine.
    let runs = saved(dir);
    let mut r = BenchResult::load(&runs[0]).unwrap();
    r.machine.cpu = "Some Other CPU".into();
    r.machine.cores = 16;
    let other = dir.join("other.json");
    r.save(&other).unwrap();
    assert_refused(
        in_dir(dir).args([
            "benchmark",
            "revenue_by_region_year",
            "--quick",
            "--threads",
            "1",
            "--baseline",
            "other.json",
        ]),
        "another machine",
        2,
        "another machine (some-other-cpu-16c",
    );
}

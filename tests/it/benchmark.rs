//! `olap benchmark`: a quick end-to-end run, the result file, baselines and
//! exit codes, the studies' files.

use std::path::PathBuf;
use std::sync::OnceLock;

use olap::bench::result::BenchResult;
use serde_json::Value;

use crate::common::*;

fn data() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make_fixture("bench-fixture", 20_000))
}

fn bench(args: &[&str]) -> std::process::Output {
    olap()
        .arg("benchmark")
        .arg("--data-dir")
        .arg(data())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn quick_run_writes_a_versioned_result_that_round_trips() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("r.json");
    let o = bench(&["--quick", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("p95")
            && text.contains("revenue_by_region_year")
            && text.contains("column_io"),
        "{text}"
    );
    let r = BenchResult::load(&out).unwrap();
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.data_set.rows, 20_000);
    assert_eq!(
        r.machine.cores,
        std::thread::available_parallelism().unwrap().get()
    );
    assert!(r.duckdb_version.starts_with("v2"));
    // 9 entries: 6 single, partition_pruning x4 variants, 2 comparisons x2 storages.
    assert_eq!(r.queries.len(), 6 + 4 + 4);
    for q in &r.queries {
        assert_eq!(
            q.samples_ms.len(),
            if q.storage == "csv" { 1 } else { 3 },
            "{}",
            q.key()
        );
        assert!(
            q.stats.min <= q.stats.p50 && q.stats.p50 <= q.stats.p95 && q.stats.p95 <= q.stats.max
        );
        assert!(q.result_rows > 0);
    }
    // Save/load round trip is lossless.
    let again = t.path().join("again.json");
    r.save(&again).unwrap();
    assert_eq!(BenchResult::load(&again).unwrap(), r);
    // JSON output carries the same.
    let o = bench(&[
        "partition_pruning",
        "--rounds",
        "2",
        "--warmup",
        "0",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["result"]["queries"].as_array().unwrap().len(), 4);
    assert_eq!(v["result"]["settings"]["rounds"], 2);
    // What shapes the SQL, the plan and the machine code that ran is
    // recorded too; `--version` names the build as the result does.
    assert_eq!(v["result"]["build"], olap::BUILD);
    let version = stdout(&olap().arg("--version").output().unwrap());
    assert!(
        version.contains(&format!("({} build)", olap::BUILD)),
        "{version}"
    );
    // The instruction set DuckDB was compiled for is part of the name
    // (`gcc-12.2.0+x86-64-v3`): a generic build's baseline is not this one's.
    if !olap::CXX_MARCH.is_empty() {
        assert!(
            olap::BUILD.ends_with(&format!("+{}", olap::CXX_MARCH)),
            "{} does not name -march={}",
            olap::BUILD,
            olap::CXX_MARCH
        );
    }
    assert_eq!(v["result"]["settings"]["rewrite"], "auto");
    assert_eq!(v["result"]["settings"]["fact_view"], "auto");
    for q in v["result"]["queries"].as_array().unwrap() {
        assert!(
            ["files", "partitions"].contains(&q["fact_view"].as_str().unwrap_or("")),
            "{q}"
        );
    }
}

#[test]
fn baselines_flag_regressions_and_gate_the_exit_code() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base.json");
    let o = bench(&[
        "partition_pruning",
        "--rounds",
        "3",
        "--output",
        base.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut r = BenchResult::load(&base).unwrap();
    // A fabricated baseline 1000x faster than anything real: every query regresses.
    let fast = t.path().join("fast.json");
    for q in &mut r.queries {
        q.samples_ms = vec![0.001; 3];
        q.stats = olap::bench::stats::Stats::of(&q.samples_ms);
    }
    r.save(&fast).unwrap();
    let o = bench(&[
        "partition_pruning",
        "--rounds",
        "3",
        "--baseline",
        fast.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "without --fail-on-regression the run succeeds: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("REGRESSION"), "{}", stdout(&o));
    let o = bench(&[
        "partition_pruning",
        "--rounds",
        "3",
        "--baseline",
        fast.to_str().unwrap(),
        "--fail-on-regression",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 regressed"), "{}", stderr(&o));
    // A baseline 1000x slower: improvements, exit 0 even with the gate.
    let slow = t.path().join("slow.json");
    for q in &mut r.queries {
        q.samples_ms = vec![1e6; 3];
        q.stats = olap::bench::stats::Stats::of(&q.samples_ms);
    }
    r.save(&slow).unwrap();
    let o = bench(&[
        "partition_pruning",
        "--rounds",
        "3",
        "--format",
        "json",
        "--baseline",
        slow.to_str().unwrap(),
        "--fail-on-regression",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "improvement")
    );
    // Baselines that cannot be compared are refused.
    let mut other = r.clone();
    other.data_set.rows = 100_000_000;
    let big = t.path().join("big.json");
    other.save(&big).unwrap();
    let o = bench(&["--baseline", big.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not comparable"), "{}", stderr(&o));
    // A baseline taken with the rewrites on times other SQL than a run
    // with them off.
    let o = bench(&[
        "partition_pruning",
        "--rewrite",
        "off",
        "--baseline",
        base.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--rewrite auto vs off"),
        "{}",
        stderr(&o)
    );
    std::fs::write(t.path().join("v9.json"), r#"{"schema_version": 9}"#).unwrap();
    let o = bench(&["--baseline", t.path().join("v9.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("schema version 9"), "{}", stderr(&o));
}

#[test]
fn studies_write_their_curves_and_charts() {
    let t = tempfile::tempdir().unwrap();
    let report = t.path().join("report");
    let data_dir = t.path().join("data");
    generate(&data_dir, 8_000, &["--format", "both"]);
    let o = olap()
        .args([
            "benchmark",
            "category_by_quarter",
            "--rounds",
            "2",
            "--warmup",
            "0",
            "--storage-comparison",
            "--concurrency",
            "3",
            "--scaling",
            "8000,16000",
            "--report-dir",
        ])
        .arg(&report)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let studies = &v["result"]["studies"];
    assert!(studies["storage"]["total_ratio"].as_f64().unwrap() > 1.0);
    assert_eq!(
        studies["storage"]["queries"][0]["id"],
        "category_by_quarter"
    );
    let points = studies["scaling"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["rows"], 16_000);
    assert!(
        studies["scaling"]["growth"][0]["per_doubling"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let pg = &studies["scaling"]["partition_growth"];
    assert_eq!(pg["partitions"], serde_json::json!([12, 24]));
    assert_eq!(studies["concurrency"].as_array().unwrap().len(), 2);
    let csv = std::fs::read_to_string(report.join("scaling.csv")).unwrap();
    assert!(csv.starts_with("rows,partitions,query,p50_ms") && csv.lines().count() == 3);
    for chart in ["scaling.svg", "storage-speedup.svg"] {
        assert!(
            std::fs::read_to_string(report.join(chart))
                .unwrap()
                .contains("<svg"),
            "{chart}"
        );
    }
    assert!(
        studies["storage"]["chart"]
            .as_str()
            .unwrap()
            .ends_with("storage-speedup.svg")
    );
    // The scaling data sets sit next to the data set and are reused.
    assert!(
        t.path()
            .join("data-scaling")
            .join("rows-16000")
            .join("manifest.json")
            .exists()
    );
}

#[test]
fn bad_benchmark_input() {
    let d = data().to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--rounds", "0"], "between 1 and 10000"),
        (vec!["--rounds", "-3"], "between 1 and 10000"),
        (vec!["--concurrency", "1"], "between 2 and 256"),
        (vec!["--clients", "pgwire"], "--concurrency"),
        (
            vec!["--concurrency", "2", "--clients", "tcp"],
            "invalid value 'tcp'",
        ),
        (vec!["--scaling", "10M"], "at least two sizes"),
        (vec!["--scaling", "10M,abc"], "not a whole number"),
        (vec!["--threshold", "x"], "not a percentage"),
        (vec!["nope_query"], "unknown query id"),
        (
            vec!["--baseline", "/nonexistent.json"],
            "cannot read baseline",
        ),
    ];
    for (args, msg) in cases {
        assert_refused(
            olap()
                .arg("benchmark")
                .arg("--data-dir")
                .arg(&d)
                .args(&args),
            &format!("{args:?}"),
            2,
            msg,
        );
    }
    let t = tempfile::tempdir().unwrap();
    let pq = t.path().join("pq");
    generate(&pq, 2_000, &[]);
    let o = olap()
        .args(["benchmark", "--storage-comparison", "--data-dir"])
        .arg(&pq)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs CSV"), "{}", stderr(&o));
}

#[test]
fn storage_targets_hold_at_three_million_rows() {
    // Seed T073: Parquet at least 5:1 smaller than CSV; T072: a one-column
    // query reads less than 20% of CSV's bytes from Parquet.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("d");
    let m = generate(&dir, 3_000_000, &["--format", "both"]);
    use olap::storage::FileFormat;
    let ratio = m.bytes(FileFormat::Csv) as f64 / m.bytes(FileFormat::Parquet) as f64;
    assert!(
        olap::targets::compression_met(ratio),
        "CSV : Parquet = {ratio:.2}"
    );
    let o = olap()
        .args([
            "analyze",
            "column_io",
            "--execute",
            "--check",
            "--format",
            "json",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let check = &v["queries"][0]["checks"][0];
    assert_eq!(check["name"], "Parquet vs CSV bytes read");
    assert_eq!(check["passed"], true, "{check}");
    // And `benchmark --check` gates on the storage study's targets: at this
    // size Parquet is not 10x faster than CSV on every query (fixed costs
    // dominate), so the run must fail and say which target.
    let o = olap()
        .args([
            "benchmark",
            "column_io",
            "revenue_by_region_year",
            "--quick",
        ])
        .args(["--storage-comparison", "--check", "--data-dir"])
        .arg(&dir)
        .args(["--report-dir", t.path().join("r").to_str().unwrap()])
        .output()
        .unwrap();
    let out = stdout(&o);
    let failed = stderr(&o);
    if o.status.code() == Some(1) {
        // Which verdict failed it depends on this machine's speed at the
        // moment (a storage target, or an SLA when other tests load the
        // cores): the run must say which, and a missed target is shown.
        assert!(
            failed.contains("target(s) missed") || failed.contains("missed the SLA"),
            "{failed}"
        );
        if failed.contains("target(s) missed") {
            assert!(out.contains("NOT met"), "{out}");
        }
    } else {
        assert!(o.status.success(), "{failed}");
        assert!(!out.contains("NOT met"), "{out}");
    }
}

#[test]
fn against_plain_times_the_plain_engine_in_the_same_rounds() {
    let o = bench(&[
        "--suite",
        "adhoc",
        "--rounds",
        "3",
        "--warmup",
        "1",
        "--against-plain",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let queries = v["result"]["queries"].as_array().unwrap();
    assert_eq!(queries.len(), olap::query::catalog::ADHOC_SUITE.len());
    for q in queries {
        let plain = &q["plain"];
        let samples = plain["samples_ms"].as_array().unwrap();
        assert_eq!(samples.len(), 3, "{q}");
        assert!(samples.iter().all(|s| s.as_f64().unwrap() > 0.0), "{q}");
        // The ratio per round is olap's sample over plain's, in order.
        let olap: Vec<f64> = q["samples_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        let ratios: Vec<f64> = olap
            .iter()
            .zip(samples)
            .map(|(o, p)| o / p.as_f64().unwrap())
            .collect();
        let min = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(
            (plain["ratios"]["min"].as_f64().unwrap() - min).abs() < 1e-9,
            "{q}"
        );
    }
    // The table shows the comparison; without the flag there is none.
    let o = bench(&["adhoc_region_q4", "--rounds", "2", "--against-plain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Against the plain engine") && text.contains("olap / plain"),
        "{text}"
    );
    let o = bench(&["adhoc_region_q4", "--rounds", "2", "--format", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["result"]["queries"][0].get("plain").is_none(), "{v}");
}

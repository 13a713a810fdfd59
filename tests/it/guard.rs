//! The rewrite guard through the real binary: the shapes it refuses, what
//! `--explain-rewrite` says, the fallback to the SQL as written when a
//! rewrite fails or runs past its budget, and the differential fuzzer on a
//! small data set (answers only: its time rule runs in CI's fuzz step,
//! `.ci/run`, not as a wall-clock assert here).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::*;

/// A small data set partitioned by year and quarter, made once.
fn fixture() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guard-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, 60_000, &["--partition-by", "year,quarter"]);
        dir
    })
}

/// The 111-second question of the rewrite-safety issue: a table listed
/// after a comma, then a LEFT JOIN whose condition names the fact.
const REPRO: &str = "SELECT g.country AS g0, p.subcategory AS g1, COUNT(DISTINCT f.customer_key) AS a0, \
SUM(f.revenue - f.cost) AS a1 FROM sales_fact f, dim_geography g \
LEFT JOIN dim_product p ON f.product_key = p.product_key AND p.is_current \
WHERE f.geo_key = g.geo_key AND g.lat > 0 GROUP BY g.country, p.subcategory HAVING SUM(f.revenue) > 1000";

/// The same kind of question written with JOIN … ON: rewritten (distinct
/// customers in bitmaps, countries by code).
const REWRITTEN: &str = "SELECT g.country, count(DISTINCT f.customer_key) AS customers, sum(f.revenue) AS revenue \
FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key GROUP BY g.country";

fn analyze_json(sql: &str, extra: &[&str], env: &[(&str, &str)]) -> (Value, String) {
    let mut c = olap();
    c.arg("-v")
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["--sql", sql, "--execute", "--profile", "--format", "json"])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    (serde_json::from_str(&stdout(&o)).unwrap(), stderr(&o))
}

fn sorted_rows(v: &Value) -> Vec<Vec<String>> {
    let mut rows = result_text(&v["queries"][0]["runs"][0]);
    rows.sort();
    rows
}

#[test]
fn the_repro_runs_as_written_and_answers_as_the_plain_views() {
    // `always`: past the size rule, to the shape rule.
    let (v, _) = analyze_json(REPRO, &["--rewrite", "always"], &[]);
    let run = &v["queries"][0]["runs"][0];
    assert!(run["rewrite"].is_null(), "{run}");
    assert!(
        run["refused_rewrite"]
            .as_str()
            .is_some_and(|w| w.contains("outside that join")),
        "{run}"
    );
    // The plain views: one Hive scan of all files, nothing rewritten.
    let (plain, _) = analyze_json(REPRO, &["--rewrite", "off", "--fact-view", "files"], &[]);
    assert!(!sorted_rows(&v).is_empty());
    assert_eq!(sorted_rows(&v), sorted_rows(&plain));
}

/// The cheap evidence first: a question reading fewer fact rows than a
/// rewrite could pay for deciding (2M; this fixture has 60K) runs as
/// written by default, with the reason, and `--rewrite always` still
/// rewrites it; a question that reads no partition at all, likewise.
#[test]
fn a_small_question_is_not_rewritten_by_default() {
    let empty_year = REWRITTEN.replace("GROUP BY", "WHERE f.year = 1990 GROUP BY");
    for sql in [REWRITTEN, empty_year.as_str()] {
        let (v, _) = analyze_json(sql, &[], &[]);
        let run = &v["queries"][0]["runs"][0];
        assert!(run["rewrite"].is_null(), "{run}");
        let why = run["refused_rewrite"].as_str().unwrap_or_default();
        assert!(
            why.contains("too few for a rewrite to pay") && why.contains("2000000"),
            "{run}"
        );
        let (forced, _) = analyze_json(sql, &["--rewrite", "always"], &[]);
        assert!(
            forced["queries"][0]["runs"][0]["rewrite"].is_string(),
            "{forced}"
        );
        assert_eq!(sorted_rows(&v), sorted_rows(&forced));
    }
    // The rows it reads are the partitions' share: none for an empty year.
    let (v, _) = analyze_json(&empty_year, &[], &[]);
    let why = v["queries"][0]["runs"][0]["refused_rewrite"].to_string();
    assert!(why.contains("reads about 0 fact rows"), "{why}");
    let (v, _) = analyze_json(REWRITTEN, &[], &[]);
    let why = v["queries"][0]["runs"][0]["refused_rewrite"].to_string();
    assert!(why.contains("reads about 60000 fact rows"), "{why}");
    // Asked again in the same process (a benchmark's rounds, a server's
    // clients), the rewrite is decided: its cost is spread over the runs.
    let store = tempfile::tempdir().unwrap();
    let o = olap()
        .args(["benchmark", "--data-dir"])
        .arg(fixture())
        .args([
            "--sql", REWRITTEN, "--rounds", "2", "--format", "json", "-q",
        ])
        .arg("--store")
        .arg(store.path())
        .args(["--suite", "catalog", "column_io"])
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rewritten: Vec<&Value> = v["result"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["rewrite"].is_string())
        .collect();
    assert_eq!(rewritten.len(), 1, "{v:#}");
    assert!(
        rewritten[0]["id"]
            .as_str()
            .unwrap_or_default()
            .contains("sql"),
        "{v:#}"
    );
}

#[test]
fn explain_rewrite_says_what_fired_why_and_what_duckdb_runs() {
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["--sql", REWRITTEN, "--explain-rewrite", "--format", "json"])
        .args(["--rewrite", "always"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let note = e["rewrite"].as_str().expect("a rewrite fired");
    assert!(note.contains("bitmaps") || note.contains("code"), "{note}");
    assert!(e["budget_ms"].as_f64().is_some_and(|b| b > 0.0), "{e}");
    assert_ne!(e["runs"], e["sql"], "DuckDB runs the rewrite");
    assert!(e["fact_view"].is_string(), "{e}");
    // The repro: refused, with the reason, and the SQL runs as written.
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["--sql", REPRO, "--explain-rewrite", "--rewrite", "always"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("the guard refused it"), "{text}");
    assert!(text.contains("DuckDB runs:"), "{text}");
    // --explain-rewrite needs --sql.
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .arg("--explain-rewrite")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_rewrite_that_fails_or_runs_past_its_budget_falls_back_to_the_sql_as_written() {
    let (rewritten, _) = analyze_json(REWRITTEN, &["--rewrite", "always"], &[]);
    assert!(
        rewritten["queries"][0]["runs"][0]["rewrite"].is_string(),
        "the fixture's question is rewritten"
    );
    let (as_written, _) = analyze_json(REWRITTEN, &["--rewrite", "off"], &[]);
    for (env, why) in [
        (("OLAP_FAULT_REWRITE", "fail"), "it failed"),
        (
            ("OLAP_FAULT_REWRITE_BUDGET_MS", "0"),
            "past its budget of 0 ms",
        ),
    ] {
        let (v, err) = analyze_json(REWRITTEN, &["--rewrite", "always"], &[env]);
        let run = &v["queries"][0]["runs"][0];
        assert!(
            err.contains("rewrite abandoned") && err.contains(why),
            "no -v line saying why: {err}"
        );
        assert!(
            run["abandoned_rewrite"]
                .as_str()
                .is_some_and(|w| w.contains(why)),
            "{run}"
        );
        // The answer is the SQL as written's.
        assert!(run["rewrite"].is_null(), "{run}");
        assert_eq!(sorted_rows(&v), sorted_rows(&as_written));
        assert_eq!(sorted_rows(&v), sorted_rows(&rewritten));
    }
}

/// The fuzzer itself: stored cases, then fixed seeds, every answer equal
/// three ways (time is judged in CI's fuzz step, not here).
#[test]
fn the_fuzzer_finds_no_wrong_answer_on_fixed_seeds() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let o = olap()
        .args(["fuzz", "--data-dir"])
        .arg(fixture())
        .args([
            "--seed",
            "1",
            "--questions",
            "60",
            "--no-timing",
            "--format",
            "json",
        ])
        .arg("--corpus")
        .arg(&corpus)
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|_| panic!("{}", stderr(&o)));
    assert!(o.status.success(), "{report:#}");
    assert_eq!(report["wrong"], 0, "{report:#}");
    // Every `.sql` file of the corpus (tests/fuzz-corpus/open/, the cases
    // not fixed yet, is not replayed).
    let corpus_cases = std::fs::read_dir(&corpus)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as u64;
    assert_eq!(report["corpus_cases"], corpus_cases);
    assert_eq!(report["tried"], 60 + corpus_cases);
    // Most questions are valid SQL that all three answer.
    assert!(report["equal"].as_u64().unwrap() >= 45, "{report:#}");
    // The fixture is small: the default rewrites nothing, `--rewrite
    // always` has its answers checked.
    assert!(
        report["rewritten_always"].as_u64().unwrap() > 0,
        "{report:#}"
    );
}

/// A wrong answer is a failure: exit 1, the question and both answers.
#[test]
fn the_fuzzer_reports_a_seed_to_replay() {
    let o = olap()
        .args(["fuzz", "--data-dir"])
        .arg(fixture())
        .args(["--seed", "7", "--questions", "3", "--no-timing"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--seed 7"),
        "the seed and how to replay it: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("tried"), "{}", stdout(&o));
}

/// Ctrl-C ends the question running, then prints the report of the
/// questions asked (a long local run keeps its counts) and exits 130.
#[test]
fn an_interrupted_fuzz_run_reports_what_it_asked() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_olap"))
        .args(["fuzz", "--data-dir"])
        .arg(fixture())
        .args(["--seed", "11", "--questions", "100000", "--no-timing"])
        .args(["--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let report: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|_| panic!("{}", stderr(&o)));
    assert_eq!(report["interrupted"], true, "{report:#}");
    let tried = report["tried"].as_u64().unwrap();
    assert!(tried > 0 && tried < 100_000, "{report:#}");
    assert!(
        stderr(&o).contains("stopped by Ctrl-C after"),
        "{}",
        stderr(&o)
    );
}

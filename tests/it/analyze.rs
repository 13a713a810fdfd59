//! `olap analyze`: every catalog query's result against an independent
//! computation in Rust over the generator's own rows; determinism; profiles;
//! bad input.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use arrow::array::AsArray;
use arrow::datatypes::{Date32Type, Decimal128Type, Int16Type, Int32Type};
use olap::datagen::geography::COUNTRIES;
use olap::datagen::product::CATEGORIES;
use olap::datagen::{GenSpec, Star};
use olap::model::Table;
use serde_json::Value;

use crate::common::*;

/// One small data set (both formats, year/quarter partitions), made once.
fn fixture() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make_fixture("analyze-fixture", 60_000))
}

/// `olap analyze` on the fixture, which takes the fact-view paths a data
/// set of 60M rows would (`OLAP_FAULT_ROWS_SCALE`: the rules' row
/// thresholds divided by 1,000).
fn analyze(args: &[&str]) -> Value {
    analyze_scaled(args, 1000)
}

fn analyze_scaled(args: &[&str], scale: u64) -> Value {
    let o = olap()
        .env("OLAP_FAULT_ROWS_SCALE", scale.to_string())
        .arg("analyze")
        .arg("--data-dir")
        .arg(fixture())
        .args(["--execute", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "analyze {args:?}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("JSON report")
}

/// Result rows of run `i` of the single query in `v`, as text.
fn rows(v: &Value, run: usize) -> Vec<Vec<String>> {
    result_text(&v["queries"][0]["runs"][run])
}

fn money(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Every fact row, with its dimensions, straight from the generator.
struct Row {
    year: i32,
    quarter: i32,
    month: i32,
    region: &'static str,
    category: &'static str,
    product_id: String,
    payment: i32,
    quantity: i64,
    revenue: i128,
    profit: i128,
}

fn truth() -> &'static Vec<Row> {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let m = olap::storage::manifest::Manifest::load(fixture()).unwrap();
        let star = Star::new(GenSpec { ..m.spec.clone() });
        let mut product_of_key = Vec::new();
        for p in &star.catalogue.products {
            for _ in &p.versions {
                product_of_key.push((CATEGORIES[p.category].name, p.id.clone()));
            }
        }
        let b = star.batch(Table::SalesFact, 0..star.spec.rows);
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (date, geo, product, payment) = (
            col("date"),
            col("geo_key"),
            col("product_key"),
            col("payment_key"),
        );
        let (qty, rev, profit) = (col("quantity"), col("revenue"), col("profit"));
        (0..b.num_rows())
            .map(|i| {
                let d = olap::datagen::calendar::from_date32(
                    date.as_primitive::<Date32Type>().value(i),
                );
                let month = chrono::Datelike::month(&d) as i32;
                let city =
                    &star.geography.cities[geo.as_primitive::<Int32Type>().value(i) as usize - 1];
                let (category, product_id) = product_of_key
                    [product.as_primitive::<Int32Type>().value(i) as usize - 1]
                    .clone();
                Row {
                    year: chrono::Datelike::year(&d),
                    quarter: (month - 1) / 3 + 1,
                    month,
                    region: COUNTRIES[city.country].region,
                    category,
                    product_id,
                    payment: payment.as_primitive::<Int32Type>().value(i),
                    quantity: qty.as_primitive::<Int16Type>().value(i) as i64,
                    revenue: rev.as_primitive::<Decimal128Type>().value(i),
                    profit: profit.as_primitive::<Decimal128Type>().value(i),
                }
            })
            .collect()
    })
}

fn close(a: &str, b: f64, tol: f64) -> bool {
    a.parse::<f64>().is_ok_and(|x| (x - b).abs() <= tol)
}

#[test]
fn revenue_by_region_year_and_storage_comparison_match_rust() {
    let mut want: BTreeMap<(&str, i32), (i128, i128, u64)> = BTreeMap::new();
    for r in truth() {
        let e = want.entry((r.region, r.year)).or_default();
        e.0 += r.revenue;
        e.1 += r.profit;
        e.2 += 1;
    }
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|((reg, y), (rev, pr, n))| {
            vec![
                reg.to_string(),
                y.to_string(),
                money(*rev),
                money(*pr),
                n.to_string(),
            ]
        })
        .collect();
    assert_eq!(rows(&analyze(&["revenue_by_region_year"]), 0), want);
    let cmp = analyze(&["storage_comparison"]);
    assert_eq!(rows(&cmp, 0), want, "parquet");
    assert_eq!(rows(&cmp, 1), want, "csv");
    assert_eq!(cmp["queries"][0]["runs"][1]["storage"], "csv");
    // The same through CSV storage for a single-storage query.
    assert_eq!(
        rows(&analyze(&["revenue_by_region_year", "--storage", "csv"]), 0),
        want
    );
}

#[test]
fn category_by_quarter_matches_rust() {
    let mut want: BTreeMap<(&str, i32), (i128, i128, i64)> = BTreeMap::new();
    for r in truth().iter().filter(|r| r.year == 2022) {
        let e = want.entry((r.category, r.quarter)).or_default();
        e.0 += r.revenue;
        e.1 += r.profit;
        e.2 += r.quantity;
    }
    let got = rows(
        &analyze(&["category_by_quarter", "--param", "year=2022"]),
        0,
    );
    assert_eq!(got.len(), want.len());
    for (g, ((cat, q), (rev, pr, units))) in got.iter().zip(&want) {
        assert_eq!(
            &g[..5],
            &[
                cat.to_string(),
                q.to_string(),
                money(*rev),
                money(*pr),
                units.to_string()
            ]
        );
        assert!(
            close(&g[5], 100.0 * *pr as f64 / *rev as f64, 0.0051),
            "margin {g:?}"
        );
    }
}

#[test]
fn drill_down_rolls_up_year_quarter_month() {
    let mut want: BTreeMap<(Option<i32>, Option<i32>), (i128, u64)> = BTreeMap::new();
    for r in truth()
        .iter()
        .filter(|r| r.year == 2023 && r.region == "Europe")
    {
        for key in [
            (None, None),
            (Some(r.quarter), None),
            (Some(r.quarter), Some(r.month)),
        ] {
            let e = want.entry(key).or_default();
            e.0 += r.revenue;
            e.1 += 1;
        }
    }
    let got = rows(
        &analyze(&["drill_down_time", "--param", "region=Europe"]),
        0,
    );
    let show = |o: Option<i32>| o.map_or("NULL".to_string(), |v| v.to_string());
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|((q, m), (rev, n))| {
            vec![
                "2023".into(),
                show(*q),
                show(*m),
                money(*rev),
                n.to_string(),
            ]
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 1 + 4 + 12);
}

#[test]
fn partition_pruning_variants_agree_and_prune() {
    let q3 = |extra: &[&str]| {
        let mut args = vec![
            "partition_pruning",
            "--param",
            "year=2022",
            "--param",
            "quarter=3",
            "--profile",
        ];
        args.extend_from_slice(extra);
        analyze(&args)
    };
    let v = q3(&[]);
    let mut want: BTreeMap<i32, (i128, u64)> = BTreeMap::new();
    for r in truth().iter().filter(|r| r.year == 2022 && r.quarter == 3) {
        let e = want.entry(r.payment).or_default();
        e.0 += r.revenue;
        e.1 += 1;
    }
    let by_type = |rows: Vec<Vec<String>>| {
        rows.iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect::<Vec<_>>()
    };
    let filtered = by_type(rows(&v, 0));
    assert_eq!(
        filtered,
        by_type(rows(&v, 2)),
        "partition filter and date filter give the same answer"
    );
    let total_rev: i128 = want.values().map(|x| x.0).sum();
    let got_rev: i128 = filtered
        .iter()
        .map(|r| r.1.replace('.', "").parse::<i128>().unwrap())
        .sum();
    assert_eq!(got_rev, total_rev);
    let runs = v["queries"][0]["runs"].as_array().unwrap();
    assert_eq!(runs[0]["profile"]["partitions_scanned"], 1);
    assert_eq!(runs[0]["profile"]["partitions_total"], 12);
    assert_eq!(runs[1]["variant"], "year filter");
    assert_eq!(runs[1]["profile"]["partitions_scanned"], 4);
    assert_eq!(runs[3]["profile"]["partitions_scanned"], 12);
    // The catalog aggregates before it joins, so the variants read the
    // fact table as one scan of all files, but the date filter: a whole
    // quarter, which over the partitions their statistics prove, so the
    // other partitions drop out of the plan and no row is tested.
    for (i, view) in [(0, "files"), (1, "files"), (2, "partitions"), (3, "files")] {
        assert_eq!(runs[i]["fact_view"], view, "{}", runs[i]["variant"]);
    }
    assert_eq!(runs[2]["profile"]["partitions_scanned"], 1);
    assert_eq!(
        runs[2]["profile"]["rows_scanned"], runs[0]["profile"]["rows_scanned"],
        "the date filter reads no more than the partition filter"
    );
    // Every variant forced onto one scan per partition, and onto one scan
    // of all files (the date filter then reads every file's footer and
    // prunes row groups): the same answers.
    let files = q3(&["--fact-view", "files"]);
    let fruns = files["queries"][0]["runs"].as_array().unwrap();
    assert_eq!(fruns[2]["profile"]["partitions_scanned"], 12);
    assert_eq!(
        fruns[2]["profile"]["rows_scanned"], runs[0]["profile"]["rows_scanned"],
        "by row groups the date filter reads no more than the partition filter"
    );
    for i in 0..4 {
        assert_eq!(rows(&files, i), rows(&v, i), "variant {i}");
    }
    let union = q3(&["--fact-view", "partitions"]);
    let uruns = union["queries"][0]["runs"].as_array().unwrap();
    assert_eq!(uruns[2]["fact_view"], "partitions");
    assert_eq!(uruns[2]["profile"]["partitions_scanned"], 1);
    assert_eq!(uruns[0]["profile"]["partitions_scanned"], 1);
    assert_eq!(uruns[1]["profile"]["partitions_scanned"], 4);
    for i in 0..4 {
        assert_eq!(rows(&union, i), rows(&v, i), "variant {i}");
    }
    let checks = v["queries"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    // On 3 years the 80% target cannot apply; the check says why.
    let detail = checks[2]["detail"].as_str().unwrap();
    assert!(
        detail.contains("at most 67%") && detail.contains("5+ years"),
        "{detail}"
    );
}

#[test]
fn moving_average_matches_rust_for_any_window() {
    for window in [3usize, 5] {
        let mut monthly: BTreeMap<(&str, i32, i32), i128> = BTreeMap::new();
        for r in truth() {
            *monthly.entry((r.region, r.year, r.month)).or_default() += r.revenue;
        }
        let got = rows(
            &analyze(&["moving_average", "--param", &format!("window={window}")]),
            0,
        );
        assert_eq!(got.len(), monthly.len());
        let keys: Vec<_> = monthly.keys().cloned().collect();
        for (i, (g, key)) in got.iter().zip(&keys).enumerate() {
            let series: Vec<i128> = keys[..=i]
                .iter()
                .rev()
                .take_while(|k| k.0 == key.0)
                .take(window)
                .map(|k| monthly[k])
                .collect();
            let avg = series.iter().sum::<i128>() as f64 / 100.0 / series.len() as f64;
            assert_eq!(
                &g[..4],
                &[
                    key.0.to_string(),
                    key.1.to_string(),
                    key.2.to_string(),
                    money(monthly[key])
                ]
            );
            assert!(close(&g[4], avg, 0.0051), "row {i}: {} vs {avg}", g[4]);
            assert_eq!(g[5], series.len().to_string());
        }
    }
}

#[test]
fn yoy_growth_matches_rust() {
    let mut yearly: BTreeMap<(&str, i32), i128> = BTreeMap::new();
    for r in truth() {
        *yearly.entry((r.category, r.year)).or_default() += r.revenue;
    }
    let got = rows(&analyze(&["yoy_growth"]), 0);
    assert_eq!(got.len(), yearly.len());
    for (g, ((cat, year), rev)) in got.iter().zip(&yearly) {
        assert_eq!(&g[..3], &[cat.to_string(), year.to_string(), money(*rev)]);
        match yearly.get(&(cat, year - 1)) {
            None => assert_eq!((g[3].as_str(), g[4].as_str()), ("NULL", "NULL")),
            Some(prev) => {
                assert_eq!(g[3], money(*prev));
                assert!(
                    close(&g[4], 100.0 * (*rev - *prev) as f64 / *prev as f64, 0.0051),
                    "{g:?}"
                );
            }
        }
    }
}

#[test]
fn product_rankings_match_rust() {
    let mut by: BTreeMap<(i32, String), i128> = BTreeMap::new();
    for r in truth().iter().filter(|r| r.year == 2023) {
        *by.entry((r.quarter, r.product_id.clone())).or_default() += r.revenue;
    }
    let got = rows(&analyze(&["product_rankings", "--param", "top=5"]), 0);
    assert_eq!(got.len(), 20);
    for q in 1..=4 {
        let mut list: Vec<(&String, i128)> = by
            .iter()
            .filter(|((qq, _), _)| *qq == q)
            .map(|((_, id), rev)| (id, *rev))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mine: Vec<_> = got.iter().filter(|r| r[0] == q.to_string()).collect();
        for (i, (row, (id, rev))) in mine.iter().zip(&list).enumerate() {
            let rank = 1 + list.iter().filter(|x| x.1 > *rev).count();
            assert_eq!(
                (
                    row[1].as_str(),
                    row[2].clone(),
                    row[3].as_str(),
                    row[5].clone()
                ),
                (
                    (i + 1).to_string().as_str(),
                    rank.to_string(),
                    id.as_str(),
                    money(*rev)
                )
            );
        }
    }
}

#[test]
fn column_io_reads_a_fraction_of_csv_bytes_and_results_are_deterministic() {
    let total: i128 = truth().iter().map(|r| r.revenue).sum();
    let v = analyze(&["column_io"]);
    assert_eq!(
        rows(&v, 0),
        vec![vec![money(total), truth().len().to_string()]]
    );
    assert_eq!(rows(&v, 1), rows(&v, 0));
    assert_eq!(
        v["queries"][0]["checks"][0]["passed"], true,
        "{}",
        v["queries"][0]["checks"][0]
    );
    // Whole catalog: identical results with 1 and 2 threads.
    let strip = |v: &Value| {
        v["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                q["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["rows"].clone())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&analyze(&["--threads", "1"])),
        strip(&analyze(&["--threads", "2"]))
    );
}

#[test]
fn profiles_show_plans_windows_and_log_every_execution() {
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analyze-log.jsonl");
    let _ = std::fs::remove_file(&log);
    let o = olap()
        .args([
            "analyze",
            "moving_average",
            "category_by_quarter",
            "--profile",
            "--log",
        ])
        .arg(&log)
        .arg("--data-dir")
        .arg(fixture())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("★ WINDOW"), "{out}");
    assert!(
        out.contains("partitions: scanned 4 of 12 partitions (66.7% pruned)"),
        "{out}"
    );
    assert!(
        out.contains("HASH_JOIN") && out.contains("TABLE_SCAN"),
        "{out}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["query_id"], "moving_average");
    assert_eq!(lines[0]["parameters"]["window"], "3");
    assert_eq!(lines[1]["status"], "ok");
    assert!(lines[1]["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["result_rows"], 40);
    // Without --execute: the SQL and DuckDB's plan, nothing run, nothing logged.
    let o = olap()
        .args(["analyze", "yoy_growth", "--data-dir"])
        .arg(fixture())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("lag(revenue) OVER w") && stdout(&o).contains("WINDOW"),
        "{}",
        stdout(&o)
    );
    // Ad-hoc SQL and the list.
    let v: Value = serde_json::from_slice(
        &olap()
            .args([
                "analyze",
                "--execute",
                "--format",
                "json",
                "--sql",
                "SELECT count(*) AS n FROM dim_payment",
                "--data-dir",
            ])
            .arg(fixture())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // Typed JSON: a count is a JSON number, with its column's type.
    assert_eq!(v["queries"][0]["runs"][0]["rows"][0][0], 20);
    assert_eq!(v["queries"][0]["runs"][0]["columns"][0]["name"], "n");
    assert_eq!(v["queries"][0]["runs"][0]["columns"][0]["type"], "Int64");
    assert_eq!(v["schema_version"], 2);
    let list = stdout(&olap().args(["analyze", "--list"]).output().unwrap());
    assert!(
        olap::query::catalog::CATALOG
            .iter()
            .all(|q| list.contains(q.id))
    );
}

#[test]
fn native_tables_give_the_same_answers() {
    let db = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analyze-native.duckdb");
    let _ = std::fs::remove_file(&db);
    let a = analyze(&["yoy_growth"]);
    let b = analyze(&["yoy_growth", "--load", db.to_str().unwrap()]);
    assert_eq!(rows(&a, 0), rows(&b, 0));
    assert!(db.exists());
}

#[test]
fn bad_input_gets_one_clear_line() {
    let t = tempfile::tempdir().unwrap();
    let csv_less = t.path().join("pq");
    generate(&csv_less, 2_000, &[]);
    let f = fixture().to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["revenue_by_regoin_year", "--data-dir", &f],
            2,
            "did you mean \"revenue_by_region_year\"",
        ),
        (vec!["nonsense", "--data-dir", &f], 2, "unknown query id"),
        (vec!["--param", "year", "--data-dir", &f], 2, "name=value"),
        (
            vec!["--param", "yeer=2022", "--data-dir", &f],
            2,
            "did you mean \"year\"",
        ),
        (vec!["--param", "quarter=9", "--data-dir", &f], 2, "1..=4"),
        (
            vec![
                "category_by_quarter",
                "--param",
                "year=2030",
                "--execute",
                "--data-dir",
                &f,
            ],
            2,
            "outside the data set",
        ),
        (
            vec!["yoy_growth", "--param", "year=2022", "--data-dir", &f],
            2,
            "no selected query takes --param year",
        ),
        (
            vec!["--sql", "SELEC 1", "--execute", "--data-dir", &f],
            2,
            "syntax error",
        ),
        (
            vec![
                "--sql",
                "SELECT nope FROM sales_fact",
                "--execute",
                "--data-dir",
                &f,
            ],
            2,
            "nope",
        ),
        (vec!["--data-dir", "/nonexistent/olap"], 2, "olap generate"),
        (
            vec!["--storage", "csv", "--data-dir", csv_less.to_str().unwrap()],
            2,
            "no csv files",
        ),
        (
            vec![
                "column_io",
                "--execute",
                "--data-dir",
                csv_less.to_str().unwrap(),
            ],
            2,
            "needs csv files",
        ),
        (
            vec!["--threads", "0", "--data-dir", &f],
            2,
            "between 1 and 1024",
        ),
        (
            vec!["--memory-limit", "lots", "--execute", "--data-dir", &f],
            2,
            "--memory-limit",
        ),
    ];
    for (args, code, msg) in cases {
        assert_refused(
            olap().arg("analyze").args(&args),
            &format!("{args:?}"),
            code,
            msg,
        );
    }
}

#[test]
fn a_year_filter_skips_at_least_80_percent_on_a_ten_year_span() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("decade");
    generate(
        &dir,
        120_000,
        &["--start-date", "2014-01-01", "--end-date", "2023-12-31"],
    );
    let o = olap()
        .args([
            "analyze",
            "partition_pruning",
            "--profile",
            "--format",
            "json",
        ])
        .args(["--param", "year=2020", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &v["queries"][0]["runs"][1];
    assert_eq!(run["variant"], "year filter");
    assert_eq!(run["profile"]["partitions_scanned"], 4);
    assert_eq!(run["profile"]["partitions_total"], 40);
    let checks = v["queries"][0]["checks"].as_array().unwrap();
    let target = checks
        .iter()
        .find(|c| c["name"] == "year filter skips ≥ 80% of partitions")
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(target["passed"], true, "{target}");
    assert!(
        target["detail"]
            .as_str()
            .unwrap()
            .starts_with("90.0% skipped")
    );
}

#[test]
fn adhoc_results_stream_and_the_display_stops_at_its_rows() {
    let all = "SELECT * FROM sales_fact";
    let run = |format: &str| {
        let o = olap()
            .args(["analyze", "--sql", all, "--execute", "--format", format])
            .arg("--data-dir")
            .arg(fixture())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let table = run("table");
    assert!(table.contains("first rows in"), "{table}");
    assert!(table.contains("the query was stopped there"), "{table}");
    // CSV: a header and every row, streamed.
    let csv = run("csv");
    assert_eq!(csv.lines().count(), 60_000 + 1);
    assert!(
        csv.starts_with("transaction_id,line_item_id,date,"),
        "{}",
        &csv[..80]
    );
    // JSON: analyze's own document, every row streamed into it, typed.
    let v: Value = serde_json::from_str(&run("json")).unwrap();
    let r = &v["queries"][0]["runs"][0];
    assert_eq!(r["result_rows"], 60_000);
    assert_eq!(r["complete"], true);
    assert_eq!(r["rows"].as_array().unwrap().len(), 60_000);
    assert!(r["rows"][0][0].is_number() && r["columns"][0]["name"] == "transaction_id");
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["fact_rows"], 60_000);
    // A small result is read whole and says how many rows it has.
    let o = olap()
        .args([
            "analyze",
            "--sql",
            "SELECT count(*) AS n FROM dim_payment",
            "--execute",
        ])
        .arg("--data-dir")
        .arg(fixture())
        .output()
        .unwrap();
    assert!(stdout(&o).contains("result: 1 row"), "{}", stdout(&o));
    // CSV of the catalog needs one query.
    assert_refused(
        olap()
            .args(["analyze", "--format", "csv", "--data-dir"])
            .arg(fixture()),
        "csv of the whole catalog",
        2,
        "one query id",
    );
}

/// The first run of each query in an `analyze --format json` report, by id.
fn runs_by_id(v: &Value) -> BTreeMap<String, Value> {
    v["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["id"].as_str().unwrap().to_string(), q["runs"][0].clone()))
        .collect()
}

/// The partition-filtered ad-hoc questions' profiles report their pruning
/// (4 of 12 partitions for a year, 1 for a quarter).
fn assert_adhoc_pruned(runs: &BTreeMap<String, Value>, how: &str) {
    for (id, scanned) in [("adhoc_category_quarter", 4), ("adhoc_region_q4", 1)] {
        let p = &runs[id]["profile"];
        assert_eq!(p["partitions_scanned"], scanned, "{id} under {how}: {p}");
        assert_eq!(p["partitions_total"], 12);
    }
}

/// The ad-hoc suite under each fact view: the same answers; under `auto`
/// the view follows the plan (join first → one scan per partition,
/// aggregate first → one scan of all files, unless the partitions let
/// DuckDB aggregate in a perfect hash table); partition filters are
/// reported as pruning whichever view reads them.
#[test]
fn adhoc_answers_agree_across_fact_views_and_pruning_is_read_from_the_plan() {
    // As written: the view rule reads the join-first plans (rewritten
    // SQL is covered by `rewritten_sql_answers_as_written`).
    let auto = runs_by_id(&analyze(&[
        "--suite",
        "adhoc",
        "--profile",
        "--rewrite",
        "off",
    ]));
    assert_eq!(auto.len(), olap::query::catalog::ADHOC_SUITE.len());
    let fact_view = |id: &str| auto[id]["fact_view"].as_str().unwrap().to_string();
    assert_eq!(fact_view("adhoc_category_quarter"), "partitions");
    assert_eq!(fact_view("adhoc_region_year"), "partitions");
    // Aggregated before any join, by year and month: over the partitions
    // DuckDB knows their ranges and aggregates in a perfect hash table.
    assert_eq!(fact_view("adhoc_monthly_moving_average"), "partitions");
    assert_eq!(
        auto["adhoc_monthly_moving_average"]["fact_view_reason"],
        "the partitions' constant keys let DuckDB aggregate in a perfect hash table"
    );
    // Aggregated before the join by a key DuckDB hashes either way, or by a
    // partition key into few groups: one scan; by a partition key into many
    // groups: fewer at once per partition.
    let report = analyze(&[
        "partition_pruning",
        "revenue_by_region_year",
        "moving_average",
    ]);
    let catalog = runs_by_id(&report);
    assert_eq!(catalog["partition_pruning"]["fact_view"], "files");
    // A date filter that whole partitions satisfy: over the partitions the
    // optimizer proves it from their statistics instead of testing rows.
    // One that only the year's directories narrow stays on one scan.
    let variant = |name: &str| {
        report["queries"][0]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["variant"] == name)
            .unwrap_or_else(|| panic!("no {name} run"))
            .clone()
    };
    let by_date = variant("date filter (zone maps)");
    assert_eq!(by_date["fact_view"], "partitions", "{by_date}");
    assert_eq!(
        by_date["fact_view_reason"],
        "the date filter holds for whole partitions, which their statistics prove"
    );
    // At its own 60,000 rows a quarter's partition holds too few rows for
    // its scan to pay (engine::DATE_PROVED_MIN_ROWS): one scan of all files.
    let small = analyze_scaled(&["partition_pruning"], 1);
    let small_date = small["queries"][0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["variant"] == "date filter (zone maps)")
        .unwrap()
        .clone();
    assert_eq!(small_date["fact_view"], "files", "{small_date}");
    assert_eq!(variant("year filter")["fact_view"], "files");
    assert_eq!(variant("no filter")["fact_view"], "files");
    assert_eq!(catalog["revenue_by_region_year"]["fact_view"], "files");
    assert_eq!(catalog["moving_average"]["fact_view"], "partitions");
    assert_eq!(
        catalog["moving_average"]["fact_view_reason"],
        "the fact table is aggregated by a partition key into many groups, fewer per partition"
    );
    // Joined first, but to a filtered dim_time: its keys skip the fact's
    // date-ordered row groups, so one scan of all files.
    assert_eq!(fact_view("adhoc_holiday_payments"), "files");
    for mode in ["partitions", "files"] {
        let forced = runs_by_id(&analyze(&[
            "--suite",
            "adhoc",
            "--profile",
            "--fact-view",
            mode,
        ]));
        for (id, run) in &forced {
            assert_eq!(run["fact_view"], mode, "{id}");
            assert_eq!(
                result_text(run),
                result_text(&auto[id]),
                "{id} under {mode}"
            );
        }
        assert_adhoc_pruned(&forced, mode);
    }
    // The text report says which view read the fact table, and why.
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["adhoc_region_q4", "--profile", "--rewrite", "off"])
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(
        text.contains("partitions: scanned 1 of 12 partitions")
            && text.contains(
                "fact view: one scan per partition (the fact table is joined before it is aggregated)"
            ),
        "{text}"
    );
}

/// Eager aggregation (src/query/rewrite/eager.rs): join-first SQL runs with the
/// fact aggregated first when that is the same query, and answers with the
/// same rows, column names and types as `--rewrite off`; partition pruning
/// is still read from the plan of the SQL that ran; the report says what
/// was changed.
#[test]
fn rewritten_sql_answers_as_written() {
    let cases = [
        (
            "SELECT c.customer_id, c.segment, sum(f.revenue) AS revenue
             FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key
             WHERE f.year = 2023
             GROUP BY c.customer_id, c.segment
             ORDER BY revenue DESC, c.customer_id LIMIT 10",
            true,
        ),
        (
            "SELECT g.region, f.quarter, count(*), sum(f.revenue) / count(f.revenue) AS mean,
                    min(f.date), max(f.quantity)
             FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
             WHERE f.year = 2022
             GROUP BY g.region, f.quarter ORDER BY g.region, f.quarter",
            true,
        ),
        (
            "SELECT t.month_name, pm.payment_type, sum(f.profit) AS profit, count(*) AS n
             FROM sales_fact f
             JOIN dim_time t ON f.time_key = t.time_key
             JOIN dim_payment pm ON f.payment_key = pm.payment_key
             WHERE f.date >= DATE '2022-03-01'
             GROUP BY t.month_name, pm.payment_type ORDER BY 1, 2",
            true,
        ),
        (
            "SELECT pm.payment_type, sum(f.revenue) AS revenue
             FROM sales_fact f
             JOIN dim_time t ON f.time_key = t.time_key
             JOIN dim_payment pm ON f.payment_key = pm.payment_key
             WHERE t.is_holiday
             GROUP BY pm.payment_type ORDER BY pm.payment_type",
            // A dimension condition keeps the join first; the payment
            // types are grouped by code.
            true,
        ),
        (
            // Grouped by codes: a LEFT JOIN, the column in HAVING, in an
            // aggregate and under an alias ORDER BY names.
            "SELECT lower(c.segment) AS segment, c.segment AS raw, g.region, max(c.segment) AS top,
                    sum(f.revenue) AS revenue
             FROM sales_fact f LEFT JOIN dim_customer c ON f.customer_key = c.customer_key
             JOIN dim_geography g ON f.geo_key = g.geo_key
             WHERE f.year = 2022 AND g.country <> 'Japan'
             GROUP BY c.segment, g.region HAVING c.segment <> 'Corporate'
             ORDER BY segment DESC, g.region",
            true,
        ),
        (
            // count(DISTINCT key) in bitmaps: several keys (time_key is
            // not dense), beside other aggregates, in HAVING and ORDER BY.
            "SELECT c.segment, count(DISTINCT f.product_key) AS products,
                    count(DISTINCT f.time_key), sum(f.revenue) AS revenue
             FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key
             GROUP BY c.segment HAVING count(DISTINCT f.product_key) > 0
             ORDER BY count(DISTINCT f.time_key) DESC, c.segment",
            true,
        ),
        (
            // Date first: month is derived from date on every row; the
            // partial aggregate groups the dates and derives it from them.
            "SELECT f.year, f.month, sum(f.revenue) AS revenue, count(*) AS n, min(f.quantity) AS least
             FROM sales_fact f WHERE f.quantity > 1 AND f.date >= DATE '2021-03-15'
             GROUP BY f.year, f.month ORDER BY n DESC, f.year, f.month LIMIT 20",
            true,
        ),
        (
            // Nothing matches: 0 either way, not NULL.
            "SELECT count(DISTINCT customer_key) AS customers FROM sales_fact WHERE year = 1990",
            true,
        ),
        (
            // GROUP BY ALL: a shape neither rewrite reads.
            "SELECT g.region, f.month, count(DISTINCT f.customer_key) AS customers
             FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
             WHERE f.year = 2022 GROUP BY ALL ORDER BY ALL",
            false,
        ),
    ];
    for (sql, rewritten) in cases {
        let on = analyze(&["--sql", sql, "--rewrite", "always"]);
        let off = analyze(&["--sql", sql, "--rewrite", "off"]);
        let (a, b) = (&on["queries"][0]["runs"][0], &off["queries"][0]["runs"][0]);
        assert_eq!(a.get("rewrite").is_some(), rewritten, "{sql}: {a}");
        assert_eq!(a.get("rewritten_sql").is_some(), rewritten, "{sql}");
        assert!(b.get("rewrite").is_none(), "{b}");
        assert_eq!(a["columns"], b["columns"], "{sql}");
        assert!(!result_text(a).is_empty(), "{sql}");
        assert_eq!(result_text(a), result_text(b), "{sql}");
    }
    // The ad-hoc suite: the same answers either way; the shapes the rule
    // takes are rewritten, the others run as written.
    // `always`: on this small fixture the default rewrites nothing (see
    // `a_small_question_is_not_rewritten_by_default`).
    let on = runs_by_id(&analyze(&[
        "--suite",
        "adhoc",
        "--profile",
        "--rewrite",
        "always",
    ]));
    let off = runs_by_id(&analyze(&[
        "--suite",
        "adhoc",
        "--profile",
        "--rewrite",
        "off",
    ]));
    for (id, run) in &on {
        assert_eq!(result_text(run), result_text(&off[id]), "{id}");
    }
    let rewritten: Vec<&str> = on
        .iter()
        .filter(|(_, r)| r.get("rewrite").is_some())
        .map(|(id, _)| id.as_str())
        .collect();
    for id in [
        "adhoc_top_customers",
        "adhoc_category_quarter",
        "adhoc_region_q4",
        "adhoc_distinct_customers",
        // Grouped by codes (the last one inside its FROM subquery).
        "adhoc_holiday_payments",
        "adhoc_top_brands_europe",
        "adhoc_current_category",
        "adhoc_category_rank_by_region",
    ] {
        assert!(rewritten.contains(&id), "{id} not in {rewritten:?}");
    }
    // At this size the fact's rows per customer make eager aggregation pay
    // for the segments; at 10M rows they are grouped by code.
    assert!(
        on["adhoc_category_rank_by_region"]["rewrite"]
            .as_str()
            .is_some_and(|n| n.starts_with("grouped by codes: dim_geography.region (5 values)")),
        "{}",
        on["adhoc_category_rank_by_region"]
    );
    // The monthly totals under its window: aggregated by date first, in
    // the FROM subquery.
    assert!(
        on["adhoc_monthly_moving_average"]["rewrite"]
            .as_str()
            .is_some_and(|n| n.starts_with("date first: sales_fact aggregated by date, then")),
        "{}",
        on["adhoc_monthly_moving_average"]
    );
    assert_adhoc_pruned(&on, "--rewrite always");
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["adhoc_region_q4", "--rewrite", "always"])
        .output()
        .unwrap();
    let note = "rewritten: eager aggregation: sales_fact aggregated by geo_key before the join to dim_geography (--rewrite off runs it as written)";
    // (The note names `off`, the way back to the SQL as written.)
    let plan = stdout(&o);
    assert!(
        plan.contains(note) && plan.contains("GROUP BY f.geo_key"),
        "{plan}"
    );
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["adhoc_region_q4", "--profile", "--rewrite", "always"])
        .output()
        .unwrap();
    let profiled = stdout(&o);
    assert!(
        profiled.contains(note) && profiled.contains("partitions: scanned 1 of 12 partitions"),
        "{profiled}"
    );
}

/// Every operator name of a profile's plan, depth first (the profile's
/// operators nest as a plan's do: `query::explain` walks both).
fn profiled_operators(run: &Value) -> Vec<String> {
    use olap::query::explain::{name, operators};
    let roots = run["profile"]["operators"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    operators(&roots)
        .into_iter()
        .map(|n| name(n).to_string())
        .collect()
}

#[test]
fn many_groups_by_a_key_are_indexed_in_a_perfect_hash_table_with_the_same_answer() {
    // 5,000 customers: keys of 13 bits, more than DuckDB's default 12, and
    // 60,000 fact rows, more than the 8,192 slots of that table.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 60_000, &["--customers", "5000"]);
    let run = |sql: &str, extra: &[&str]| -> Value {
        let o = olap()
            .arg("analyze")
            .arg("--data-dir")
            .arg(&dir)
            .args(["--sql", sql, "--execute", "--profile", "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["queries"][0]["runs"][0].clone()
    };
    let by_customer = "SELECT customer_key, sum(revenue) AS revenue, count(*) AS n FROM sales_fact \
                       GROUP BY customer_key ORDER BY revenue DESC, customer_key LIMIT 10";
    let keyed = run(by_customer, &[]);
    assert_eq!(keyed["fact_view"], "keyed", "{keyed}");
    let ops = profiled_operators(&keyed);
    assert!(ops.iter().any(|o| o == "PERFECT_HASH_GROUP_BY"), "{ops:?}");
    // The same answer as one plain scan of all files, which hashes.
    let files = run(by_customer, &["--fact-view", "files"]);
    assert_eq!(files["fact_view"], "files");
    assert!(
        profiled_operators(&files)
            .iter()
            .any(|o| o == "HASH_GROUP_BY"),
        "{files}"
    );
    assert_eq!(result_text(&keyed), result_text(&files));
    // Every group, not only the top: the whole answer is the same.
    let all = "SELECT customer_key, sum(revenue) AS revenue, min(date) AS first, count(*) AS n \
               FROM sales_fact GROUP BY customer_key ORDER BY customer_key";
    let (k, f) = (run(all, &[]), run(all, &["--fact-view", "files"]));
    assert_eq!(k["fact_view"], "keyed");
    assert_eq!(k["result_rows"], f["result_rows"]);
    assert_eq!(result_text(&k), result_text(&f));
    // A handful of groups (20 payment types) is as fast hashed: no keyed view.
    let few = run(
        "SELECT payment_key, sum(revenue) AS revenue FROM sales_fact GROUP BY payment_key ORDER BY payment_key",
        &[],
    );
    assert_eq!(few["fact_view"], "files", "{few}");
    // A question that reads fewer rows than the table has slots (one
    // quarter: ~5,000 rows for 8,192 slots) hashes them.
    let quarter = run(
        "SELECT customer_key, sum(revenue) AS revenue FROM sales_fact WHERE year = 2022 AND quarter = 1 \
         GROUP BY customer_key ORDER BY customer_key",
        &[],
    );
    assert_ne!(quarter["fact_view"], "keyed", "{quarter}");
}

#[test]
fn a_key_each_partition_holds_its_own_range_of_is_aggregated_per_partition_with_the_same_answer() {
    // Transactions are numbered in date order, so each partition (year,
    // quarter) holds its own range of transaction_id; customers span them.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 300_000, &[]);
    let run = |sql: &str, extra: &[&str]| -> Value {
        let o = olap()
            .arg("analyze")
            .arg("--data-dir")
            .arg(&dir)
            .args([
                "--sql",
                sql,
                "--execute",
                "--profile",
                "--format",
                "json",
                "-v",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let mut run = v["queries"][0]["runs"][0].clone();
        run["stderr"] = Value::String(stderr(&o));
        run
    };
    let basket = "SELECT c.channel, count(*) AS baskets, avg(b.basket) AS avg_basket FROM ( \
                  SELECT transaction_id, customer_key, sum(revenue) AS basket FROM sales_fact \
                  GROUP BY transaction_id, customer_key) b \
                  JOIN dim_customer c ON b.customer_key = c.customer_key GROUP BY c.channel ORDER BY c.channel";
    let split = run(basket, &[]);
    assert_eq!(split["fact_view"], "partitions", "{split}");
    assert!(
        split["stderr"]
            .as_str()
            .unwrap()
            .contains("a key each partition holds a range of its own of"),
        "{split}"
    );
    let files = run(basket, &["--fact-view", "files"]);
    assert_eq!(files["fact_view"], "files");
    assert_eq!(result_text(&split), result_text(&files));
    // Every customer buys in many quarters: no split, one scan of all files.
    let by_customer = run(
        "SELECT customer_key, count(*) AS n FROM sales_fact GROUP BY customer_key ORDER BY n DESC, customer_key LIMIT 5",
        &[],
    );
    assert!(
        !by_customer["stderr"]
            .as_str()
            .unwrap()
            .contains("a range of its own"),
        "{by_customer}"
    );
}

#[test]
fn a_window_over_a_hive_filtered_aggregate_sums_only_the_rows_kept() {
    // DuckDB 2.0's window_self_join copies a Hive scan without its filter on
    // the Hive column; olap turns that optimizer off (engine::HIVE_SAFE_OPTIMIZERS).
    let sub = "SELECT f.month AS g0, f.geo_key AS g1, sum(f.quantity) AS a0 FROM sales_fact f \
               WHERE f.year >= 2022 GROUP BY f.month, f.geo_key HAVING count(*) > 1";
    let windowed = format!(
        "SELECT g0, min(w0) AS lo, max(w0) AS hi FROM (SELECT *, sum(a0) OVER (PARTITION BY g0) AS w0 \
         FROM ({sub}) s) x GROUP BY g0 ORDER BY g0"
    );
    let summed = format!("SELECT g0, sum(a0) AS total FROM ({sub}) s GROUP BY g0 ORDER BY g0");
    let rows = |sql: &str, view: &str| {
        result_text(&analyze(&["--sql", sql, "--fact-view", view])["queries"][0]["runs"][0])
    };
    let want = rows(&summed, "partitions");
    assert_eq!(want.len(), 12, "{want:?}");
    for view in ["files", "partitions", "auto"] {
        let got = rows(&windowed, view);
        let got: Vec<Vec<String>> = got
            .into_iter()
            .map(|r| {
                assert_eq!(r[1], r[2], "{view}: one sum per month");
                vec![r[0].clone(), r[1].clone()]
            })
            .collect();
        assert_eq!(got, want, "{view}");
    }
}

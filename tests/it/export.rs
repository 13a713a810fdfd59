//! `olap export`: the script another engine runs over the data set. The
//! DuckDB dialect is executed here, in a fresh DuckDB, and must give olap's
//! answers; the Spark dialect is checked for its shape here and run by
//! scripts/check_with_spark.py in CI.

use std::collections::BTreeMap;

use crate::common::*;

const MARK: &str = "-- query: ";

/// (label, SQL) of each statement; label `None` for DDL.
fn statements(script: &str) -> Vec<(Option<String>, String)> {
    script
        .split(";\n")
        .filter_map(|chunk| {
            let label = chunk
                .lines()
                .find_map(|l| l.strip_prefix(MARK))
                .map(|l| l.trim().to_string());
            let sql: Vec<&str> = chunk.lines().filter(|l| !l.starts_with("--")).collect();
            let sql = sql.join("\n").trim().to_string();
            (!sql.is_empty()).then_some((label, sql))
        })
        .collect()
}

fn export(dir: &std::path::Path, dialect: &str) -> String {
    let o = olap()
        .args(["export", "--dialect", dialect, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// A value as text, numbers to the cent.
fn cell(v: &duckdb::types::Value) -> String {
    use duckdb::types::Value::*;
    match v {
        Null => "NULL".into(),
        Boolean(b) => b.to_string(),
        TinyInt(n) => n.to_string(),
        SmallInt(n) => n.to_string(),
        Int(n) => n.to_string(),
        BigInt(n) => n.to_string(),
        HugeInt(n) => n.to_string(),
        UTinyInt(n) => n.to_string(),
        USmallInt(n) => n.to_string(),
        UInt(n) => n.to_string(),
        UBigInt(n) => n.to_string(),
        Float(f) => format!("{f:.2}"),
        Double(f) => format!("{f:.2}"),
        Decimal(d) => format!("{:.2}", d.to_string().parse::<f64>().unwrap()),
        Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn as_cents(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| match (c.contains('.'), c.parse::<f64>()) {
                    (true, Ok(f)) => format!("{f:.2}"),
                    _ => c,
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_duckdb_export_run_in_a_fresh_duckdb_gives_olaps_answers() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(
        &dir,
        30_000,
        &["--format", "both", "--partition-by", "year,month"],
    );
    let o = olap()
        .args(["analyze", "--execute", "--format", "json", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut want = BTreeMap::new();
    for q in v["queries"].as_array().unwrap() {
        for run in q["runs"].as_array().unwrap() {
            if run["storage"] == "parquet" {
                let label = format!(
                    "{} | {}",
                    q["id"].as_str().unwrap(),
                    run["variant"].as_str().unwrap()
                );
                want.insert(label, as_cents(result_text(run)));
            }
        }
    }
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let mut checked = 0;
    for (label, sql) in statements(&export(&dir, "duckdb")) {
        let Some(label) = label else {
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            continue;
        };
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut got = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            let n = r.as_ref().column_count();
            got.push(
                (0..n)
                    .map(|i| cell(&r.get::<_, duckdb::types::Value>(i).unwrap()))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(Some(&got), want.get(&label), "{label}");
        checked += 1;
    }
    assert_eq!(
        checked,
        want.len(),
        "every catalog query and variant was exported"
    );
}

#[test]
fn the_spark_export_declares_partitions_and_every_catalog_query() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 5_000, &[]);
    let script = export(&dir, "spark");
    assert!(
        script.contains("PARTITIONED BY (year, quarter)"),
        "{script}"
    );
    assert!(script.contains("ALTER TABLE sales_fact_files RECOVER PARTITIONS;"));
    // month is not in the layout: the view derives it, as olap's does.
    assert!(
        script.contains("CAST(month(date) AS INT) AS month"),
        "{script}"
    );
    let abs = std::fs::canonicalize(&dir).unwrap();
    assert!(script.contains(&format!("LOCATION '{}/parquet/sales_fact'", abs.display())));
    let labels: Vec<String> = statements(&script)
        .into_iter()
        .filter_map(|(l, _)| l)
        .collect();
    let list = olap()
        .args(["analyze", "--list", "--format", "json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let expected: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["suite"] == "catalog")
        .flat_map(|q| {
            q["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| format!("{} | {}", q["id"].as_str().unwrap(), v.as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(labels, expected);
    assert!(!script.contains("::"), "no DuckDB casts left");
    assert_refused(
        olap().args(["export", "--dialect", "oracle"]),
        "an unknown dialect",
        2,
        "oracle",
    );
}

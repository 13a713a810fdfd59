//! `olap generate`: layout, manifest, determinism, formats, invariants, bad input.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};
use olap::model::Table;
use olap::query::engine::{Engine, EngineConfig};
use olap::storage::FileFormat;
use olap::storage::dataset::DataSet;
use olap::storage::read::{file_checksum, file_hash};

use crate::common::*;

fn engine(dir: &std::path::Path, storage: FileFormat) -> Engine {
    let ds = std::sync::Arc::new(DataSet::open(dir).unwrap());
    Engine::open(&ds, EngineConfig::new(storage, 2)).unwrap()
}

fn scalar_i64(e: &Engine, sql: &str) -> i64 {
    let b = e.query(sql).unwrap_or_else(|err| panic!("{sql}: {err:#}"));
    let c = b[0].column(0);
    c.as_primitive_opt::<Int64Type>()
        .map(|a| a.value(0))
        .unwrap_or_else(|| {
            arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0)
        })
}

fn scalar_f64(e: &Engine, sql: &str) -> f64 {
    let b = e.query(sql).unwrap_or_else(|err| panic!("{sql}: {err:#}"));
    let c = arrow::compute::cast(b[0].column(0), &arrow::datatypes::DataType::Float64).unwrap();
    c.as_primitive::<Float64Type>().value(0)
}

#[test]
fn layout_and_manifest_describe_the_files() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let m = generate(&dir, 20_000, &["--format", "both"]);
    assert_eq!(
        m.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        Table::ALL.map(|t| t.name())
    );
    let fact = m.table(Table::SalesFact).unwrap();
    assert_eq!(fact.rows, 20_000);
    assert_eq!(fact.files_of(FileFormat::Parquet).count(), 12);
    assert_eq!(fact.files_of(FileFormat::Csv).count(), 12);
    let files = tree(&dir);
    assert!(files.contains(&"manifest.json".into()));
    assert!(files.contains(&"parquet/sales_fact/year=2021/quarter=1/part-00000.parquet".into()));
    assert!(files.contains(&"csv/sales_fact/year=2023/quarter=4/part-00000.csv".into()));
    assert!(files.contains(&"parquet/dim_product/dim_product.parquet".into()));
    // The manifest lists exactly the data files, with true sizes and hashes.
    let listed: Vec<_> = m.tables.iter().flat_map(|t| t.files.iter()).collect();
    // Besides the data files: the manifest itself and the verification stamp.
    assert!(files.contains(&".olap-verified.json".into()));
    assert_eq!(
        listed.len() + 2,
        files.len(),
        "manifest lists every file but itself and the stamp"
    );
    for f in listed {
        let (bytes, hash) = file_hash(&dir.join(&f.path)).unwrap();
        assert_eq!(bytes, f.bytes, "{}", f.path);
        assert_eq!(format!("{hash:016x}"), f.xxh3, "{}", f.path);
    }
    // Partition rows are sorted by date within each file.
    let e = engine(&dir, FileFormat::Parquet);
    let glob = dir.join("parquet/sales_fact/*/*/*.parquet");
    let unsorted = format!(
        "SELECT count(*) FROM (SELECT date < lag(date) OVER (PARTITION BY filename ORDER BY file_row_number) AS back \
         FROM read_parquet('{}', filename = true, file_row_number = true)) WHERE back",
        glob.display()
    );
    assert_eq!(scalar_i64(&e, &unsorted), 0);
    // No temporary directories are left next to the output.
    let siblings = entries_without_locks(t.path());
    assert_eq!(siblings, vec![std::ffi::OsString::from("data")]);
}

#[test]
fn same_data_for_any_thread_count_row_group_size_and_part_split() {
    let t = tempfile::tempdir().unwrap();
    let whole = generate(&t.path().join("one"), 30_000, &["--threads", "1"]);
    let two = generate(
        &t.path().join("two"),
        30_000,
        &["--threads", "2", "--row-group-size", "1500"],
    );
    assert_eq!(checksums(&whole), checksums(&two));
    // Three parts into one shared directory: the last part writes the manifest.
    let shared = t.path().join("shared");
    for part in ["2", "3", "1"] {
        let out = olap()
            .args([
                "generate",
                "--rows",
                "30000",
                "--parts",
                "3",
                "--part",
                part,
                "--output-dir",
            ])
            .arg(&shared)
            .args(SMALL)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let complete = shared.join("manifest.json").exists();
        assert_eq!(
            complete,
            part == "1",
            "manifest.json only once all parts are in"
        );
    }
    let merged = olap::storage::manifest::Manifest::load(&shared).unwrap();
    assert_eq!(checksums(&whole), checksums(&merged));
    // The last part also stamps every file as verified, like a single run.
    let stamp = std::fs::read_to_string(shared.join(".olap-verified.json")).unwrap();
    for f in merged.tables.iter().flat_map(|t| &t.files) {
        assert!(stamp.contains(&f.path), "{} not stamped", f.path);
    }
    // 12 partitions, two of them cut by a part boundary.
    assert_eq!(merged.table(Table::SalesFact).unwrap().files.len(), 14);
    // And the merged data set reads the same through DuckDB.
    let (a, b) = (
        engine(&t.path().join("one"), FileFormat::Parquet),
        engine(&shared, FileFormat::Parquet),
    );
    let q = "SELECT sum(revenue)::VARCHAR || '/' || count(*) || '/' || sum(transaction_id) FROM sales_fact";
    let s = |e: &Engine| {
        e.query(q).unwrap()[0]
            .column(0)
            .as_string::<i32>()
            .value(0)
            .to_string()
    };
    assert_eq!(s(&a), s(&b));
    // A different seed gives different data.
    let other = generate(&t.path().join("seed"), 30_000, &["--seed", "7"]);
    assert_ne!(checksums(&whole)[5], checksums(&other)[5]);
}

#[test]
fn csv_and_parquet_hold_the_same_rows() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let m = generate(
        &dir,
        15_000,
        &["--format", "both", "--partition-by", "year,month"],
    );
    for table in &m.tables {
        let kind = Table::from_name(&table.name).unwrap();
        let mut sums: HashMap<FileFormat, (u64, u64)> = HashMap::new();
        for f in &table.files {
            let (rows, sum) = file_checksum(&dir.join(&f.path), f.format, kind).unwrap();
            assert_eq!(rows, f.rows, "{}", f.path);
            assert_eq!(format!("{sum:016x}"), f.content_checksum, "{}", f.path);
            let e = sums.entry(f.format).or_default();
            e.0 += rows;
            e.1 = e.1.wrapping_add(sum);
        }
        assert_eq!(
            sums[&FileFormat::Parquet],
            sums[&FileFormat::Csv],
            "{}",
            table.name
        );
        assert_eq!(
            format!("{:016x}", sums[&FileFormat::Csv].1),
            table.content_checksum
        );
    }
    // Through DuckDB too, with hive partition columns from the directories.
    let (p, c) = (
        engine(&dir, FileFormat::Parquet),
        engine(&dir, FileFormat::Csv),
    );
    let q = "SELECT sum(revenue * year * month + profit)::VARCHAR FROM sales_fact";
    let s = |e: &Engine| {
        e.query(q).unwrap()[0]
            .column(0)
            .as_string::<i32>()
            .value(0)
            .to_string()
    };
    assert_eq!(s(&p), s(&c));
    assert_eq!(
        scalar_i64(
            &p,
            "SELECT count(*) FROM sales_fact WHERE year <> year(date) OR month <> month(date) OR quarter <> quarter(date)"
        ),
        0
    );
}

#[test]
fn invariants_hold_in_duckdb() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 200_000, &[]);
    let e = engine(&dir, FileFormat::Parquet);
    let zero = |what: &str, sql: &str| assert_eq!(scalar_i64(&e, sql), 0, "{what}: {sql}");
    // Every foreign key resolves.
    zero(
        "time",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_time t USING (time_key)",
    );
    zero(
        "date matches time_key",
        "SELECT count(*) FROM sales_fact f JOIN dim_time t USING (time_key) WHERE f.date <> t.date",
    );
    zero(
        "geography",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_geography g USING (geo_key)",
    );
    zero(
        "product",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_product p USING (product_key)",
    );
    zero(
        "customer",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_customer c USING (customer_key)",
    );
    zero(
        "payment",
        "SELECT count(*) FROM sales_fact f ANTI JOIN dim_payment p USING (payment_key)",
    );
    zero(
        "home city",
        "SELECT count(*) FROM dim_customer c ANTI JOIN dim_geography g ON c.home_geo_key = g.geo_key",
    );
    // The product version of a sale is the one valid on its date.
    zero(
        "scd2 validity",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.date NOT BETWEEN p.effective_date AND p.expiration_date",
    );
    zero(
        "scd2 price",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.unit_price <> p.list_price",
    );
    // SCD2 versions tile time: no gaps, no overlaps, one current version.
    zero(
        "scd2 tiling",
        "SELECT count(*) FROM (SELECT effective_date, lag(expiration_date) OVER w AS prev FROM dim_product WINDOW w AS (PARTITION BY product_id ORDER BY effective_date)) WHERE prev IS NOT NULL AND prev + INTERVAL 1 DAY <> effective_date",
    );
    zero(
        "one current",
        "SELECT count(*) FROM (SELECT product_id FROM dim_product GROUP BY 1 HAVING count(*) FILTER (is_current) <> 1)",
    );
    zero(
        "current is open",
        "SELECT count(*) FROM dim_product WHERE is_current AND expiration_date <> DATE '9999-12-31'",
    );
    // Money arithmetic is exact.
    zero(
        "revenue",
        "SELECT count(*) FROM sales_fact WHERE revenue <> quantity * unit_price - discount_amount",
    );
    zero(
        "profit",
        "SELECT count(*) FROM sales_fact WHERE profit <> revenue - cost",
    );
    zero(
        "cost from product",
        "SELECT count(*) FROM sales_fact f JOIN dim_product p USING (product_key) WHERE f.cost <> f.quantity * p.unit_cost",
    );
    // Line items of a transaction share date, customer, geography, payment.
    zero(
        "transactions",
        "SELECT count(*) FROM (SELECT transaction_id FROM sales_fact GROUP BY 1 HAVING count(DISTINCT (date, customer_key, geo_key, payment_key)) > 1 OR max(line_item_id) <> count(*))",
    );
    zero(
        "in home city",
        "SELECT count(*) FROM sales_fact f JOIN dim_customer c USING (customer_key) WHERE f.geo_key <> c.home_geo_key",
    );
    zero(
        "geo hierarchy",
        "SELECT count(*) FROM (SELECT city FROM dim_geography GROUP BY city HAVING count(DISTINCT (state, country, region)) > 1 UNION ALL SELECT state FROM dim_geography GROUP BY state HAVING count(DISTINCT (country, region)) > 1)",
    );
    // Realistic shape: Pareto products, Q4 peak, weekends, growth.
    let top20 = scalar_f64(
        &e,
        "WITH p AS (SELECT p.product_id, count(*) AS n FROM sales_fact f JOIN dim_product p USING (product_key) GROUP BY 1), r AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS rk, count(*) OVER () AS total FROM p) SELECT sum(n) FILTER (rk <= total * 0.2) / sum(n) FROM r",
    );
    assert!(
        (0.74..=0.86).contains(&top20),
        "top 20% of products sell {top20:.3} of line items"
    );
    let q4 = scalar_f64(
        &e,
        "SELECT sum(revenue) FILTER (quarter = 4) / sum(revenue) FILTER (quarter = 1) FROM sales_fact",
    );
    assert!(q4 > 1.3, "Q4/Q1 revenue {q4:.2}");
    let weekend = scalar_f64(
        &e,
        "SELECT (count(*) FILTER (t.is_weekend) / 2.0) / (count(*) FILTER (NOT t.is_weekend) / 5.0) FROM sales_fact f JOIN dim_time t USING (time_key)",
    );
    assert!(
        weekend > 1.1,
        "weekend/weekday daily line items {weekend:.2}"
    );
    let growth = scalar_f64(
        &e,
        "SELECT sum(revenue) FILTER (year = 2023) / sum(revenue) FILTER (year = 2022) FROM sales_fact",
    );
    assert!(
        (1.05..1.25).contains(&growth),
        "2023/2022 revenue {growth:.3}"
    );
    // Money is DECIMAL(18,2) in Parquet: exact sums.
    let b = e.query("SELECT sum(revenue) FROM sales_fact").unwrap();
    assert!(
        b[0].column(0)
            .as_primitive_opt::<Decimal128Type>()
            .is_some(),
        "sum of DECIMAL stays DECIMAL"
    );
    assert_eq!(b[0].column(0).null_count(), 0);
}

#[test]
fn bad_input_is_refused_with_one_line_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let out_dir = t.path().join("data");
    let cases: &[(&[&str], &str)] = &[
        (&["--rows", "0"], "at least 1 row"),
        (&["--rows", "-5"], "negative"),
        (&["--seed", "-1"], "invalid value"),
        (&["--rows", "abc"], "not a whole number"),
        (&["--rows", "1e30"], "not a whole number"),
        (
            &["--rows", "100B"],
            "more than one run may write (20.00B a part): use --parts 5",
        ),
        (&["--rows", "100000B"], "more than a data set may have"),
        // The cap is per part: 30B rows in 2 parts pass it (and meet the
        // disk-space check instead).
        (&["--rows", "30B", "--parts", "2"], "is free"),
        (
            &[
                "--row-group-size",
                "64M",
                "--format",
                "csv",
                "--threads",
                "8",
            ],
            "of memory in flight",
        ),
        (&["--partition-by", "week"], "unknown partition key"),
        (&["--partition-by", "quarter"], "add year"),
        (&["--partition-by", "year,year"], "listed twice"),
        (&["--parts", "3", "--part", "4"], "outside 1..=3"),
        (&["--part", "0"], "--part"),
        (
            &["--start-date", "2023-01-01", "--end-date", "2022-01-01"],
            "is after",
        ),
        (&["--start-date", "2023-02-30"], "not a date"),
        (&["--customers", "10"], "at least 5000"),
        (&["--threads", "0"], "between 1 and 1024"),
        (&["--compression", "lzma"], "invalid value"),
        (&["--format", "xml"], "invalid value"),
        (&["--row-group-size", "10"], "between 1024"),
        (&["--bogus"], "unexpected argument"),
    ];
    for (args, msg) in cases {
        assert_refused(
            olap()
                .args(["generate", "--rows", "1000"])
                .args(*args)
                .arg("--output-dir")
                .arg(&out_dir),
            &format!("{args:?}"),
            2,
            msg,
        );
        assert!(!out_dir.exists(), "{args:?} must not create anything");
    }
}

#[test]
fn existing_data_is_never_lost() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    let first = generate(&dir, 5_000, &[]);
    // Without --force: refused, untouched.
    let o = olap()
        .args(["generate", "--rows", "6000", "--output-dir"])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        olap::storage::manifest::Manifest::load(&dir).unwrap(),
        first
    );
    // With --force: replaced.
    let second = generate(&dir, 6_000, &["--force"]);
    assert_eq!(second.table(Table::SalesFact).unwrap().rows, 6_000);
    // A directory with someone else's files: refused even with --force.
    let foreign = t.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.tex"), "precious").unwrap();
    let o = olap()
        .args(["generate", "--rows", "1000", "--force", "--output-dir"])
        .arg(&foreign)
        .args(SMALL)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did not write"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(foreign.join("thesis.tex")).unwrap(),
        "precious"
    );
    // A parent that is a file: a clear error.
    let file = t.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let o = olap()
        .args(["generate", "--rows", "1000", "--output-dir"])
        .arg(file.join("data"))
        .args(SMALL)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
}

#[test]
fn json_summary_is_machine_readable() {
    let t = tempfile::tempdir().unwrap();
    let o = olap()
        .args([
            "generate",
            "--rows",
            "3000",
            "--json",
            "--format",
            "both",
            "--output-dir",
        ])
        .arg(t.path().join("d"))
        .args(SMALL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(v["complete"], true);
    assert!(v["csv_to_parquet_ratio"].as_f64().unwrap() > 1.0);
    assert_eq!(v["manifest"]["spec"]["rows"], 3000);
}

#[test]
fn verbose_shows_each_stage_and_quiet_shows_nothing_on_stderr() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("d");
    let o = olap()
        .args(["-v", "generate", "--rows", "20000", "--output-dir"])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for stage in [
        "staged in",
        "dimensions built in",
        "files written in",
        "committed in",
    ] {
        assert!(err.contains(stage), "-v shows {stage:?}: {err}");
    }
    let o = olap()
        .args([
            "generate",
            "-q",
            "--force",
            "--rows",
            "20000",
            "--output-dir",
        ])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(stderr(&o), "", "-q: nothing on stderr");
    assert!(
        stdout(&o).contains("data set written"),
        "results still print"
    );
}

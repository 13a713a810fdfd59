//! EXPLAIN ANALYZE profiling, read from DuckDB's JSON.
//!
//! DuckDB 2.0 groups its metrics (`query.total_time`, `query.total_rows_scanned`,
//! `io.total_bytes_read`, `system.peak_buffer_memory`, and per operator `type`,
//! `timing`, `intermediate_rows`, `extra_info`); DuckDB 1.x used flat names
//! (`latency`, `cumulative_rows_scanned`, `operator_type`, `operator_timing`,
//! `operator_cardinality`). Both are read, 2.0 first. Files and partitions
//! scanned come from the fact scans' `Scanning Files` / `Total Files Read` and
//! file names, against the totals in the manifest.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use arrow::array::AsArray;
use duckdb::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::atomic::{AtomicU64, Ordering};

use super::execute::{Execution, execute};
use super::sql::{query, quote};
use crate::storage::layout::{fact_partition, partition_dir, partition_values};

/// DuckDB's extra-info keys of a file scan.
const FILENAMES: &str = "Filename(s)";
const SCANNING_FILES: &str = "Scanning Files";
const TOTAL_FILES_READ: &str = "Total Files Read";

/// One operator of the executed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub name: String,
    pub timing_ms: f64,
    /// Rows the operator produced.
    pub rows: u64,
    /// DuckDB's extra info (filters, projections, join conditions...), flattened to text.
    pub details: BTreeMap<String, String>,
    pub children: Vec<Operator>,
}

impl Operator {
    pub fn is_window(&self) -> bool {
        self.name.contains("WINDOW")
    }
    pub fn is_scan(&self) -> bool {
        self.name.contains("SCAN")
    }
    /// The table a scan reads, from its file names ("sales_fact", "dim_time").
    pub fn scan_table(&self) -> Option<String> {
        let files = self.details.get(FILENAMES)?;
        let first = files.split(", ").next().unwrap_or("");
        let table = first
            .split('/')
            .rev()
            .find(|seg| seg.starts_with("sales_fact") || seg.starts_with("dim_"))
            .unwrap_or(first);
        Some(
            table
                .trim_end_matches(".parquet")
                .trim_end_matches(".csv")
                .to_string(),
        )
    }

    /// The Hive partition a fact scan reads, when it reads one
    /// ("year=2023 quarter=4").
    pub fn scan_partition(&self) -> Option<String> {
        let files = self.details.get(FILENAMES)?;
        let dirs: BTreeSet<&str> = files.split(", ").map(|f| partition_dir(f.trim())).collect();
        let [dir] = dirs.into_iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let keys = partition_values(dir);
        (!keys.is_empty()).then(|| {
            keys.iter()
                .map(|(k, v)| format!("{}={v}", k.name()))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Files a scan read: "4/12" (of those it could read) or "12".
    pub fn scan_files(&self) -> Option<&str> {
        self.details
            .get(SCANNING_FILES)
            .or_else(|| self.details.get(TOTAL_FILES_READ))
            .map(|s| s.as_str())
    }

    /// A scan's filters: (label, text) of the file (Hive) and row filters.
    pub fn scan_filters(&self) -> Vec<(&'static str, &str)> {
        [("file filters", "File Filters"), ("filters", "Filters")]
            .into_iter()
            .filter_map(|(label, k)| self.details.get(k).map(|v| (label, v.as_str())))
            .collect()
    }

    /// A projection that only passes rows on (one input, under 0.5% of the
    /// query's `total_ms`): plan renderings show its input in its place.
    pub fn is_pass_through(&self, total_ms: f64) -> bool {
        self.name == "PROJECTION" && self.children.len() == 1 && self.timing_ms <= total_ms * 0.005
    }

    /// All operators of the subtree, depth first.
    pub fn walk(&self) -> Vec<&Operator> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// What a profile says about one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// DuckDB's own time for the query (excludes result transfer).
    pub total_ms: f64,
    pub cpu_ms: Option<f64>,
    pub rows_scanned: Option<u64>,
    pub bytes_read: Option<u64>,
    pub row_groups_scanned: Option<u64>,
    pub row_groups_to_scan: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    /// Fact-table files read, and files in the data set.
    pub fact_files_scanned: Option<u64>,
    pub fact_files_total: u64,
    /// Hive partitions (directories) read, and in the data set.
    pub partitions_scanned: Option<u64>,
    pub partitions_total: u64,
    /// The partitions read, as the data set names them ("year=2023/quarter=4"),
    /// when the plan lists every file it read.
    #[serde(default)]
    pub scanned_partitions: Vec<String>,
    /// The plan below DuckDB's wrapper operators.
    pub operators: Vec<Operator>,
    /// Window operators of the plan (name, ms, rows).
    pub window_operators: Vec<(String, f64, u64)>,
}

impl Profile {
    /// Share of the data set's partitions skipped.
    pub fn pruned_share(&self) -> Option<f64> {
        let scanned = self.partitions_scanned?;
        (self.partitions_total > 0).then(|| 1.0 - scanned as f64 / self.partitions_total as f64)
    }

    /// "scanned 1 of 12 partitions (91.7% pruned)".
    pub fn pruning_line(&self) -> Option<String> {
        let scanned = self.partitions_scanned?;
        Some(format!(
            "scanned {scanned} of {} partitions ({:.1}% pruned)",
            self.partitions_total,
            100.0 * self.pruned_share().unwrap_or(0.0)
        ))
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `obj.group.key` (2.0) or `obj.flat` (1.x).
fn metric(root: &Value, group: &str, key: &str, flat: &str) -> Option<f64> {
    root.get(group)
        .and_then(|g| g.get(key))
        .and_then(num)
        .or_else(|| root.get(flat).and_then(num))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn operator(v: &Value) -> Operator {
    let name = v
        .get("type")
        .or_else(|| v.get("operator_type"))
        .or_else(|| v.get("operator_name"))
        .map(text)
        .unwrap_or_default();
    let timing = v
        .get("timing")
        .or_else(|| v.get("operator_timing"))
        .and_then(num)
        .unwrap_or(0.0);
    let rows = v
        .get("intermediate_rows")
        .or_else(|| v.get("operator_cardinality"))
        .and_then(num)
        .unwrap_or(0.0);
    let details = v
        .get("extra_info")
        .and_then(|e| e.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let children = v
        .get("children")
        .and_then(|c| c.as_array())
        .map(|a| a.iter().map(operator).collect())
        .unwrap_or_default();
    Operator {
        name,
        timing_ms: timing * 1e3,
        rows: rows as u64,
        details,
        children,
    }
}

/// Wrapper operators DuckDB puts around every plan.
const WRAPPERS: [&str; 4] = ["RESULT_COLLECTOR", "EXECUTE", "EXPLAIN_ANALYZE", "QUERY"];

fn strip_wrappers(ops: Vec<Operator>) -> Vec<Operator> {
    let mut ops = ops;
    while ops.len() == 1 && WRAPPERS.contains(&ops[0].name.as_str()) {
        ops = std::mem::take(&mut ops[0].children);
    }
    ops
}

/// Totals of the data set the profile is measured against.
#[derive(Debug, Clone, Copy, Default)]
pub struct DataSetShape {
    pub fact_files: u64,
    pub partitions: u64,
}

/// Parses DuckDB's EXPLAIN (ANALYZE, FORMAT json) output.
pub fn parse(json: &str, shape: DataSetShape) -> Result<Profile> {
    let root: Value = serde_json::from_str(json).context("DuckDB's profile is not JSON")?;
    let root = if let Value::Array(a) = &root {
        a.first().cloned().unwrap_or(Value::Null)
    } else {
        root
    };
    let ops_json = root
        .get("operator")
        .or_else(|| root.get("children"))
        .cloned()
        .unwrap_or(Value::Null);
    let ops: Vec<Operator> = match ops_json {
        Value::Array(a) => a.iter().map(operator).collect(),
        Value::Object(_) => vec![operator(&ops_json)],
        _ => Vec::new(),
    };
    let operators = strip_wrappers(ops);
    let all: Vec<&Operator> = operators.iter().flat_map(|o| o.walk()).collect();
    let mut fact_files: Option<u64> = None;
    let mut partitions: BTreeSet<String> = BTreeSet::new();
    let mut listed = 0u64;
    let mut saw_fact = false;
    for op in all.iter().filter(|o| o.is_scan()) {
        let files = op.details.get(FILENAMES).cloned().unwrap_or_default();
        if !files.contains("sales_fact") {
            continue;
        }
        saw_fact = true;
        let read = op
            .details
            .get(SCANNING_FILES)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .or_else(|| {
                op.details
                    .get(TOTAL_FILES_READ)
                    .and_then(|s| s.trim().parse().ok())
            });
        if let Some(n) = read {
            *fact_files.get_or_insert(0) += n;
        }
        for f in files.split(", ").filter(|f| f.contains("sales_fact")) {
            listed += 1;
            let dir = partition_dir(f.trim());
            partitions.insert(dir.to_string());
        }
    }
    // DuckDB lists only the first few file names of a large scan: when the list
    // is short, count partitions from the files read (files per partition are
    // even: one per partition and part).
    let partitions_scanned = match fact_files {
        Some(n) if listed < n && shape.fact_files > 0 => (n * shape.partitions)
            .div_ceil(shape.fact_files)
            .min(shape.partitions),
        _ => partitions.len() as u64,
    };
    let scanned_partitions = if listed >= fact_files.unwrap_or(0) {
        partitions
            .iter()
            .filter_map(|d| fact_partition(d).map(str::to_string))
            .collect()
    } else {
        Vec::new()
    };
    let window_operators = all
        .iter()
        .filter(|o| o.is_window())
        .map(|o| (o.name.clone(), o.timing_ms, o.rows))
        .collect();
    let as_u64 = |x: Option<f64>| x.map(|v| v as u64);
    Ok(Profile {
        total_ms: metric(&root, "query", "total_time", "latency").unwrap_or(0.0) * 1e3,
        cpu_ms: metric(&root, "query", "cpu_time", "cpu_time").map(|s| s * 1e3),
        rows_scanned: as_u64(metric(
            &root,
            "query",
            "total_rows_scanned",
            "cumulative_rows_scanned",
        )),
        bytes_read: as_u64(metric(&root, "io", "total_bytes_read", "total_bytes_read")),
        row_groups_scanned: as_u64(metric(
            &root,
            "query",
            "total_row_groups_scanned",
            "total_row_groups_scanned",
        )),
        row_groups_to_scan: as_u64(metric(
            &root,
            "query",
            "total_row_groups_to_scan",
            "total_row_groups_to_scan",
        )),
        peak_memory_bytes: as_u64(metric(
            &root,
            "system",
            "peak_buffer_memory",
            "system_peak_buffer_memory",
        )),
        fact_files_scanned: if saw_fact { fact_files } else { None },
        fact_files_total: shape.fact_files,
        partitions_scanned: (saw_fact && shape.partitions > 0).then_some(partitions_scanned),
        partitions_total: shape.partitions,
        scanned_partitions,
        operators,
        window_operators,
    })
}

/// Runs `EXPLAIN (ANALYZE, FORMAT json)` of `sql` and parses it.
/// Executes `sql` once with DuckDB's profiler on and returns that
/// execution (its wall latency and result) with its own profile: one
/// execution, one profile. DuckDB writes the profile (the same JSON as
/// `EXPLAIN (ANALYZE, FORMAT json)`) to a file when the query ends.
pub fn execute_profiled(
    conn: &Connection,
    sql: &str,
    shape: DataSetShape,
) -> Result<(Execution, Profile)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "olap-profile-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let quoted = quote(&path.to_string_lossy());
    conn.execute_batch(&format!(
        "SET enable_profiling = 'json'; SET profiling_output = {quoted};"
    ))?;
    let exec = execute(conn, sql);
    let off = conn.execute_batch("SET enable_profiling = 'no_output'; RESET profiling_output;");
    let text = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let exec = exec?;
    off?;
    let text = text.with_context(|| format!("reading DuckDB's profile {}", path.display()))?;
    Ok((exec, parse(&text, shape)?))
}

/// A profile of `sql` from a separate `EXPLAIN ANALYZE` execution (for
/// figures such as bytes read, where the timing does not matter).
pub fn profile(conn: &Connection, sql: &str, shape: DataSetShape) -> Result<Profile> {
    let batches = query(conn, &format!("EXPLAIN (ANALYZE, FORMAT json) {sql}"))?;
    let b = batches
        .first()
        .context("EXPLAIN ANALYZE returned nothing")?;
    let col = b.column(b.num_columns() - 1);
    let json = col
        .as_string_opt::<i32>()
        .context("EXPLAIN ANALYZE output is not text")?
        .value(0)
        .to_string();
    parse(&json, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from DuckDB 2.0.0's real output for a partition-filtered join.
    const V2: &str = r##"{
      "io": {"total_bytes_read": 3566303, "total_bytes_written": 0},
      "operator": [{"extra_info": {}, "intermediate_rows": 0, "timing": 0.0, "type": "RESULT_COLLECTOR", "children": [
        {"extra_info": {}, "intermediate_rows": 0, "timing": 0.0, "type": "EXPLAIN_ANALYZE", "children": [
          {"extra_info": {"Groups": "#0", "Aggregates": "sum(#1)"}, "intermediate_rows": 5, "timing": 0.0133, "type": "HASH_GROUP_BY", "children": [
            {"extra_info": {"Join Type": "INNER", "Conditions": "geo_key = geo_key"}, "intermediate_rows": 1240814, "timing": 0.2229, "type": "HASH_JOIN", "children": [
              {"extra_info": {"Function": "READ_PARQUET", "Projections": ["geo_key", "region"], "Total Files Read": "1",
                "Filename(s)": "/d/parquet/dim_geography/dim_geography.parquet"}, "intermediate_rows": 5000, "timing": 0.0006, "type": "TABLE_SCAN", "children": []},
              {"extra_info": {"Function": "READ_PARQUET", "File Filters": "(year = 2023)(quarter = 4)", "Scanning Files": "1/12", "Total Files Read": "1",
                "Filename(s)": "/d/parquet/sales_fact/year=2023/quarter=4/part-00000.parquet"}, "intermediate_rows": 1240814, "timing": 0.0173, "type": "TABLE_SCAN", "children": []}
            ]}
          ]}
        ]}
      ]}],
      "query": {"cpu_time": 0.2346, "total_row_groups_scanned": 6, "total_row_groups_to_scan": 6, "total_rows_scanned": 1245814, "total_time": 0.1701},
      "system": {"peak_buffer_memory": 66687706}
    }"##;

    #[test]
    fn reads_duckdb_2_metrics_and_pruning() {
        let p = parse(
            V2,
            DataSetShape {
                fact_files: 12,
                partitions: 12,
            },
        )
        .unwrap();
        assert!((p.total_ms - 170.1).abs() < 0.01);
        assert_eq!(p.rows_scanned, Some(1_245_814));
        assert_eq!(p.bytes_read, Some(3_566_303));
        assert_eq!(p.fact_files_scanned, Some(1));
        assert_eq!(p.partitions_scanned, Some(1));
        assert_eq!(
            p.pruning_line().unwrap(),
            "scanned 1 of 12 partitions (91.7% pruned)"
        );
        assert_eq!(p.operators.len(), 1);
        assert_eq!(p.operators[0].name, "HASH_GROUP_BY");
        assert_eq!(p.operators[0].children[0].rows, 1_240_814);
        assert!(p.window_operators.is_empty());
    }

    #[test]
    fn truncated_file_lists_count_partitions_from_files_read() {
        let full = V2.replace(
            r#""Scanning Files": "1/12", "Total Files Read": "1""#,
            r#""Total Files Read": "12""#,
        );
        let p = parse(
            &full,
            DataSetShape {
                fact_files: 12,
                partitions: 12,
            },
        )
        .unwrap();
        assert_eq!(p.partitions_scanned, Some(12));
        assert_eq!(
            p.pruning_line().unwrap(),
            "scanned 12 of 12 partitions (0.0% pruned)"
        );
    }

    #[test]
    fn reads_duckdb_1_flat_metrics() {
        let v1 = r#"{"latency": 0.5, "cumulative_rows_scanned": 42, "children": [
            {"operator_type": "WINDOW", "operator_timing": 0.1, "operator_cardinality": 7, "extra_info": {}, "children": []}]}"#;
        let p = parse(v1, DataSetShape::default()).unwrap();
        assert_eq!(p.total_ms, 500.0);
        assert_eq!(p.rows_scanned, Some(42));
        assert_eq!(p.window_operators, vec![("WINDOW".to_string(), 100.0, 7)]);
    }
}

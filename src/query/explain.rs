//! Reading DuckDB's `EXPLAIN (FORMAT json)` plans: the operator trees the
//! engine chooses the fact view from and the rewrite guard compares.

use anyhow::Result;
use arrow::array::{AsArray, RecordBatch};
use duckdb::Connection;
use serde_json::Value;

use super::sql::query;

/// The plan of `sql` as DuckDB would run it (not executed).
pub fn explain(conn: &Connection, sql: &str) -> Result<Vec<Value>> {
    Ok(plan_roots(&query(
        conn,
        &format!("EXPLAIN (FORMAT json) {sql}"),
    )?))
}

/// The root operators of an `EXPLAIN (FORMAT json)` result (its last column
/// holds the plan as JSON text, one tree or an array of them).
pub fn plan_roots(batches: &[RecordBatch]) -> Vec<Value> {
    let mut roots = Vec::new();
    for b in batches {
        let col = b.column(b.num_columns() - 1);
        for text in col.as_string_opt::<i32>().into_iter().flatten().flatten() {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(trees)) => roots.extend(trees),
                Ok(tree) => roots.push(tree),
                Err(_) => {}
            }
        }
    }
    roots
}

/// A plan attribute that is one string or a list of them, as strings.
pub fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `pred` holds for `node` or any operator below it.
pub fn any_node(node: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
    pred(node)
        || node
            .get("children")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| any_node(c, pred)))
}

/// Every operator of a plan, depth first.
pub fn operators(roots: &[Value]) -> Vec<&Value> {
    fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
        out.push(node);
        for c in node
            .get("children")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    for r in roots {
        walk(r, &mut out);
    }
    out
}

/// An operator's name (`HASH_GROUP_BY`, `READ_PARQUET`, …).
pub fn name(node: &Value) -> &str {
    node.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// How many operators named `name` a plan has.
pub fn count_operators(roots: &[Value], op: &str) -> usize {
    operators(roots).iter().filter(|n| name(n) == op).count()
}

/// DuckDB's estimate of the rows an operator produces.
pub fn estimated_rows(node: &Value) -> Option<u64> {
    let v = node.get("extra_info")?.get("Estimated Cardinality")?;
    match v {
        Value::String(s) => s.trim().trim_start_matches('~').parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

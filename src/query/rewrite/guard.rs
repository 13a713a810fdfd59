//! The guard: a rewrite may only ever make a question faster, never slower
//! or different. Three lines of defence, each a refusal with its reason:
//!
//! 1. **Shapes** ([`refused_shape`]), before any rewrite is built: a
//!    `JOIN … ON` whose condition names a table outside that join (a table
//!    listed before a comma: `FROM f, g LEFT JOIN p ON f.k = p.k`). DuckDB
//!    plans it as a dependent join; a rewrite that replaces a table by a
//!    subquery changes how it decorrelates, and a question that took 3 s
//!    ran 111 s. Each rewrite also states its own precondition next to its
//!    code (`eager.rs`, `distinct.rs`, `codes.rs`); docs/architecture.md
//!    lists them all.
//! 2. **Plans** ([`compare_plans`]), before the rewrite runs: DuckDB's plan
//!    of the rewritten SQL against the plan of the SQL as written. Refused
//!    when the rewrite brings a join the original does not have (a cross
//!    product, a nested-loop or piecewise join, a dependent join), or when
//!    DuckDB estimates more rows out of any of its operators than
//!    [`MAX_ESTIMATE_GROWTH`] times the original's largest (or the fact
//!    table's rows, when that is more).
//! 3. **A budget** ([`budget`]), while it runs: the rewritten SQL may take
//!    [`BUDGET_FACTOR`] times a scan of the whole fact table (or of what the
//!    original's plan estimates, when more), plus [`BUDGET_FLOOR_MS`]. Past that, or on any error before its first rows
//!    reach the user, it is interrupted and the SQL as written runs instead,
//!    once; the engine remembers, so the same SQL is not rewritten again.

use std::time::Duration;

use serde_json::Value;

use super::tree::*;
use crate::model::Table;
use crate::query::explain::{estimated_rows, name, operators};

/// Joins DuckDB plans when it cannot hash: a rewrite that brings one the
/// original does not have is refused, and a plan with one reads the fact
/// table through one scan of all files (`engine::choose_from_plan`).
pub const RISKY_JOINS: [&str; 8] = [
    "CROSS_PRODUCT",
    "NESTED_LOOP_JOIN",
    "BLOCKWISE_NL_JOIN",
    "PIECEWISE_MERGE_JOIN",
    "IE_JOIN",
    "DELIM_JOIN",
    "LEFT_DELIM_JOIN",
    "RIGHT_DELIM_JOIN",
];

/// A rewritten plan may estimate at most this many times the rows of the
/// original's largest operator anywhere (a rewrite exists to make less).
pub const MAX_ESTIMATE_GROWTH: u64 = 4;

/// The run-time budget: this many times what a scan that aggregates the
/// whole fact table takes (at [`ROWS_PER_MS`]), or the original plan's
/// estimated work when DuckDB estimates more, plus [`BUDGET_FLOOR_MS`].
/// Generous on purpose: the plan check stops runaways before they start,
/// and abandoning a rewrite that would have finished costs the budget on
/// top of the original's time.
pub const BUDGET_FACTOR: f64 = 10.0;
pub const BUDGET_FLOOR_MS: f64 = 250.0;

/// Fact rows a scan-and-aggregate works through per millisecond on 2
/// threads: `revenue_by_region_year` aggregates 10M rows in 107 ms (93K
/// rows/ms) on the AMD EPYC reference machine; DuckDB's estimates cannot
/// be the basis alone (under a partition filter a Hive scan is estimated
/// at a few rows: docs/architecture.md, "The rewrite guard").
pub const ROWS_PER_MS: f64 = 100_000.0;

/// Why the statement's shape keeps every rewrite away, if it does.
pub fn refused_shape(node: &Value) -> Option<String> {
    let mut why = None;
    outer_references(&node["from_table"], &mut why);
    why
}

/// The aliases a FROM subtree defines, and the olap tables among them.
fn aliases(t: &Value, out: &mut Vec<(String, Option<Table>)>) {
    match t["type"].as_str() {
        Some("BASE_TABLE") => {
            let name = t["table_name"].as_str().unwrap_or_default();
            let alias = match t["alias"].as_str() {
                Some(a) if !a.is_empty() => a,
                _ => name,
            };
            out.push((
                alias.to_ascii_lowercase(),
                Table::from_name(&name.to_ascii_lowercase()),
            ));
        }
        Some("JOIN") => {
            aliases(&t["left"], out);
            aliases(&t["right"], out);
        }
        _ => {
            let alias = t["alias"].as_str().unwrap_or_default();
            out.push((alias.to_ascii_lowercase(), None));
        }
    }
}

/// Finds a join condition that names a table outside its join.
fn outer_references(t: &Value, why: &mut Option<String>) {
    if why.is_some() || t["type"] != "JOIN" {
        if t["type"] == "SUBQUERY" {
            // A subquery in FROM has its own joins.
            outer_references(&t["subquery"]["node"]["from_table"], why);
        }
        return;
    }
    outer_references(&t["left"], why);
    outer_references(&t["right"], why);
    if why.is_some() {
        return;
    }
    let mut inside = Vec::new();
    aliases(t, &mut inside);
    visit(&t["condition"], &mut |e| {
        if e["class"] != "COLUMN_REF" || why.is_some() {
            return false;
        }
        let names: Vec<&str> = e["column_names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let outside = match names.as_slice() {
            [table, _] => !inside.iter().any(|(a, _)| a.eq_ignore_ascii_case(table)),
            // An unqualified name must be a column of a table in the join,
            // when all of them are olap's (else it cannot be told).
            [column] => {
                inside.iter().all(|(_, t)| t.is_some())
                    && !inside.iter().any(|(_, t)| {
                        t.is_some_and(|t| {
                            t.view_columns()
                                .iter()
                                .any(|c| c.eq_ignore_ascii_case(column))
                        })
                    })
            }
            _ => false,
        };
        if outside {
            *why = Some(format!(
                "a JOIN … ON condition names {}, a table outside that join (listed before a comma): DuckDB plans a dependent join, which no rewrite is proved on",
                names.join(".")
            ));
        }
        false
    });
}

/// Why the rewritten plan is refused against the original's, if it is.
/// `fact_rows` floors the original's largest estimate: DuckDB estimates a
/// Hive scan under a partition filter at a handful of rows, so the
/// original's own estimates can be far below what any plan over the fact
/// table makes.
pub fn compare_plans(
    original: &[Value],
    rewritten: &[Value],
    fact_rows: u64,
) -> Result<(), String> {
    let count = |plan: &[Value], op: &str| operators(plan).iter().filter(|n| name(n) == op).count();
    for op in RISKY_JOINS {
        let (was, now) = (count(original, op), count(rewritten, op));
        if now > was {
            return Err(format!(
                "DuckDB would plan {now} {op} for the rewrite against {was} for the SQL as written"
            ));
        }
    }
    let largest = |plan: &[Value]| {
        operators(plan)
            .iter()
            .filter_map(|n| estimated_rows(n))
            .max()
    };
    if let Some(now) = largest(rewritten) {
        let was = largest(original).unwrap_or(0).max(fact_rows);
        if now > was.saturating_mul(MAX_ESTIMATE_GROWTH) {
            return Err(format!(
                "DuckDB estimates {now} rows out of one of the rewrite's operators, more than {MAX_ESTIMATE_GROWTH}× the SQL as written's {was}"
            ));
        }
    }
    Ok(())
}

/// How long the rewrite of a query with plan `original`, over a fact
/// table of `fact_rows`, may run.
pub fn budget(original: &[Value], fact_rows: u64) -> Duration {
    if let Some(ms) = crate::fault::rewrite_budget_ms() {
        return Duration::from_millis(ms);
    }
    let work: u64 = operators(original)
        .iter()
        .filter_map(|n| estimated_rows(n))
        .fold(0u64, |a, b| a.saturating_add(b))
        .max(fact_rows);
    Duration::from_secs_f64((BUDGET_FLOOR_MS + BUDGET_FACTOR * work as f64 / ROWS_PER_MS) / 1e3)
}

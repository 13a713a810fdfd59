//! Rewrites of a user's SQL into a cheaper form of the same query: eager
//! aggregation, or for the fact alone grouped by a calendar column its view
//! derives from `date`, aggregation by date first (see
//! [`eager::rewrite_select`]; also in a FROM subquery); when neither
//! applies, `count(DISTINCT key)` counted in bitmaps (see
//! [`distinct_bitmaps`]) and a dimension's few strings grouped by a
//! one-byte code (see [`group_codes`]).
//!
//! Eager aggregation: a user's "join the dimensions, then aggregate" query
//! rewritten to aggregate `sales_fact` by its foreign keys first and join the
//! dimensions to those partial aggregates (the shape the catalog's SQL is
//! written in by hand; Yan and Larson, "Eager Aggregation and Lazy
//! Aggregation", VLDB 1995). DuckDB does not do this itself.
//!
//! The query is parsed by DuckDB (`json_serialize_sql`), matched and changed
//! as its parse tree, and turned back into SQL by DuckDB
//! (`json_deserialize_sql`), so nothing here parses SQL. Only a shape that is
//! provably the same query is touched:
//! - one `SELECT … GROUP BY` (no CTE, HAVING, QUALIFY, GROUPING SETS) over
//!   `sales_fact` and dimensions joined by INNER joins, each on
//!   `fact.<key> = dim.<key>`, its key;
//! - aggregates `sum`, `count`, `count(*)`, `min`, `max` over fact columns
//!   only (no DISTINCT, FILTER or ORDER BY in them), no other aggregate, no
//!   macro (`json_group_array` is an aggregate inside one; the kinds are in
//!   src/query/rewrite/function_kinds.txt) and no window, subquery or `*`;
//! - WHERE conditions on fact columns only (they move into the fact's
//!   aggregate). A condition on a dimension keeps the join first: the join
//!   then filters the fact scan (DuckDB turns the dimension's keys into a
//!   filter that skips row groups), which no partial aggregate can.
//!
//! Sums of partial sums, sums of partial counts and min/max of partial
//! min/max equal the originals whether or not a dimension key repeats, and
//! an INNER join drops the same fact rows either way. Output names and types
//! are kept (a count's sum is cast back to BIGINT; unnamed columns get the
//! name DuckDB gave them).
//!
//! It is done only when it pays (see [`Stats::worth_it`]): measured at 10M
//! rows, `adhoc_top_customers` 416 → 272 ms, revenue by category and quarter
//! 56 → 47 ms, while revenue by the 3 customer segments went 128 → 239 ms
//! (a million partial groups instead of 3 hash-table entries), so that one is
//! left alone.

mod codes;
mod distinct;
mod eager;
pub mod guard;
mod tree;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::Datelike;
use duckdb::Connection;
use serde_json::Value;

use crate::model::Table;
use crate::storage::manifest::Manifest;
use codes::group_codes_within;
use distinct::distinct_bitmaps;
use eager::{rewrite_select, subqueries_date_first};
use tree::*;

/// A query as it will run, and what olap changed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub sql: String,
    pub note: String,
}

/// Partial aggregates up to this many groups fit a hash table the CPU caches
/// hold: eager aggregation is then cheaper than aggregating the join's rows.
const CACHED_GROUPS: u64 = 1 << 16;

/// Past [`CACHED_GROUPS`], the partial aggregate must fold at least this many
/// fact rows into each group on average.
const MIN_ROWS_PER_GROUP: u64 = 4;

/// Sizes the rule needs, from the manifest.
#[derive(Debug, Clone)]
pub struct Stats {
    fact_rows: u64,
    years: u64,
    dim_rows: BTreeMap<Table, u64>,
    /// The calendar columns the fact view derives from `date` per row
    /// (`CAST(month(date) AS INTEGER)`): those the layout does not
    /// partition by.
    derived: Vec<&'static str>,
}

impl Stats {
    pub fn from_manifest(m: &Manifest) -> Stats {
        let dim_rows = Table::ALL
            .into_iter()
            .filter(|t| !t.is_fact())
            .map(|t| (t, m.table(t).map_or(u64::MAX, |e| e.rows)))
            .collect();
        let years = (m.spec.end.year() - m.spec.start.year() + 1).max(1) as u64;
        let derived = crate::model::PartitionKey::ALL
            .iter()
            .filter(|k| !m.storage.partition_by.contains(k))
            .map(|k| k.name())
            .collect();
        Stats {
            fact_rows: m.spec.rows,
            years,
            dim_rows,
            derived,
        }
    }

    /// Whether the fact view derives `column` from `date` on every row.
    fn is_derived(&self, column: &str) -> bool {
        self.derived.contains(&column)
    }

    /// Distinct values a fact column can hold at most (a name that is no
    /// fact column: as many as the fact's rows).
    pub fn cardinality(&self, column: &str) -> u64 {
        match column {
            "year" => self.years,
            "quarter" => 4,
            "month" => 12,
            "date" | "time_key" => self.dim_rows[&Table::DimTime],
            c => dim_keyed_by(c).map_or(self.fact_rows, |t| self.dim_rows[&t]),
        }
    }

    /// Whether aggregating the fact by `keys` first is the cheaper plan: the
    /// partial groups are few (a cached hash table), or they are no more
    /// than the query's own groups (it groups by a column unique in a
    /// dimension joined by one of the keys, so the join-first plan
    /// aggregates as many groups with wider keys) and each folds several
    /// fact rows.
    fn worth_it(&self, keys: &BTreeSet<String>, groups_unique_in: &[Table]) -> bool {
        let bound = keys
            .iter()
            .fold(1u64, |b, k| b.saturating_mul(self.cardinality(k)));
        bound <= CACHED_GROUPS
            || (bound.saturating_mul(MIN_ROWS_PER_GROUP) <= self.fact_rows
                && groups_unique_in
                    .iter()
                    .any(|t| keys.contains(t.schema().field(0).name())))
    }
}

/// `sql` as it runs best: with eager aggregation when its shape allows it
/// and [`Stats`] say it pays, else with its `count(DISTINCT key)`s counted
/// in bitmaps when they fit (see [`distinct_bitmaps`]), else `None`. Errors
/// are DuckDB's on its own functions; SQL that does not parse is left for
/// its run to report.
pub fn rewrite(conn: &Connection, sql: &str, stats: &Stats) -> Result<Option<Rewrite>> {
    match rewrite_or_refuse(conn, sql, stats)? {
        Outcome::Rewritten(r) => Ok(Some(r)),
        Outcome::AsWritten(_) => Ok(None),
    }
}

/// What the rewriter made of a SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Rewritten(Rewrite),
    /// Left as written: `Some(why)` when the guard refused its shape
    /// (see [`guard::refused_shape`]), `None` when no rewrite applies.
    AsWritten(Option<String>),
}

/// [`rewrite`], saying why the guard refused a shape.
pub fn rewrite_or_refuse(conn: &Connection, sql: &str, stats: &Stats) -> Result<Outcome> {
    let ast: String = conn.query_row("SELECT json_serialize_sql(?)", [sql], |r| r.get(0))?;
    let mut ast: Value = serde_json::from_str(&ast)?;
    if ast["error"] != Value::Bool(false) {
        return Ok(Outcome::AsWritten(None));
    }
    let Some([statement]) = ast["statements"].as_array().map(Vec::as_slice) else {
        return Ok(Outcome::AsWritten(None));
    };
    let node = &statement["node"];
    if node["type"] != "SELECT_NODE" {
        return Ok(Outcome::AsWritten(None));
    }
    if let Some(why) = guard::refused_shape(node) {
        return Ok(Outcome::AsWritten(Some(why)));
    }
    let found =
        match rewrite_select(node, stats, false).or_else(|| subqueries_date_first(node, stats)) {
            Some(found) => Some(found),
            None => {
                let mut notes = Vec::new();
                let node = match distinct_bitmaps(conn, node, stats)? {
                    Some((node, note)) => {
                        notes.push(note);
                        node
                    }
                    None => node.clone(),
                };
                let node = group_codes_within(conn, &node, &mut notes)?;
                (!notes.is_empty()).then(|| (node, notes.join("; ")))
            }
        };
    let Some((mut node, note)) = found else {
        return Ok(Outcome::AsWritten(None));
    };
    // Unnamed output columns keep the names DuckDB gives the original.
    let columns = describe(conn, sql)?;
    let items = node["select_list"]
        .as_array_mut()
        .expect("checked a select list");
    if items.len() != columns.len() {
        return Ok(Outcome::AsWritten(None));
    }
    for (item, (name, _)) in items.iter_mut().zip(&columns) {
        if item["alias"].as_str().is_none_or(str::is_empty) {
            item["alias"] = Value::String(name.clone());
        }
    }
    ast["statements"][0]["node"] = node;
    let rewritten = deserialize(conn, &ast)?;
    // The rewrite must bind to the same columns, names and types.
    if describe(conn, &rewritten)? != columns {
        anyhow::bail!("the rewrite of this SQL binds to other columns: {rewritten}");
    }
    Ok(Outcome::Rewritten(Rewrite {
        sql: rewritten,
        note,
    }))
}

/// SQL from a parse tree, printed by DuckDB.
fn deserialize(conn: &Connection, ast: &Value) -> Result<String> {
    Ok(conn.query_row(
        "SELECT json_deserialize_sql(?::JSON)",
        [ast.to_string()],
        |r| r.get(0),
    )?)
}

/// The result columns `sql` binds to: names and types.
fn describe(conn: &Connection, sql: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(&format!("DESCRIBE {sql}"))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;

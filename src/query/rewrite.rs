//! Rewrites of a user's SQL into a cheaper form of the same query: eager
//! aggregation; when it does not apply, `count(DISTINCT key)` counted in
//! bitmaps (see [`distinct_bitmaps`]) and a dimension's few strings grouped
//! by a one-byte code (see [`group_codes`]).
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
//!   src/query/function_kinds.txt) and no window, subquery or `*`;
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

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::Datelike;
use duckdb::Connection;
use serde_json::{Value, json};

use super::engine::quote;
use crate::model::Table;
use crate::storage::manifest::Manifest;

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
}

impl Stats {
    pub fn from_manifest(m: &Manifest) -> Stats {
        let dim_rows = Table::ALL
            .into_iter()
            .filter(|t| !t.is_fact())
            .map(|t| (t, m.table(t).map_or(u64::MAX, |e| e.rows)))
            .collect();
        let years = (m.spec.end.year() - m.spec.start.year() + 1).max(1) as u64;
        Stats {
            fact_rows: m.spec.rows,
            years,
            dim_rows,
        }
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

/// The dimension whose key (its first column) a fact column is.
fn dim_keyed_by(column: &str) -> Option<Table> {
    Table::ALL
        .into_iter()
        .find(|t| !t.is_fact() && t.schema().field(0).name() == column)
}

/// Columns that identify a dimension's row (its key, and a natural id where
/// the dimension keeps one row per id).
fn unique_columns(t: Table) -> &'static [&'static str] {
    match t {
        Table::DimTime => &["time_key", "date"],
        Table::DimGeography => &["geo_key"],
        Table::DimProduct => &["product_key"],
        Table::DimCustomer => &["customer_key", "customer_id"],
        Table::DimPayment => &["payment_key"],
        Table::SalesFact => &[],
    }
}

/// Each table's [`Table::view_columns`], built once.
fn columns(t: Table) -> &'static [String] {
    static COLUMNS: std::sync::LazyLock<BTreeMap<Table, Vec<String>>> =
        std::sync::LazyLock::new(|| {
            Table::ALL
                .into_iter()
                .map(|t| (t, t.view_columns()))
                .collect()
        });
    &COLUMNS[&t]
}

/// `sql` as it runs best: with eager aggregation when its shape allows it
/// and [`Stats`] say it pays, else with its `count(DISTINCT key)`s counted
/// in bitmaps when they fit (see [`distinct_bitmaps`]), else `None`. Errors
/// are DuckDB's on its own functions; SQL that does not parse is left for
/// its run to report.
pub fn rewrite(conn: &Connection, sql: &str, stats: &Stats) -> Result<Option<Rewrite>> {
    let ast: String = conn.query_row("SELECT json_serialize_sql(?)", [sql], |r| r.get(0))?;
    let mut ast: Value = serde_json::from_str(&ast)?;
    if ast["error"] != Value::Bool(false) {
        return Ok(None);
    }
    let Some([statement]) = ast["statements"].as_array().map(Vec::as_slice) else {
        return Ok(None);
    };
    let node = &statement["node"];
    if node["type"] != "SELECT_NODE" {
        return Ok(None);
    }
    let found = match rewrite_select(node, stats) {
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
        return Ok(None);
    };
    // Unnamed output columns keep the names DuckDB gives the original.
    let columns = describe(conn, sql)?;
    let items = node["select_list"]
        .as_array_mut()
        .expect("checked a select list");
    if items.len() != columns.len() {
        return Ok(None);
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
    Ok(Some(Rewrite {
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

/// What a function name is to DuckDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A scalar function only: a value per row.
    Scalar,
    Aggregate,
    /// A macro (`json_group_array` and `geomean` are aggregates inside),
    /// or anything else: the rewrite cannot tell what it does.
    Other,
}

/// DuckDB's functions that are not plain scalar functions, for the DuckDB
/// this build links (listing them from `duckdb_functions()` at run time
/// costs 15-30 ms, more than many queries; a test checks the two agree).
const FUNCTION_KINDS: &str = include_str!("function_kinds.txt");

/// The kind of a function name (lower case): names not listed are scalar.
fn kind_of(name: &str) -> Kind {
    static KINDS: std::sync::LazyLock<BTreeMap<&'static str, Kind>> =
        std::sync::LazyLock::new(|| {
            FUNCTION_KINDS
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(' '))
                .map(|(kind, name)| {
                    let kind = if kind == "aggregate" {
                        Kind::Aggregate
                    } else {
                        Kind::Other
                    };
                    (name, kind)
                })
                .collect()
        });
    KINDS.get(name).copied().unwrap_or(Kind::Scalar)
}

/// A table in the FROM clause.
struct Leaf {
    table: Table,
    alias: String,
}

/// What a column reference names.
#[derive(Debug, Clone, PartialEq)]
enum Ref {
    Fact(String),
    Dim(usize, String),
    /// No table column: a select-list alias (ORDER BY may use those).
    Other,
}

struct Scope<'a> {
    leaves: &'a [Leaf],
}

impl Scope<'_> {
    fn resolve(&self, colref: &Value) -> Option<Ref> {
        let names: Vec<&str> = colref["column_names"]
            .as_array()?
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()?;
        let has = |l: &Leaf, c: &str| columns(l.table).iter().any(|x| x.eq_ignore_ascii_case(c));
        let to_ref = |i: usize, c: &str| {
            let c = c.to_ascii_lowercase();
            if self.leaves[i].table.is_fact() {
                Ref::Fact(c)
            } else {
                Ref::Dim(i, c)
            }
        };
        match names.as_slice() {
            [c] => {
                let found: Vec<usize> = (0..self.leaves.len())
                    .filter(|&i| has(&self.leaves[i], c))
                    .collect();
                match found.as_slice() {
                    [] => Some(Ref::Other),
                    [i] => Some(to_ref(*i, c)),
                    _ => None,
                }
            }
            [t, c] => {
                let i = self
                    .leaves
                    .iter()
                    .position(|l| l.alias.eq_ignore_ascii_case(t))?;
                has(&self.leaves[i], c).then(|| to_ref(i, c))
            }
            _ => None,
        }
    }

    /// The kind of function `e` calls (`None`: not a function call).
    fn kind(&self, e: &Value) -> Option<Kind> {
        if e["class"] != "FUNCTION" {
            return None;
        }
        let plain = |k: &str| e[k].as_str().is_none_or(str::is_empty);
        if !plain("schema") || !plain("catalog") {
            return Some(Kind::Other);
        }
        Some(kind_of(&e["function_name"].as_str()?.to_ascii_lowercase()))
    }

    fn is_aggregate(&self, e: &Value) -> bool {
        self.kind(e) == Some(Kind::Aggregate)
    }

    /// Checks `e` (a whole expression outside any aggregate) and notes the
    /// references it makes outside aggregates; aggregates it contains must
    /// be ones [`partial`] handles. `None`: not a shape this rewrites.
    fn check(&self, e: &Value, refs: &mut Vec<Ref>, aggs_allowed: bool) -> Option<()> {
        match e {
            Value::Array(xs) => xs
                .iter()
                .try_for_each(|x| self.check(x, refs, aggs_allowed)),
            Value::Object(o) => {
                if let Some(class) = o.get("class").and_then(Value::as_str) {
                    const PLAIN: [&str; 9] = [
                        "COLUMN_REF",
                        "CONSTANT",
                        "FUNCTION",
                        "COMPARISON",
                        "CONJUNCTION",
                        "OPERATOR",
                        "CAST",
                        "CASE",
                        "BETWEEN",
                    ];
                    if class == "TYPE" {
                        return Some(());
                    }
                    if !PLAIN.contains(&class) {
                        return None;
                    }
                    if class == "COLUMN_REF" {
                        refs.push(self.resolve(e)?);
                        return Some(());
                    }
                    match self.kind(e) {
                        Some(Kind::Aggregate) => {
                            return (aggs_allowed && self.partial_ok(e)).then_some(());
                        }
                        Some(Kind::Other) => return None,
                        Some(Kind::Scalar) | None => {}
                    }
                }
                o.values()
                    .try_for_each(|v| self.check(v, refs, aggs_allowed))
            }
            _ => Some(()),
        }
    }

    /// An aggregate this can split: sum/count/min/max of fact columns.
    fn partial_ok(&self, e: &Value) -> bool {
        let name = e["function_name"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !["sum", "count", "count_star", "min", "max"].contains(&name.as_str())
            || e["distinct"] != Value::Bool(false)
            || !plain_call(e)
        {
            return false;
        }
        let mut refs = Vec::new();
        self.check(&e["arguments"], &mut refs, false).is_some()
            && refs.iter().all(|r| matches!(r, Ref::Fact(_)))
    }
}

/// An aggregate call without FILTER, ORDER BY or an exported state: its
/// value depends on its arguments alone.
fn plain_call(e: &Value) -> bool {
    e["filter"].is_null()
        && e["order_bys"]["orders"]
            .as_array()
            .is_none_or(|o| o.is_empty())
        && e["export_state"] != Value::Bool(true)
}

/// One of olap's tables named plainly in a FROM clause (no schema, sample,
/// time travel or column aliases).
fn base_leaf(t: &Value) -> Option<Leaf> {
    let plain = |k: &str| t[k].as_str().is_none_or(str::is_empty);
    if t["type"] != "BASE_TABLE"
        || !plain("schema_name")
        || !plain("catalog_name")
        || !t["sample"].is_null()
        || !t["at_clause"].is_null()
        || t["column_name_alias"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    {
        return None;
    }
    let name = t["table_name"].as_str()?;
    let table = Table::from_name(&name.to_ascii_lowercase())?;
    let alias = match t["alias"].as_str() {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => name.to_string(),
    };
    Some(Leaf { table, alias })
}

/// The INNER-join tree's tables and its join conditions.
fn collect_from(t: &Value, leaves: &mut Vec<Leaf>, conditions: &mut Vec<Value>) -> Option<()> {
    match t["type"].as_str()? {
        "BASE_TABLE" => {
            leaves.push(base_leaf(t)?);
            Some(())
        }
        "JOIN" => {
            if t["join_type"] != "INNER"
                || t["ref_type"] != "REGULAR"
                || t["using_columns"].as_array().is_some_and(|u| !u.is_empty())
                || t["condition"].is_null()
                || !t["sample"].is_null()
                || t["alias"].as_str().is_some_and(|a| !a.is_empty())
            {
                return None;
            }
            collect_from(&t["left"], leaves, conditions)?;
            collect_from(&t["right"], leaves, conditions)?;
            conditions.extend(conjuncts(&t["condition"]).into_iter().cloned());
            Some(())
        }
        _ => None,
    }
}

fn conjuncts(e: &Value) -> Vec<&Value> {
    if e["class"] == "CONJUNCTION" && e["type"] == "CONJUNCTION_AND" {
        e["children"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(conjuncts)
            .collect()
    } else if e.is_null() {
        Vec::new()
    } else {
        vec![e]
    }
}

/// Whether the node defines CTEs (a CTE could name a table as one of olap's).
fn has_cte(node: &Value) -> bool {
    node["cte_map"]["map"]
        .as_array()
        .is_some_and(|m| !m.is_empty())
}

/// The GROUP BY expressions of a node grouped the plain way (no GROUPING
/// SETS, ROLLUP, CUBE or `GROUP BY ALL`), empty when it is not grouped;
/// `None` for any other grouping.
fn plain_groups(node: &Value) -> Option<&Vec<Value>> {
    if node["aggregate_handling"] != "STANDARD_HANDLING" {
        return None;
    }
    let groups = node["group_expressions"].as_array()?;
    let sets = if groups.is_empty() {
        json!([])
    } else {
        json!([(0..groups.len()).collect::<Vec<_>>()])
    };
    (node["group_sets"] == sets).then_some(groups)
}

/// The select list's explicit aliases, in lower case.
fn select_aliases(node: &Value) -> BTreeSet<String> {
    node["select_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["alias"].as_str())
        .filter(|a| !a.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `e` is a bare name that is one of `aliases`: ORDER BY binds
/// such a name to the select-list alias before any column.
fn is_bare_alias(e: &Value, aliases: &BTreeSet<String>) -> bool {
    e["class"] == "COLUMN_REF"
        && e["column_names"].as_array().is_some_and(|n| n.len() == 1)
        && e["column_names"][0]
            .as_str()
            .is_some_and(|n| aliases.contains(&n.to_ascii_lowercase()))
}

fn column_ref(table: &str, column: &str) -> Value {
    json!({"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "column_names": [table, column]})
}

fn function(name: &str, args: Vec<Value>, alias: &str) -> Value {
    json!({
        "class": "FUNCTION", "type": "FUNCTION", "alias": alias, "function_name": name,
        "schema": "", "catalog": "", "filter": null,
        "order_bys": {"type": "ORDER_MODIFIER", "orders": []},
        "distinct": false, "is_operator": false, "export_state": false,
        "arguments": args.into_iter().map(|e| json!({"name": "", "expression": e})).collect::<Vec<_>>(),
        "qualified_name": {"path": [name]},
    })
}

/// Replaces each aggregate in `e` by its combination over a partial one
/// (added to `partials`, shared by equal aggregates).
fn combine(e: &Value, scope: &Scope, fact: &str, partials: &mut Vec<(Value, String)>) -> Value {
    if scope.is_aggregate(e) {
        let mut key = e.clone();
        strip(&mut key);
        let name = match partials.iter().position(|(k, _)| *k == key) {
            Some(i) => partials[i].1.clone(),
            None => {
                let name = format!("__olap_partial_{}", partials.len());
                partials.push((key, name.clone()));
                name
            }
        };
        let alias = e["alias"].as_str().unwrap_or_default();
        let f = e["function_name"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        return match f.as_str() {
            "count" | "count_star" => json!({
                "class": "CAST", "type": "OPERATOR_CAST", "alias": alias, "try_cast": false,
                "child": function("sum", vec![column_ref(fact, &name)], ""),
                "type_expr": {"class": "TYPE", "type": "TYPE", "alias": "", "catalog": "", "schema": "",
                              "type_name": "BIGINT", "children": [], "qualified_name": {"path": ["BIGINT"]}},
            }),
            f => function(f, vec![column_ref(fact, &name)], alias),
        };
    }
    match e {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), combine(v, scope, fact, partials)))
                .collect(),
        ),
        Value::Array(xs) => Value::Array(
            xs.iter()
                .map(|x| combine(x, scope, fact, partials))
                .collect(),
        ),
        v => v.clone(),
    }
}

/// `e` without source positions and its own alias (equal aggregates compare equal).
fn strip(e: &mut Value) {
    match e {
        Value::Object(o) => {
            o.remove("query_location");
            o.remove("query_location_length");
            o.insert("alias".into(), Value::String(String::new()));
            o.values_mut().for_each(strip);
        }
        Value::Array(xs) => xs.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The rewritten SELECT node and a line on it, when `node` has the shape
/// and the rule says it pays.
fn rewrite_select(node: &Value, stats: &Stats) -> Option<(Value, String)> {
    if node["type"] != "SELECT_NODE"
        || has_cte(node)
        || !node["having"].is_null()
        || !node["qualify"].is_null()
        || !node["sample"].is_null()
    {
        return None;
    }
    plain_groups(node).filter(|g| !g.is_empty())?;
    let modifiers = node["modifiers"].as_array()?;
    if modifiers.iter().any(|m| {
        !matches!(
            m["type"].as_str(),
            Some("ORDER_MODIFIER" | "LIMIT_MODIFIER" | "DISTINCT_MODIFIER")
        )
    }) {
        return None;
    }
    let mut leaves = Vec::new();
    let mut conditions = Vec::new();
    collect_from(&node["from_table"], &mut leaves, &mut conditions)?;
    let fact = leaves.iter().position(|l| l.table.is_fact())?;
    if leaves.iter().filter(|l| l.table.is_fact()).count() != 1 || leaves.len() < 2 {
        return None;
    }
    let scope = Scope { leaves: &leaves };
    // Every dimension joined once, on its key.
    let mut joined = vec![false; leaves.len()];
    let mut keys = BTreeSet::new();
    for c in &conditions {
        if c["class"] != "COMPARISON" || c["type"] != "COMPARE_EQUAL" {
            return None;
        }
        let sides = [&c["left"], &c["right"]];
        if sides.iter().any(|s| s["class"] != "COLUMN_REF") {
            return None;
        }
        let (Some(a), Some(b)) = (scope.resolve(sides[0]), scope.resolve(sides[1])) else {
            return None;
        };
        let ((Ref::Fact(fk), Ref::Dim(d, pk)) | (Ref::Dim(d, pk), Ref::Fact(fk))) = (a, b) else {
            return None;
        };
        if fk != pk || dim_keyed_by(&pk) != Some(leaves[d].table) || joined[d] {
            return None;
        }
        joined[d] = true;
        keys.insert(fk);
    }
    if (0..leaves.len()).any(|i| i != fact && !joined[i]) {
        return None;
    }
    // WHERE: fact columns only; it moves into the partial aggregate.
    let mut refs = Vec::new();
    scope.check(&node["where_clause"], &mut refs, false)?;
    if refs.iter().any(|r| !matches!(r, Ref::Fact(_))) {
        return None;
    }
    // What the outer query reads of the fact outside aggregates becomes a
    // key of the partial aggregate.
    let mut outer = Vec::new();
    scope.check(&node["select_list"], &mut outer, true)?;
    scope.check(&node["group_expressions"], &mut outer, false)?;
    let aliases = select_aliases(node);
    for m in modifiers {
        let mut refs = Vec::new();
        for o in m["orders"].as_array().into_iter().flatten() {
            let e = &o["expression"];
            // ORDER BY binds a bare name to a select-list alias first.
            if !is_bare_alias(e, &aliases) {
                scope.check(e, &mut refs, true)?;
            }
        }
        for e in m["distinct_on_targets"].as_array().into_iter().flatten() {
            scope.check(e, &mut refs, true)?;
        }
        for k in ["limit", "offset"] {
            if !m[k].is_null() {
                scope.check(&m[k], &mut refs, false)?;
                if !refs.is_empty() {
                    return None;
                }
            }
        }
        outer.extend(refs);
    }
    let mut groups_unique_in = Vec::new();
    for r in outer {
        match r {
            Ref::Fact(c) => {
                keys.insert(c);
            }
            Ref::Dim(d, c) => {
                if unique_columns(leaves[d].table).contains(&c.as_str()) {
                    groups_unique_in.push(leaves[d].table);
                }
            }
            Ref::Other => return None,
        }
    }
    if !stats.worth_it(&keys, &groups_unique_in) {
        return None;
    }
    // The partial aggregate, under the fact table's name in the query.
    let fact_alias = leaves[fact].alias.clone();
    let mut partials = Vec::new();
    let mut outer_node = node.clone();
    outer_node["select_list"] = combine(&node["select_list"], &scope, &fact_alias, &mut partials);
    outer_node["modifiers"] = combine(&node["modifiers"], &scope, &fact_alias, &mut partials);
    outer_node["where_clause"] = Value::Null;
    let key_refs: Vec<Value> = keys.iter().map(|k| column_ref(&fact_alias, k)).collect();
    let mut inner = node.clone();
    inner["modifiers"] = json!([]);
    inner["select_list"] = Value::Array(
        key_refs
            .iter()
            .cloned()
            .chain(partials.iter().map(|(agg, name)| {
                let mut a = agg.clone();
                a["alias"] = Value::String(name.clone());
                a
            }))
            .collect(),
    );
    inner["from_table"] = fact_table(&node["from_table"])?;
    inner["group_expressions"] = Value::Array(key_refs);
    inner["group_sets"] = json!([(0..keys.len()).collect::<Vec<_>>()]);
    let subquery = json!({
        "type": "SUBQUERY", "alias": fact_alias, "sample": null,
        "subquery": {"node": inner, "named_param_map": []},
        "column_name_alias": [],
    });
    outer_node["from_table"] = replace_leaf(&node["from_table"], &fact_alias, &subquery);
    let dims: Vec<&str> = leaves
        .iter()
        .filter(|l| !l.table.is_fact())
        .map(|l| l.table.name())
        .collect();
    let note = format!(
        "eager aggregation: sales_fact aggregated by {} before the join to {}",
        keys.iter().cloned().collect::<Vec<_>>().join(", "),
        dims.join(", ")
    );
    Some((outer_node, note))
}

/// What the bitmaps of a `count(DISTINCT key)` rewrite may take, all groups
/// together, in each thread's hash table.
const BITMAP_BYTES: u64 = 32 << 20;

/// One `count(DISTINCT key)` the bitmap rewrite takes: the dimension whose
/// keys it counts.
struct DistinctKey {
    dim: Table,
    low: i64,
    high: i64,
}

impl DistinctKey {
    fn bytes(&self) -> u64 {
        ((self.high - self.low) as u64 / 8) + 1
    }
}

/// The dimension key a `count(DISTINCT …)` in this scope counts: a fact
/// column that references a dimension (every value is one of its keys, an
/// invariant `olap validate` checks), or a dimension's own key. `None` for
/// any other aggregate.
fn distinct_key(scope: &Scope, e: &Value) -> Option<Table> {
    let name = e["function_name"].as_str()?.to_ascii_lowercase();
    if scope.kind(e) != Some(Kind::Aggregate)
        || name != "count"
        || e["distinct"] != Value::Bool(true)
        || !plain_call(e)
    {
        return None;
    }
    let [arg] = e["arguments"].as_array()?.as_slice() else {
        return None;
    };
    let arg = &arg["expression"];
    if arg["class"] != "COLUMN_REF" {
        return None;
    }
    match scope.resolve(arg)? {
        Ref::Fact(c) => dim_keyed_by(&c),
        Ref::Dim(d, c) => {
            let t = scope.leaves[d].table;
            (t.schema().field(0).name() == &c).then_some(t)
        }
        Ref::Other => None,
    }
}

/// Calls `f` on each expression in `e` that is not inside a subquery (a
/// subquery has its own scope); `f` returns `true` to skip its children.
fn visit(e: &Value, f: &mut dyn FnMut(&Value) -> bool) {
    match e {
        Value::Object(o) => {
            if o.get("class").and_then(Value::as_str) == Some("SUBQUERY") {
                return;
            }
            if o.contains_key("class") && f(e) {
                return;
            }
            o.values().for_each(|v| visit(v, f));
        }
        Value::Array(xs) => xs.iter().for_each(|x| visit(x, f)),
        _ => {}
    }
}

/// `e` with each expression `f` maps replaced (not inside subqueries).
fn replace(e: &Value, f: &dyn Fn(&Value) -> Option<Value>) -> Value {
    match e {
        Value::Object(o) => {
            if o.get("class").and_then(Value::as_str) == Some("SUBQUERY") {
                return e.clone();
            }
            if o.contains_key("class")
                && let Some(new) = f(e)
            {
                return new;
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), replace(v, f))).collect())
        }
        Value::Array(xs) => Value::Array(xs.iter().map(|x| replace(x, f)).collect()),
        v => v.clone(),
    }
}

/// The SELECT node with each `count(DISTINCT key)` of a dimension key
/// counted as the set bits of a bitmap over the dimension's key range,
/// `coalesce(bit_count(bitstring_agg(key, low, high)), 0)`, when the
/// bitmaps of all groups fit [`BITMAP_BYTES`].
///
/// A hash aggregate deduplicates (group, key) pairs: at 10M rows, distinct
/// customers by region and year hashes 2.3M such pairs, 84% of the query's
/// time. A bitmap sets one bit per row and never compares keys, and merging
/// threads is an OR. The answer is the same: a key counts once however
/// often it repeats, NULLs are not counted, and an empty input counts 0
/// (`bitstring_agg` gives NULL there, hence the `coalesce`).
fn distinct_bitmaps(
    conn: &Connection,
    node: &Value,
    stats: &Stats,
) -> Result<Option<(Value, String)>> {
    if has_cte(node) || !node["sample"].is_null() {
        return Ok(None);
    }
    let Some(groups) = plain_groups(node) else {
        return Ok(None);
    };
    let mut leaves = Vec::new();
    if collect_from(&node["from_table"], &mut leaves, &mut Vec::new()).is_none() {
        return Ok(None);
    }
    let scope = Scope { leaves: &leaves };
    // The dimensions whose keys are counted, in the order first met.
    let mut dims: Vec<Table> = Vec::new();
    for part in ["select_list", "having", "qualify", "modifiers"] {
        visit(&node[part], &mut |e| match distinct_key(&scope, e) {
            Some(t) => {
                if !dims.contains(&t) {
                    dims.push(t);
                }
                true
            }
            None => false,
        });
    }
    if dims.is_empty() {
        return Ok(None);
    }
    let mut keys = BTreeMap::new();
    for t in &dims {
        let key = t.schema().field(0).name().clone();
        let (low, high): (Option<i64>, Option<i64>) = conn.query_row(
            &format!("SELECT min({key}), max({key}) FROM {}", t.name()),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (Some(low), Some(high)) = (low, high) else {
            return Ok(None);
        };
        keys.insert(*t, DistinctKey { dim: *t, low, high });
    }
    // Each group's bitmaps, and at most how many groups: the product of
    // the grouped columns' distinct values (the dimension's row count,
    // counted exactly only when that bound is too wide).
    let per_group: u64 = keys.values().map(DistinctKey::bytes).sum();
    let mut bounds = Vec::new();
    for g in groups {
        if g["class"] != "COLUMN_REF" {
            return Ok(None);
        }
        match scope.resolve(g) {
            Some(Ref::Fact(c)) => bounds.push((stats.cardinality(&c), None)),
            Some(Ref::Dim(d, c)) => {
                let t = leaves[d].table;
                bounds.push((stats.dim_rows[&t], Some((t, c))));
            }
            _ => return Ok(None),
        }
    }
    let fits = |bounds: &[(u64, Option<(Table, String)>)]| {
        bounds
            .iter()
            .fold(per_group, |b, (n, _)| b.saturating_mul(*n))
            <= BITMAP_BYTES
    };
    for i in 0..bounds.len() {
        if fits(&bounds) {
            break;
        }
        if let Some((t, c)) = bounds[i].1.clone() {
            let n: i64 = conn.query_row(
                &format!("SELECT count(DISTINCT \"{c}\") FROM {}", t.name()),
                [],
                |r| r.get(0),
            )?;
            bounds[i].0 = (n as u64).max(1);
        }
    }
    if !fits(&bounds) {
        return Ok(None);
    }
    let group_bound = bounds.iter().fold(1u64, |b, (n, _)| b.saturating_mul(*n));
    // The replacement, from DuckDB's own parse of it, with `__olap_key`
    // standing for the counted column.
    let mut templates = BTreeMap::new();
    for k in keys.values() {
        let template = parse_expression(
            conn,
            &format!(
                "coalesce(bit_count(bitstring_agg(__olap_key, {}, {})), 0)",
                k.low, k.high
            ),
        )?;
        templates.insert(k.dim, template);
    }
    let swap = |e: &Value| -> Option<Value> {
        let t = distinct_key(&scope, e)?;
        let arg = e["arguments"][0]["expression"].clone();
        let mut new = replace(&templates[&t], &|x| {
            (x["class"] == "COLUMN_REF" && x["column_names"] == json!(["__olap_key"]))
                .then(|| arg.clone())
        });
        new["alias"] = e["alias"].clone();
        Some(new)
    };
    let mut new = node.clone();
    for part in ["select_list", "having", "qualify", "modifiers"] {
        new[part] = replace(&node[part], &swap);
    }
    let counted: Vec<String> = keys
        .values()
        .map(|k| format!("{} {}..{}", k.dim.schema().field(0).name(), k.low, k.high))
        .collect();
    let note = format!(
        "count(DISTINCT) as bitmaps: {} counted in bitmaps of {} KiB each, {} group{} at most",
        counted.join(", "),
        per_group.div_ceil(1024),
        group_bound,
        if group_bound == 1 { "" } else { "s" }
    );
    Ok(Some((new, note)))
}

/// Grouped dimension strings with at most this many values are grouped by
/// a one-byte code.
const MAX_CODES: usize = 255;

/// A grouped dimension column [`group_codes`] codes: the FROM leaf it
/// belongs to, and its values in code order (code 1 is the first).
struct Coded {
    leaf: usize,
    column: String,
    values: Vec<String>,
}

impl Coded {
    fn code_column(&self) -> String {
        format!("__olap_code_{}", self.column)
    }

    /// `[v1, v2, …]` as a SQL list literal.
    fn values_sql(&self) -> String {
        let quoted: Vec<String> = self.values.iter().map(|v| quote(v)).collect();
        format!("[{}]", quoted.join(", "))
    }
}

/// The distinct non-NULL values of a dimension's string column, sorted,
/// when there are 1 to [`MAX_CODES`] of them.
fn small_domain(conn: &Connection, t: Table, column: &str) -> Result<Option<Vec<String>>> {
    let json: Option<String> = conn.query_row(
        &format!(
            "SELECT to_json(list(v ORDER BY v))::VARCHAR FROM \
             (SELECT DISTINCT \"{column}\" AS v FROM {} WHERE \"{column}\" IS NOT NULL LIMIT {})",
            t.name(),
            MAX_CODES + 1
        ),
        [],
        |r| r.get(0),
    )?;
    let values: Vec<String> = match json {
        Some(j) => serde_json::from_str(&j)?,
        None => Vec::new(),
    };
    Ok((1..=MAX_CODES).contains(&values.len()).then_some(values))
}

/// Whether `e` holds an expression of one of these classes (subqueries
/// included).
fn has_class(e: &Value, classes: &[&str]) -> bool {
    match e {
        Value::Object(o) => {
            o.get("class")
                .and_then(Value::as_str)
                .is_some_and(|c| classes.contains(&c))
                || o.values().any(|v| has_class(v, classes))
        }
        Value::Array(xs) => xs.iter().any(|x| has_class(x, classes)),
        _ => false,
    }
}

/// Every table of a FROM tree of joins (any join type but NATURAL, ASOF and
/// POSITIONAL); `None` for anything else in it.
fn join_leaves(t: &Value, leaves: &mut Vec<Leaf>) -> Option<()> {
    match t["type"].as_str()? {
        "BASE_TABLE" => {
            leaves.push(base_leaf(t)?);
            Some(())
        }
        "JOIN" => {
            if !matches!(t["ref_type"].as_str(), Some("REGULAR" | "CROSS"))
                || !t["sample"].is_null()
                || t["alias"].as_str().is_some_and(|a| !a.is_empty())
            {
                return None;
            }
            join_leaves(&t["left"], leaves)?;
            join_leaves(&t["right"], leaves)
        }
        _ => None,
    }
}

/// The FROM tree with the table named `alias` replaced by `with`.
fn replace_leaf(t: &Value, alias: &str, with: &Value) -> Value {
    match t["type"].as_str() {
        Some("BASE_TABLE") if base_leaf(t).is_some_and(|l| l.alias.eq_ignore_ascii_case(alias)) => {
            with.clone()
        }
        Some("JOIN") => {
            let mut j = t.clone();
            j["left"] = replace_leaf(&t["left"], alias, with);
            j["right"] = replace_leaf(&t["right"], alias, with);
            j
        }
        _ => t.clone(),
    }
}

/// The first select-list expression of `sql`, as DuckDB parses it.
fn parse_expression(conn: &Connection, sql: &str) -> Result<Value> {
    Ok(parse_node(conn, &format!("SELECT {sql}"))?["select_list"][0].clone())
}

/// The SELECT node of `sql`, as DuckDB parses it.
fn parse_node(conn: &Connection, sql: &str) -> Result<Value> {
    let ast: String = conn.query_row("SELECT json_serialize_sql(?)", [sql], |r| r.get(0))?;
    let ast: Value = serde_json::from_str(&ast)?;
    if ast["error"] != Value::Bool(false) {
        anyhow::bail!("DuckDB cannot parse {sql}: {}", ast["error_message"]);
    }
    Ok(ast["statements"][0]["node"].clone())
}

/// `node`, and each SELECT in its FROM clause (an analyst's "aggregate in
/// a subquery, rank outside"), with [`group_codes`] applied where it
/// applies; a note for each.
fn group_codes_within(conn: &Connection, node: &Value, notes: &mut Vec<String>) -> Result<Value> {
    fn within(
        conn: &Connection,
        node: &Value,
        nested: bool,
        notes: &mut Vec<String>,
    ) -> Result<Value> {
        // A CTE could name a table as one of olap's; its scope is left alone.
        if node["type"] != "SELECT_NODE" || has_cte(node) {
            return Ok(node.clone());
        }
        let mut new = match group_codes(conn, node, nested)? {
            Some((new, note)) => {
                notes.push(note);
                new
            }
            None => node.clone(),
        };
        new["from_table"] = from(conn, &new["from_table"], notes)?;
        Ok(new)
    }
    fn from(conn: &Connection, t: &Value, notes: &mut Vec<String>) -> Result<Value> {
        let mut t = t.clone();
        match t["type"].as_str() {
            Some("SUBQUERY") => {
                t["subquery"]["node"] = within(conn, &t["subquery"]["node"], true, notes)?;
            }
            Some("JOIN") => {
                t["left"] = from(conn, &t["left"], notes)?;
                t["right"] = from(conn, &t["right"], notes)?;
            }
            _ => {}
        }
        Ok(t)
    }
    within(conn, node, false, notes)
}

/// The SELECT node grouped by a one-byte code where it groups the fact's
/// rows by a dimension's string column of at most [`MAX_CODES`] values:
/// the dimension is read as `(SELECT *, <code> FROM dim)`, the group is the
/// code, and the string is looked up from the code after the aggregate.
///
/// DuckDB otherwise carries each row's string through the join and hashes
/// and compares it in the aggregate; strings over 12 bytes are not inlined,
/// so each comparison follows a pointer. Measured at 10M rows (2 threads):
/// revenue by the 4 customer segments of a year 140 → 64 ms, categories
/// ranked by region 160 → 120 ms, top brands in a region 78 → 73 ms.
///
/// The answer is the same: the code is the value's position in the sorted
/// list of the column's distinct values, read when the rule is decided (a
/// data set is immutable), so equal strings get equal codes and the lookup
/// gives the string back; NULL codes to NULL and back. A value missing from
/// the list stops the query with an error rather than count in a wrong
/// group. Only references outside aggregates change (an aggregate's
/// argument still reads the string), and not inside subqueries; a `*`, a
/// subquery expression or a bare name that is also a select-list alias
/// leaves the node alone.
fn group_codes(conn: &Connection, node: &Value, nested: bool) -> Result<Option<(Value, String)>> {
    let Some(groups) = plain_groups(node).filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if !node["sample"].is_null() {
        return Ok(None);
    }
    let mut leaves = Vec::new();
    if join_leaves(&node["from_table"], &mut leaves).is_none()
        || !leaves.iter().any(|l| l.table.is_fact())
    {
        return Ok(None);
    }
    const PARTS: [&str; 5] = [
        "select_list",
        "where_clause",
        "having",
        "qualify",
        "modifiers",
    ];
    if PARTS
        .iter()
        .any(|p| has_class(&node[*p], &["STAR", "SUBQUERY"]))
    {
        return Ok(None);
    }
    let aliases = select_aliases(node);
    let bare_alias = |e: &Value| is_bare_alias(e, &aliases);
    let scope = Scope { leaves: &leaves };
    let mut coded: Vec<Coded> = Vec::new();
    for g in groups {
        if g["class"] != "COLUMN_REF" || bare_alias(g) {
            continue;
        }
        let Some(Ref::Dim(leaf, column)) = scope.resolve(g) else {
            continue;
        };
        let t = leaves[leaf].table;
        let string = t
            .schema()
            .field_with_name(&column)
            .is_ok_and(|f| f.data_type() == &arrow::datatypes::DataType::Utf8);
        if !string
            || unique_columns(t).contains(&column.as_str())
            || coded.iter().any(|k| k.leaf == leaf && k.column == column)
        {
            continue;
        }
        if let Some(values) = small_domain(conn, t, &column)? {
            coded.push(Coded {
                leaf,
                column,
                values,
            });
        }
    }
    if coded.is_empty() {
        return Ok(None);
    }
    // HAVING and QUALIFY may bind a bare name to an alias or a column:
    // left alone when it could be either.
    let mut ambiguous = false;
    for part in ["having", "qualify"] {
        visit(&node[part], &mut |e| {
            ambiguous |= bare_alias(e);
            false
        });
    }
    if ambiguous {
        return Ok(None);
    }
    // The index in `coded` of the column `e` names.
    let coded_ref = |e: &Value| -> Option<usize> {
        if e["class"] != "COLUMN_REF" {
            return None;
        }
        let Some(Ref::Dim(leaf, column)) = scope.resolve(e) else {
            return None;
        };
        coded
            .iter()
            .position(|k| k.leaf == leaf && k.column == column)
    };
    let mut decoders = Vec::new();
    for k in &coded {
        let mut d = parse_expression(conn, &format!("{}[__olap_code]", k.values_sql()))?;
        d = replace(&d, &|x| {
            (x["class"] == "COLUMN_REF" && x["column_names"] == json!(["__olap_code"]))
                .then(|| column_ref(&leaves[k.leaf].alias, &k.code_column()))
        });
        decoders.push(d);
    }
    // Outside aggregates, the column is its group's code looked up.
    let decode = |e: &Value| -> Option<Value> {
        if scope.is_aggregate(e) {
            return Some(e.clone());
        }
        let mut d = decoders[coded_ref(e)?].clone();
        d["alias"] = e["alias"].clone();
        Some(d)
    };
    let mut new = node.clone();
    let mut items = Vec::new();
    for item in node["select_list"].as_array().into_iter().flatten() {
        let mut changed = replace(item, &decode);
        if changed != *item && item["alias"].as_str().is_none_or(str::is_empty) {
            // Named as DuckDB names it: a column by its name; anything
            // else by its text, which only the top level can restore.
            match item["column_names"].as_array().and_then(|n| n.last()) {
                Some(name) if item["class"] == "COLUMN_REF" => changed["alias"] = name.clone(),
                _ if nested => return Ok(None),
                _ => {}
            }
        }
        items.push(changed);
    }
    new["select_list"] = Value::Array(items);
    for part in ["having", "qualify"] {
        new[part] = replace(&node[part], &decode);
    }
    let mut modifiers = node["modifiers"].clone();
    for m in modifiers.as_array_mut().into_iter().flatten() {
        for o in m["orders"].as_array_mut().into_iter().flatten() {
            if !bare_alias(&o["expression"]) {
                o["expression"] = replace(&o["expression"], &decode);
            }
        }
        if m["distinct_on_targets"].is_array() {
            m["distinct_on_targets"] = replace(&m["distinct_on_targets"], &decode);
        }
    }
    new["modifiers"] = modifiers;
    new["group_expressions"] = replace(&node["group_expressions"], &|e| {
        coded_ref(e).map(|i| column_ref(&leaves[coded[i].leaf].alias, &coded[i].code_column()))
    });
    let mut from = node["from_table"].clone();
    let mut described = Vec::new();
    for (leaf, l) in leaves.iter().enumerate() {
        let codes: Vec<&Coded> = coded.iter().filter(|k| k.leaf == leaf).collect();
        if codes.is_empty() {
            continue;
        }
        let columns: Vec<String> = codes
            .iter()
            .map(|k| {
                described.push(format!(
                    "{}.{} ({} values)",
                    l.table.name(),
                    k.column,
                    k.values.len()
                ));
                let c = format!("\"{}\"", k.column);
                format!(
                    "CASE WHEN {c} IS NULL THEN NULL ELSE coalesce(list_position({list}, {c}), \
                     error('olap: ' || {c} || ' is not a value of {table}.{column} this query was planned with')) \
                     END::UTINYINT AS {code}",
                    list = k.values_sql(),
                    table = l.table.name(),
                    column = k.column,
                    code = k.code_column(),
                )
            })
            .collect();
        let inner = parse_node(
            conn,
            &format!("SELECT *, {} FROM {}", columns.join(", "), l.table.name()),
        )?;
        let subquery = json!({
            "type": "SUBQUERY", "alias": l.alias, "sample": null,
            "subquery": {"node": inner, "named_param_map": []},
            "column_name_alias": [],
        });
        from = replace_leaf(&from, &l.alias, &subquery);
    }
    new["from_table"] = from;
    let note = format!(
        "grouped by codes: {} grouped by a one-byte code",
        described.join(", ")
    );
    Ok(Some((new, note)))
}

/// The fact table's node in a FROM tree.
fn fact_table(t: &Value) -> Option<Value> {
    match t["type"].as_str()? {
        "BASE_TABLE" => t["table_name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("sales_fact"))
            .then(|| t.clone()),
        "JOIN" => fact_table(&t["left"]).or_else(|| fact_table(&t["right"])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sql_type;

    /// Empty tables with the star schema's columns: enough to parse and bind.
    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        for t in Table::ALL {
            let cols: Vec<String> = columns(t)
                .iter()
                .map(|name| {
                    let ty = t
                        .schema()
                        .field_with_name(name)
                        .map_or("INTEGER".to_string(), |f| sql_type(f.data_type()));
                    format!("{name} {ty}")
                })
                .collect();
            c.execute_batch(&format!("CREATE TABLE {} ({})", t.name(), cols.join(", ")))
                .unwrap();
        }
        c
    }

    /// 10M fact rows, 1M customers: the default data set's sizes.
    fn stats() -> Stats {
        let rows = [
            (Table::DimTime, 1095),
            (Table::DimGeography, 5000),
            (Table::DimProduct, 13_479),
            (Table::DimCustomer, 1_000_000),
            (Table::DimPayment, 20),
        ];
        Stats {
            fact_rows: 10_000_000,
            years: 3,
            dim_rows: rows.into_iter().collect(),
        }
    }

    fn rewrite(sql: &str) -> Option<Rewrite> {
        super::rewrite(&conn(), sql, &stats()).unwrap()
    }

    /// The function kinds olap ships are the linked DuckDB's.
    #[test]
    fn function_kinds_match_duckdb() {
        let c = Connection::open_in_memory().unwrap();
        let mut stmt = c
            .prepare(
                "SELECT CASE WHEN t = 'aggregate' THEN 'aggregate' ELSE 'other' END || ' ' || n \
                 FROM (SELECT lower(function_name) AS n, \
                       string_agg(DISTINCT function_type, ',' ORDER BY function_type) AS t \
                       FROM duckdb_functions() GROUP BY 1) \
                 WHERE t NOT IN ('scalar', 'table', 'pragma', 'table_macro', 'pragma,table') \
                 ORDER BY 1",
            )
            .unwrap();
        let listed: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let shipped: Vec<&str> = FUNCTION_KINDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert_eq!(shipped, listed, "regenerate src/query/function_kinds.txt");
        assert_eq!(kind_of("sum"), Kind::Aggregate);
        assert_eq!(kind_of("json_group_array"), Kind::Other);
        assert_eq!(kind_of("month"), Kind::Scalar);
    }

    #[test]
    fn aggregates_the_fact_by_its_keys_before_the_join() {
        let r = rewrite(
            "SELECT c.customer_id, c.segment, sum(f.revenue) AS revenue
             FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key
             WHERE f.year = 2023
             GROUP BY c.customer_id, c.segment
             ORDER BY revenue DESC, c.customer_id LIMIT 10",
        )
        .expect("rewritten");
        assert_eq!(
            r.note,
            "eager aggregation: sales_fact aggregated by customer_key before the join to dim_customer"
        );
        let sql = r.sql.to_lowercase();
        assert!(
            sql.contains("group by f.customer_key")
                && sql.contains("sum(f.__olap_partial_0)")
                && sql.contains("(f.\"year\" = 2023)")
                && sql.ends_with("limit 10"),
            "{}",
            r.sql
        );
    }

    #[test]
    fn counts_stay_bigint_and_unnamed_columns_keep_their_names() {
        let c = conn();
        let sql = "SELECT g.region, f.quarter, count(*), sum(f.revenue) / count(f.revenue) AS mean, min(f.date), max(f.quantity)
                   FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
                   GROUP BY g.region, f.quarter ORDER BY sum(f.revenue) DESC";
        let r = super::rewrite(&c, sql, &stats())
            .unwrap()
            .expect("rewritten");
        assert_eq!(describe(&c, &r.sql).unwrap(), describe(&c, sql).unwrap());
        assert!(r.sql.contains("CAST(sum(f.__olap_partial_"), "{}", r.sql);
        assert!(r.note.contains("geo_key, quarter"), "{}", r.note);
    }

    #[test]
    fn several_dimensions_and_unqualified_columns() {
        let r = rewrite(
            "SELECT month_name, payment_type, sum(revenue) AS revenue
             FROM sales_fact
             JOIN dim_time ON sales_fact.time_key = dim_time.time_key
             JOIN dim_payment ON dim_payment.payment_key = sales_fact.payment_key
             WHERE sales_fact.year = 2022 AND sales_fact.quarter IN (1, 2)
             GROUP BY month_name, payment_type",
        )
        .expect("rewritten");
        assert_eq!(
            r.note,
            "eager aggregation: sales_fact aggregated by payment_key, time_key before the join to dim_time, dim_payment"
        );
    }

    /// Shapes that are not the same query after the rewrite, or that it
    /// would slow down, are run as written.
    #[test]
    fn leaves_other_shapes_alone() {
        let join = "FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key";
        for sql in [
            // A filter on a dimension: the join filters the fact scan.
            format!("SELECT c.customer_id, sum(f.revenue) {join} WHERE c.segment = 'Consumer' GROUP BY c.customer_id"),
            // Few groups over a million partial ones: slower.
            format!("SELECT c.segment, sum(f.revenue) {join} GROUP BY c.segment"),
            // Aggregates that do not split, or read a dimension.
            format!("SELECT c.customer_id, count(DISTINCT f.product_key) {join} GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, avg(f.revenue) {join} GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, count(c.segment) {join} GROUP BY c.customer_id"),
            // Macros: an aggregate inside (json_group_array), or not known.
            format!("SELECT c.customer_id, json_group_array(c.segment), sum(f.revenue) {join} GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, sum(f.revenue) / nullif(sum(f.quantity), 0) {join} GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, sum(f.revenue) FILTER (WHERE f.quantity > 1) {join} GROUP BY c.customer_id"),
            // HAVING, a window, a subquery, a star, grouping sets.
            format!("SELECT c.customer_id, sum(f.revenue) {join} GROUP BY c.customer_id HAVING sum(f.revenue) > 0"),
            format!("SELECT c.customer_id, sum(f.revenue), rank() OVER (ORDER BY sum(f.revenue)) {join} GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, sum(f.revenue) {join} WHERE f.year = (SELECT max(year) FROM sales_fact) GROUP BY c.customer_id"),
            format!("SELECT c.customer_id, count(*) {join} GROUP BY ROLLUP (c.customer_id)"),
            // Outer joins, a join off the dimension's key, a dimension twice.
            "SELECT c.customer_id, sum(f.revenue) FROM sales_fact f LEFT JOIN dim_customer c ON f.customer_key = c.customer_key GROUP BY c.customer_id".to_string(),
            "SELECT c.customer_id, sum(f.revenue) FROM sales_fact f JOIN dim_customer c ON f.geo_key = c.home_geo_key GROUP BY c.customer_id".to_string(),
            "SELECT cur.category, sum(f.revenue) FROM sales_fact f JOIN dim_product p ON f.product_key = p.product_key JOIN dim_product cur ON cur.product_id = p.product_id AND cur.is_current GROUP BY cur.category".to_string(),
            "SELECT g.region, sum(f.revenue) FROM sales_fact f JOIN dim_geography g USING (geo_key) GROUP BY g.region".to_string(),
            // No join, no GROUP BY, several statements, not SQL at all.
            "SELECT year, sum(revenue) FROM sales_fact GROUP BY year".to_string(),
            format!("SELECT sum(f.revenue) {join}"),
            "SELECT 1; SELECT 2".to_string(),
            "SELEKT nonsense".to_string(),
        ] {
            assert_eq!(rewrite(&sql), None, "{sql}");
        }
    }
    /// `conn()` with keys in the dimensions the bitmap rewrite reads.
    fn conn_with_keys(customer_keys: &str) -> Connection {
        let c = conn();
        c.execute_batch(&format!(
            "INSERT INTO dim_geography (geo_key, region) SELECT k, 'r' || (k % 5) FROM range(1, 5001) t(k);
             INSERT INTO dim_customer (customer_key, customer_id, segment) SELECT k, 'C' || k, 's' || (k % 3) FROM {customer_keys} t(k);
             INSERT INTO dim_product (product_key) SELECT k FROM range(1, 13480) t(k);"
        ))
        .unwrap();
        c
    }

    #[test]
    fn counts_distinct_keys_in_bitmaps() {
        let c = conn_with_keys("range(1, 1001)");
        let sql = "SELECT g.region, f.year, count(DISTINCT f.customer_key) AS customers, count(*)
                   FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
                   GROUP BY g.region, f.year HAVING count(DISTINCT f.customer_key) > 1
                   ORDER BY count(DISTINCT f.customer_key) DESC";
        let r = super::rewrite(&c, sql, &stats())
            .unwrap()
            .expect("rewritten");
        assert_eq!(
            r.note,
            "count(DISTINCT) as bitmaps: customer_key 1..1000 counted in bitmaps of 1 KiB each, 15000 groups at most; \
             grouped by codes: dim_geography.region (5 values) grouped by a one-byte code"
        );
        assert_eq!(
            r.sql
                .matches("COALESCE(bit_count(bitstring_agg(f.customer_key, 1, 1000)), 0)")
                .count(),
            3,
            "{}",
            r.sql
        );
        assert!(
            r.sql.contains("count_star() AS \"count_star()\""),
            "{}",
            r.sql
        );
        assert_eq!(describe(&c, &r.sql).unwrap(), describe(&c, sql).unwrap());
        // A dimension's own key, no GROUP BY, two dimensions counted.
        let r = super::rewrite(
            &c,
            "SELECT count(DISTINCT c.customer_key), count(DISTINCT f.product_key) FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key",
            &stats(),
        )
        .unwrap()
        .expect("rewritten");
        assert!(
            r.note.contains("customer_key 1..1000")
                && r.note.contains("product_key 1..13479")
                && r.note.ends_with("1 group at most"),
            "{}",
            r.note
        );
    }

    /// Counts of other columns, other shapes, and bitmaps over the budget
    /// are left as written.
    #[test]
    fn bitmaps_only_for_keys_that_fit() {
        let join = "FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key";
        let narrow = conn_with_keys("range(1, 1001)");
        let wide = conn_with_keys("(VALUES (1), (100000000))");
        for (c, sql) in [
            // 5 regions x 12.5 MB: over the budget.
            (
                &wide,
                format!("SELECT g.region, count(DISTINCT f.customer_key) {join} GROUP BY g.region"),
            ),
            // Not a key; FILTER; a grouped expression; grouping sets; a CTE.
            (
                &narrow,
                format!("SELECT g.region, count(DISTINCT f.quantity) {join} GROUP BY g.region"),
            ),
            (
                &narrow,
                format!(
                    "SELECT g.region, count(DISTINCT f.customer_key) FILTER (WHERE f.quantity > 1) {join} GROUP BY g.region"
                ),
            ),
            (
                &narrow,
                format!(
                    "SELECT year(f.date), count(DISTINCT f.customer_key) {join} GROUP BY year(f.date)"
                ),
            ),
            (
                &narrow,
                format!(
                    "SELECT g.region, count(DISTINCT f.customer_key) {join} GROUP BY ROLLUP (g.region)"
                ),
            ),
            (
                &narrow,
                format!(
                    "WITH x AS (SELECT 1) SELECT g.region, count(DISTINCT f.customer_key) {join} GROUP BY g.region"
                ),
            ),
            // Inside a subquery: its own scope.
            (
                &narrow,
                format!(
                    "SELECT (SELECT count(DISTINCT customer_key) FROM sales_fact) AS n, count(*) {join}"
                ),
            ),
        ] {
            // The 5 regions may still be grouped by code (see below).
            let r = super::rewrite(c, &sql, &stats()).unwrap();
            assert!(
                r.as_ref().is_none_or(|r| !r.note.contains("bitmaps")),
                "{sql}: {r:?}"
            );
        }
        // Region (5 values, counted) x 12.5 MB is over; one group is not.
        let r = super::rewrite(
            &wide,
            "SELECT count(DISTINCT customer_key) FROM sales_fact",
            &stats(),
        )
        .unwrap()
        .expect("one group fits");
        assert!(r.note.contains("customer_key 1..100000000"), "{}", r.note);
    }

    /// A fact and dimensions with rows, for running a rewrite.
    fn conn_with_rows() -> Connection {
        let c = conn_with_keys("range(1, 1001)");
        c.execute_batch(
            "UPDATE dim_customer SET segment = NULL WHERE customer_key = 7;
             UPDATE dim_customer SET segment = 'Home ''Office' WHERE customer_key % 10 = 1;
             UPDATE dim_product SET brand = 'b' || (product_key % 300), category = 'c' || (product_key % 4);
             INSERT INTO sales_fact (customer_key, product_key, geo_key, revenue, quantity, year)
             SELECT 1 + (k * 7) % 1000, 1 + (k * 13) % 13479, 1 + (k * 31) % 5000, k % 97, k % 5, 2020 + k % 3
             FROM range(0, 20000) t(k);",
        )
        .unwrap();
        c
    }

    fn rows(c: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = c
            .prepare(&format!("SELECT CAST(q AS VARCHAR) FROM ({sql}) q"))
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn groups_dimension_strings_by_code() {
        let c = conn_with_rows();
        for (sql, note) in [
            (
                // NULL, a quote, HAVING and ORDER BY on the column, an
                // aggregate of it, a LEFT JOIN.
                "SELECT c.segment, f.year, sum(f.revenue) AS revenue, max(c.segment) AS top, count(*)
                 FROM sales_fact f LEFT JOIN dim_customer c ON f.customer_key = c.customer_key
                 GROUP BY c.segment, f.year HAVING c.segment IS NULL OR c.segment <> 's2'
                 ORDER BY c.segment NULLS FIRST, f.year",
                "grouped by codes: dim_customer.segment (4 values) grouped by a one-byte code",
            ),
            (
                // Two columns of one dimension, another dimension; a bare
                // ORDER BY name that is an alias stays the alias.
                "SELECT p.category, upper(p.brand) AS brand, g.region, sum(f.revenue) AS revenue
                 FROM sales_fact f JOIN dim_product p ON f.product_key = p.product_key
                 JOIN dim_geography g ON f.geo_key = g.geo_key
                 GROUP BY p.category, p.brand, g.region ORDER BY brand DESC, 1, 3 LIMIT 50",
                "grouped by codes: dim_product.category (4 values), dim_geography.region (5 values) grouped by a one-byte code",
            ),
            (
                // Aggregated in a subquery, ranked outside.
                "SELECT region, revenue, rank() OVER (ORDER BY revenue DESC) AS r
                 FROM (SELECT g.region, sum(f.revenue) AS revenue
                       FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
                       GROUP BY g.region) x
                 ORDER BY region",
                "grouped by codes: dim_geography.region (5 values) grouped by a one-byte code",
            ),
        ] {
            let r = super::rewrite(&c, sql, &stats())
                .unwrap()
                .unwrap_or_else(|| panic!("rewritten: {sql}"));
            assert_eq!(r.note, note, "{sql}");
            assert!(r.sql.contains(" AS UTINYINT) AS __olap_code_"), "{}", r.sql);
            let (want, got) = (rows(&c, sql), rows(&c, &r.sql));
            assert!(want.len() > 3, "{want:?}");
            assert_eq!(got, want, "{}", r.sql);
        }
        // A value that was not there when the query was planned stops it.
        let sql = "SELECT c.segment, count(*) FROM sales_fact f JOIN dim_customer c \
                   ON f.customer_key = c.customer_key GROUP BY c.segment";
        let r = super::rewrite(&c, sql, &stats())
            .unwrap()
            .expect("rewritten");
        c.execute_batch("UPDATE dim_customer SET segment = 'new' WHERE customer_key = 8")
            .unwrap();
        let err = c
            .prepare(&r.sql)
            .unwrap()
            .query([])
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("new is not a value of dim_customer.segment"),
            "{err}"
        );
    }

    #[test]
    fn codes_only_for_few_grouped_strings() {
        let c = conn_with_rows();
        let join = "FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key \
                    JOIN dim_product p ON f.product_key = p.product_key";
        // The shape the cases below vary is taken.
        let plain = format!("SELECT c.segment, sum(f.revenue) {join} GROUP BY c.segment");
        assert!(super::rewrite(&c, &plain, &stats()).unwrap().is_some());
        for sql in [
            // Unique, too many values, not a string, not grouped.
            format!("SELECT c.customer_id, sum(f.revenue) {join} GROUP BY c.customer_id"),
            format!("SELECT p.brand, sum(f.revenue) {join} GROUP BY p.brand"),
            format!("SELECT p.list_price, sum(f.revenue) {join} GROUP BY p.list_price"),
            format!("SELECT max(c.segment), sum(f.revenue) {join}"),
            // No fact rows to group; grouping sets; a scalar subquery; a
            // HAVING name that is also an alias; a CTE.
            "SELECT segment, count(*) FROM dim_customer GROUP BY segment".to_string(),
            format!("SELECT c.segment, sum(f.revenue) {join} GROUP BY ROLLUP (c.segment)"),
            format!(
                "SELECT c.segment, (SELECT count(*) FROM dim_payment) AS n, sum(f.revenue) {join} GROUP BY c.segment"
            ),
            format!(
                "SELECT c.segment, upper(c.segment) AS segment_name, sum(f.revenue) {join} \
                 GROUP BY c.segment HAVING segment_name <> 'x'"
            ),
            format!(
                "WITH x AS (SELECT 1) SELECT c.segment, sum(f.revenue) {join} GROUP BY c.segment"
            ),
            // In a subquery, an unnamed expression of the column: its name
            // would change under the outer query.
            format!(
                "SELECT * FROM (SELECT upper(c.segment), sum(f.revenue) {join} GROUP BY c.segment) x"
            ),
        ] {
            assert_eq!(super::rewrite(&c, &sql, &stats()).unwrap(), None, "{sql}");
        }
    }

    /// Generated queries over the star (joins of any dimensions, inner or
    /// left, grouped by dimension strings and fact columns, with sums,
    /// counts, min/max of a string, distinct keys, WHERE and HAVING): every
    /// one that olap rewrites answers as written.
    #[test]
    fn generated_queries_answer_as_written() {
        let c = conn_with_rows();
        c.execute_batch(
            "UPDATE dim_customer SET channel = 'ch' || (customer_key % 4), ltv_tier = CASE WHEN customer_key % 9 = 0 THEN NULL ELSE 't' || (customer_key % 2) END;
             UPDATE dim_geography SET country = 'k' || (geo_key % 40), city = 'city' || geo_key;
             UPDATE sales_fact SET time_key = 20200101 + customer_key % 28, profit = revenue / 3;
             INSERT INTO dim_time (time_key, day_name, month_name) SELECT 20200101 + k, 'd' || (k % 7), 'm' || (k % 12) FROM range(0, 28) t(k);",
        )
        .unwrap();
        struct Dim {
            join: &'static str,
            columns: &'static [&'static str],
        }
        let dims = [
            Dim {
                join: "dim_customer c ON f.customer_key = c.customer_key",
                columns: &["c.segment", "c.channel", "c.ltv_tier", "c.customer_id"],
            },
            Dim {
                join: "dim_geography g ON f.geo_key = g.geo_key",
                columns: &["g.region", "g.country", "g.city"],
            },
            Dim {
                join: "dim_product p ON f.product_key = p.product_key",
                columns: &["p.category", "p.brand"],
            },
            Dim {
                join: "dim_time t ON f.time_key = t.time_key",
                columns: &["t.day_name", "t.month_name"],
            },
        ];
        let fact_columns = ["f.year", "f.quantity"];
        let aggregates = [
            "sum(f.revenue) AS revenue",
            "count(*) AS n",
            "min(f.quantity) AS least",
            "count(DISTINCT f.customer_key) AS customers",
            "sum(f.profit) / count(f.profit) AS mean",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let (mut rewritten, mut notes) = (0, BTreeSet::new());
        for case in 0..120 {
            let mut joins = Vec::new();
            let mut groups = Vec::new();
            for d in &dims {
                if next(2) == 0 {
                    continue;
                }
                let kind = if next(4) == 0 { "LEFT JOIN" } else { "JOIN" };
                joins.push(format!("{kind} {}", d.join));
                let col = d.columns[next(d.columns.len())];
                if next(3) != 0 {
                    groups.push(col.to_string());
                }
            }
            if next(3) == 0 {
                groups.push(fact_columns[next(2)].to_string());
            }
            let mut select = groups.clone();
            let aggs: Vec<&str> = (0..1 + next(3))
                .map(|_| aggregates[next(aggregates.len())])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            select.extend(aggs.iter().map(|a| a.to_string()));
            if let Some(g) = groups.first().filter(|_| next(3) == 0) {
                select.push(format!("max({g}) AS top"));
            }
            let filter = match next(4) {
                0 => " WHERE f.year = 2021",
                1 if joins.iter().any(|j| j.contains("dim_customer")) => " WHERE c.segment <> 's1'",
                _ => "",
            };
            let group_by = if groups.is_empty() {
                String::new()
            } else {
                format!(" GROUP BY {}", groups.join(", "))
            };
            let having = if !groups.is_empty() && next(3) == 0 {
                " HAVING count(*) > 2"
            } else {
                ""
            };
            let sql = format!(
                "SELECT {} FROM sales_fact f {}{filter}{group_by}{having}",
                select.join(", "),
                joins.join(" ")
            );
            let Some(r) = super::rewrite(&c, &sql, &stats()).unwrap() else {
                continue;
            };
            rewritten += 1;
            notes.insert(r.note.split(':').next().unwrap_or_default().to_string());
            let ordered = |q: &str| format!("SELECT * FROM ({q}) ORDER BY ALL");
            assert_eq!(
                rows(&c, &ordered(&r.sql)),
                rows(&c, &ordered(&sql)),
                "case {case}: {sql}\nrewritten: {}",
                r.sql
            );
        }
        // The cases reach every rewrite, and most of them.
        assert!(rewritten >= 40, "{rewritten} of 120 rewritten");
        for kind in [
            "eager aggregation",
            "count(DISTINCT) as bitmaps",
            "grouped by codes",
        ] {
            assert!(
                notes.iter().any(|n| n.starts_with(kind)),
                "{kind} not in {notes:?}"
            );
        }
    }
}

//! The parsed query model the rewrites share: DuckDB's parse tree of a
//! SELECT (from `json_serialize_sql`), what its names refer to, and the
//! helpers that read and rebuild it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use duckdb::Connection;
use serde_json::{Value, json};

#[allow(unused_imports)]
use super::*;
use crate::model::Table;

/// The dimension whose key (its first column) a fact column is.
pub(super) fn dim_keyed_by(column: &str) -> Option<Table> {
    Table::ALL
        .into_iter()
        .find(|t| !t.is_fact() && t.schema().field(0).name() == column)
}

/// Columns that identify a dimension's row (its key, and a natural id where
/// the dimension keeps one row per id).
pub(super) fn unique_columns(t: Table) -> &'static [&'static str] {
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
pub(super) fn columns(t: Table) -> &'static [String] {
    static COLUMNS: std::sync::LazyLock<BTreeMap<Table, Vec<String>>> =
        std::sync::LazyLock::new(|| {
            Table::ALL
                .into_iter()
                .map(|t| (t, t.view_columns()))
                .collect()
        });
    &COLUMNS[&t]
}

/// What a function name is to DuckDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) const FUNCTION_KINDS: &str = include_str!("function_kinds.txt");

/// The kind of a function name (lower case): names not listed are scalar.
pub(super) fn kind_of(name: &str) -> Kind {
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
pub(super) struct Leaf {
    pub(super) table: Table,
    pub(super) alias: String,
}

/// What a column reference names.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ref {
    Fact(String),
    Dim(usize, String),
    /// No table column: a select-list alias (ORDER BY may use those).
    Other,
}

pub(super) struct Scope<'a> {
    pub(super) leaves: &'a [Leaf],
}

impl Scope<'_> {
    pub(super) fn resolve(&self, colref: &Value) -> Option<Ref> {
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
    pub(super) fn kind(&self, e: &Value) -> Option<Kind> {
        if e["class"] != "FUNCTION" {
            return None;
        }
        let plain = |k: &str| e[k].as_str().is_none_or(str::is_empty);
        if !plain("schema") || !plain("catalog") {
            return Some(Kind::Other);
        }
        Some(kind_of(&e["function_name"].as_str()?.to_ascii_lowercase()))
    }

    pub(super) fn is_aggregate(&self, e: &Value) -> bool {
        self.kind(e) == Some(Kind::Aggregate)
    }

    /// Checks `e` (a whole expression outside any aggregate) and notes the
    /// references it makes outside aggregates; aggregates it contains must
    /// be ones [`partial`] handles. `None`: not a shape this rewrites.
    pub(super) fn check(&self, e: &Value, refs: &mut Vec<Ref>, aggs_allowed: bool) -> Option<()> {
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
    pub(super) fn partial_ok(&self, e: &Value) -> bool {
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
pub(super) fn plain_call(e: &Value) -> bool {
    e["filter"].is_null()
        && e["order_bys"]["orders"]
            .as_array()
            .is_none_or(|o| o.is_empty())
        && e["export_state"] != Value::Bool(true)
}

/// One of olap's tables named plainly in a FROM clause (no schema, sample,
/// time travel or column aliases).
pub(super) fn base_leaf(t: &Value) -> Option<Leaf> {
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
pub(super) fn collect_from(
    t: &Value,
    leaves: &mut Vec<Leaf>,
    conditions: &mut Vec<Value>,
) -> Option<()> {
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

pub(super) fn conjuncts(e: &Value) -> Vec<&Value> {
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
pub(super) fn has_cte(node: &Value) -> bool {
    node["cte_map"]["map"]
        .as_array()
        .is_some_and(|m| !m.is_empty())
}

/// The GROUP BY expressions of a node grouped the plain way (no GROUPING
/// SETS, ROLLUP, CUBE or `GROUP BY ALL`), empty when it is not grouped;
/// `None` for any other grouping.
pub(super) fn plain_groups(node: &Value) -> Option<&Vec<Value>> {
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
pub(super) fn select_aliases(node: &Value) -> BTreeSet<String> {
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
pub(super) fn is_bare_alias(e: &Value, aliases: &BTreeSet<String>) -> bool {
    e["class"] == "COLUMN_REF"
        && e["column_names"].as_array().is_some_and(|n| n.len() == 1)
        && e["column_names"][0]
            .as_str()
            .is_some_and(|n| aliases.contains(&n.to_ascii_lowercase()))
}

pub(super) fn column_ref(table: &str, column: &str) -> Value {
    json!({"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "column_names": [table, column]})
}

pub(super) fn function(name: &str, args: Vec<Value>, alias: &str) -> Value {
    json!({
        "class": "FUNCTION", "type": "FUNCTION", "alias": alias, "function_name": name,
        "schema": "", "catalog": "", "filter": null,
        "order_bys": {"type": "ORDER_MODIFIER", "orders": []},
        "distinct": false, "is_operator": false, "export_state": false,
        "arguments": args.into_iter().map(|e| json!({"name": "", "expression": e})).collect::<Vec<_>>(),
        "qualified_name": {"path": [name]},
    })
}

/// Calls `f` on each expression in `e` that is not inside a subquery (a
/// subquery has its own scope); `f` returns `true` to skip its children.
pub(super) fn visit(e: &Value, f: &mut dyn FnMut(&Value) -> bool) {
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
pub(super) fn replace(e: &Value, f: &dyn Fn(&Value) -> Option<Value>) -> Value {
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

/// Whether `e` holds an expression of one of these classes (subqueries
/// included).
pub(super) fn has_class(e: &Value, classes: &[&str]) -> bool {
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
pub(super) fn join_leaves(t: &Value, leaves: &mut Vec<Leaf>) -> Option<()> {
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
pub(super) fn replace_leaf(t: &Value, alias: &str, with: &Value) -> Value {
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
pub(super) fn parse_expression(conn: &Connection, sql: &str) -> Result<Value> {
    Ok(parse_node(conn, &format!("SELECT {sql}"))?["select_list"][0].clone())
}

/// The SELECT node of `sql`, as DuckDB parses it.
pub(super) fn parse_node(conn: &Connection, sql: &str) -> Result<Value> {
    let ast: String = conn.query_row("SELECT json_serialize_sql(?)", [sql], |r| r.get(0))?;
    let ast: Value = serde_json::from_str(&ast)?;
    if ast["error"] != Value::Bool(false) {
        anyhow::bail!("DuckDB cannot parse {sql}: {}", ast["error_message"]);
    }
    Ok(ast["statements"][0]["node"].clone())
}

/// The fact table's node in a FROM tree.
pub(super) fn fact_table(t: &Value) -> Option<Value> {
    match t["type"].as_str()? {
        "BASE_TABLE" => t["table_name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("sales_fact"))
            .then(|| t.clone()),
        "JOIN" => fact_table(&t["left"]).or_else(|| fact_table(&t["right"])),
        _ => None,
    }
}

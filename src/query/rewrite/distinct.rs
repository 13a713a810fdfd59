//! `count(DISTINCT key)` counted in bitmaps (see [`distinct_bitmaps`]).

use std::collections::BTreeMap;

use anyhow::Result;
use duckdb::Connection;
use serde_json::{Value, json};

use super::tree::*;
#[allow(unused_imports)]
use super::*;
use crate::model::Table;

/// What the bitmaps of a `count(DISTINCT key)` rewrite may take, all groups
/// together, in each thread's hash table.
pub(super) const BITMAP_BYTES: u64 = 32 << 20;

/// One `count(DISTINCT key)` the bitmap rewrite takes: the dimension whose
/// keys it counts.
pub(super) struct DistinctKey {
    pub(super) dim: Table,
    pub(super) low: i64,
    pub(super) high: i64,
}

impl DistinctKey {
    pub(super) fn bytes(&self) -> u64 {
        ((self.high - self.low) as u64 / 8) + 1
    }
}

/// The dimension key a `count(DISTINCT …)` in this scope counts: a fact
/// column that references a dimension (every value is one of its keys, an
/// invariant `olap validate` checks), or a dimension's own key. `None` for
/// any other aggregate.
pub(super) fn distinct_key(scope: &Scope, e: &Value) -> Option<Table> {
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
pub(super) fn distinct_bitmaps(
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

//! Eager aggregation: the fact table aggregated by its foreign keys before
//! the joins (see the precondition on [`rewrite_select`]).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::tree::*;
#[allow(unused_imports)]
use super::*;

/// Replaces each aggregate in `e` by its combination over a partial one
/// (added to `partials`, shared by equal aggregates).
pub(super) fn combine(
    e: &Value,
    scope: &Scope,
    fact: &str,
    partials: &mut Vec<(Value, String)>,
) -> Value {
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
pub(super) fn strip(e: &mut Value) {
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
pub(super) fn rewrite_select(node: &Value, stats: &Stats) -> Option<(Value, String)> {
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

//! Random star-schema questions, written the ways analysts write them.
//!
//! A question is drawn from a seed alone (the same seed gives the same SQL
//! on any machine), so a failure is replayed by its seed. The grammar
//! covers the shapes olap's rewrites and fact view must leave equal: joins
//! to 0-3 dimensions written with `JOIN … ON`, with commas and `WHERE`, and
//! both mixed (a `JOIN … ON` whose condition names a table listed before
//! the comma); LEFT/RIGHT/FULL joins with extra `ON` predicates and join
//! keys that are NULL for some rows; filters on facts and dimensions, IN
//! and EXISTS subqueries, filters no row passes; plain GROUP BY, GROUP BY
//! ALL, ROLLUP, CUBE, GROUPING SETS, global aggregates and SELECT DISTINCT;
//! sums, counts, distinct counts (of keys, of expressions that are negative
//! or beyond 2^32), FILTER, AVG, MIN/MAX, median, quantiles, mode and
//! string_agg; HAVING, QUALIFY, CTEs, windows over the grouped result,
//! aggregates of aggregates, UNION/INTERSECT/EXCEPT and ORDER BY … LIMIT.
//!
//! Every question has one answer: LIMIT comes only after an ORDER BY over
//! all output columns, windows rank with ties kept (`rank`, not
//! `row_number`), and string_agg orders what it concatenates.

/// SplitMix64: small, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A dimension as the grammar uses it.
struct Dim {
    table: &'static str,
    alias: &'static str,
    key: &'static str,
    /// Columns to group by (strings, booleans, small integers).
    groups: &'static [&'static str],
    /// Conditions on the dimension alone, `{a}` standing for its alias.
    filters: &'static [&'static str],
}

const DIMS: [Dim; 5] = [
    Dim {
        table: "dim_time",
        alias: "t",
        key: "time_key",
        groups: &[
            "day_name",
            "month_name",
            "is_weekend",
            "holiday_name",
            "day_of_week",
            "is_holiday",
        ],
        filters: &[
            "{a}.is_weekend",
            "NOT {a}.is_holiday",
            "{a}.month IN (6, 7, 8)",
            "{a}.holiday_name IS NOT NULL",
            "{a}.day_of_week BETWEEN 1 AND 5",
        ],
    },
    Dim {
        table: "dim_geography",
        alias: "g",
        key: "geo_key",
        groups: &["region", "country", "state", "city", "country_code"],
        filters: &[
            "{a}.lat > 0",
            "{a}.region = 'Europe'",
            "{a}.region IN ('Asia Pacific', 'Latin America')",
            "{a}.country <> 'United States'",
            "{a}.lon < -30",
        ],
    },
    Dim {
        table: "dim_product",
        alias: "p",
        key: "product_key",
        groups: &["category", "subcategory", "brand", "is_current", "name"],
        filters: &[
            "{a}.is_current",
            "NOT {a}.is_current",
            "{a}.category = 'Electronics'",
            "{a}.list_price > 100",
            "{a}.effective_date >= DATE '2022-01-01'",
        ],
    },
    Dim {
        table: "dim_customer",
        alias: "c",
        key: "customer_key",
        groups: &["segment", "channel", "ltv_tier"],
        filters: &[
            "{a}.segment = 'Consumer'",
            "{a}.channel <> 'Online'",
            "{a}.ltv_tier IN ('Gold', 'Platinum')",
            "{a}.home_geo_key < 50",
        ],
    },
    Dim {
        table: "dim_payment",
        alias: "y",
        key: "payment_key",
        groups: &["payment_type", "provider"],
        filters: &["{a}.fee_percent > 1.5", "{a}.payment_type <> 'Cash'"],
    },
];

/// Fact columns and expressions to group by (`f` is the fact's alias).
const FACT_GROUPS: [&str; 12] = [
    "f.year",
    "f.quarter",
    "f.month",
    "f.line_item_id",
    "f.quantity",
    "f.payment_key",
    "f.geo_key",
    "f.year * 100 + f.month",
    "f.quantity > 3",
    "f.customer_key",
    "f.date",
    "f.product_key",
];

/// Conditions on fact columns.
const FACT_FILTERS: [&str; 11] = [
    "f.year = 2023",
    "f.year >= 2022",
    "f.quarter IN (1, 2)",
    "f.month = 12",
    "f.date BETWEEN DATE '2022-03-01' AND DATE '2022-04-15'",
    "f.quantity > 3",
    "f.revenue > 250",
    "f.discount_amount > 0",
    "f.year = 1990",
    "f.line_item_id = 1",
    "f.profit < 0",
];

/// Aggregates over fact columns only, with whether their value is exact
/// (integers, decimals, dates, strings: compared and ordered exactly) or a
/// double (compared to a relative 1e-9).
const FACT_AGGS: [(&str, bool); 22] = [
    ("SUM(f.revenue)", true),
    ("SUM(f.revenue - f.cost)", true),
    ("COUNT(*)", true),
    ("COUNT(f.transaction_id)", true),
    ("COUNT(DISTINCT f.customer_key)", true),
    ("COUNT(DISTINCT f.product_key)", true),
    ("COUNT(DISTINCT f.transaction_id)", true),
    ("COUNT(DISTINCT f.customer_key::BIGINT - 5000000000)", true),
    ("COUNT(DISTINCT -f.customer_key)", true),
    (
        "COUNT(DISTINCT f.customer_key) FILTER (WHERE f.quantity > 2)",
        true,
    ),
    ("SUM(f.revenue) FILTER (WHERE f.discount_amount > 0)", true),
    ("AVG(f.quantity)", false),
    ("MIN(f.date)", true),
    ("MAX(f.unit_price)", true),
    ("SUM(f.profit) / NULLIF(SUM(f.revenue), 0)", false),
    ("median(f.quantity)", false),
    ("quantile_cont(f.revenue, 0.9)", false),
    // mode() breaks ties arbitrarily (DuckDB: "ties are broken
    // arbitrarily"), so its value is no oracle; whether it found one is.
    ("mode(f.payment_key) IS NOT NULL", true),
    ("SUM(f.quantity)", true),
    ("MAX(f.transaction_id) - MIN(f.transaction_id)", true),
    ("bool_or(f.profit < 0)", true),
    ("COUNT(DISTINCT f.date)", true),
];

/// Aggregates over a dimension's columns (`{a}` its alias).
const DIM_AGGS: [(&str, bool); 5] = [
    ("COUNT(DISTINCT {a}.{k})", true),
    ("COUNT({a}.{k})", true),
    ("MIN({a}.{k})", true),
    ("string_agg(DISTINCT {a}.{g}, ',' ORDER BY {a}.{g})", true),
    ("COUNT(DISTINCT {a}.{g})", true),
];

/// One output column of a question's core SELECT.
#[derive(Debug, Clone)]
struct Out {
    name: String,
    /// Exact values (may be ordered by to make LIMIT deterministic).
    exact: bool,
}

/// A core SELECT: its SQL and its output columns.
struct Core {
    sql: String,
    groups: Vec<Out>,
    aggs: Vec<Out>,
    /// Grouped by plain GROUP BY over real columns (ranked windows and
    /// ORDER BY over its groups are total).
    plain_grouping: bool,
}

/// A question: its SQL, and whether its row order is part of the answer.
#[derive(Debug, Clone)]
pub struct Question {
    pub sql: String,
    pub ordered: bool,
}

/// The question seed `seed` draws.
pub fn question(seed: u64) -> Question {
    let mut r = Rng::new(seed ^ 0x6F6C_6170_6675_7A7A);
    let core = core(&mut r, 0);
    wrap(&mut r, core)
}

/// The join tree and what it makes visible: (FROM clause, WHERE conjuncts
/// it needs, joined dimension indexes).
fn from_clause(r: &mut Rng, depth: usize) -> (String, Vec<String>, Vec<usize>) {
    let n = match r.below(10) {
        0 => 0,
        1..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut dims: Vec<usize> = Vec::new();
    while dims.len() < n {
        let d = r.below(DIMS.len());
        if !dims.contains(&d) {
            dims.push(d);
        }
    }
    let alias = |d: usize| -> String {
        if depth == 0 {
            DIMS[d].alias.to_string()
        } else {
            format!("{}{depth}", DIMS[d].alias)
        }
    };
    let on = |r: &mut Rng, d: usize, kind: &str| -> String {
        let a = alias(d);
        let k = DIMS[d].key;
        let key = if r.chance(0.12) {
            // A join key that is NULL for some rows.
            format!("(CASE WHEN f.quantity > 2 THEN f.{k} END)")
        } else {
            format!("f.{k}")
        };
        let mut cond = if r.chance(0.5) {
            format!("{key} = {a}.{k}")
        } else {
            format!("{a}.{k} = {key}")
        };
        if kind != "JOIN" && r.chance(0.4) || kind == "JOIN" && r.chance(0.15) {
            let extra = r.pick(DIMS[d].filters).replace("{a}", &a);
            cond.push_str(&format!(" AND {extra}"));
        }
        cond
    };
    let fact = "sales_fact f".to_string();
    let mut wheres = Vec::new();
    if dims.is_empty() {
        return (fact, wheres, dims);
    }
    let style = r.below(10);
    let from = match style {
        // JOIN … ON throughout, fact first or a dimension first.
        0..=4 => {
            let mut from = fact.clone();
            let first_dim = r.chance(0.2);
            for (i, &d) in dims.iter().enumerate() {
                let kind = *r.pick(&[
                    "JOIN",
                    "JOIN",
                    "JOIN",
                    "INNER JOIN",
                    "LEFT JOIN",
                    "LEFT JOIN",
                    "RIGHT JOIN",
                    "FULL JOIN",
                ]);
                let table = format!("{} {}", DIMS[d].table, alias(d));
                if i == 0 && first_dim && kind.ends_with("JOIN") && !kind.starts_with("LEFT") {
                    from = format!("{table} {kind} {fact} ON {}", on(r, d, kind));
                } else {
                    from.push_str(&format!(" {kind} {table} ON {}", on(r, d, kind)));
                }
            }
            from
        }
        // Commas and WHERE.
        5..=6 => {
            let mut parts = vec![fact.clone()];
            for &d in &dims {
                parts.push(format!("{} {}", DIMS[d].table, alias(d)));
                wheres.push(format!("f.{k} = {a}.{k}", k = DIMS[d].key, a = alias(d)));
            }
            if r.chance(0.3) {
                parts.reverse();
            }
            parts.join(", ")
        }
        // Both: the last dimension joined with ON after a comma list,
        // its condition naming the fact listed before the comma.
        _ => {
            let mut from = fact.clone();
            let (last, rest) = dims.split_last().expect("at least one");
            for &d in rest {
                from.push_str(&format!(", {} {}", DIMS[d].table, alias(d)));
                wheres.push(format!("f.{k} = {a}.{k}", k = DIMS[d].key, a = alias(d)));
            }
            let kind = *r.pick(&["JOIN", "LEFT JOIN", "LEFT JOIN", "INNER JOIN"]);
            if rest.is_empty() {
                from.push_str(&format!(
                    " {kind} {} {} ON {}",
                    DIMS[*last].table,
                    alias(*last),
                    on(r, *last, kind)
                ));
            } else {
                from = format!(
                    "{from} {kind} {} {} ON {}",
                    DIMS[*last].table,
                    alias(*last),
                    on(r, *last, kind)
                );
            }
            from
        }
    };
    (from, wheres, dims)
}

/// A grouped (or distinct, or global) SELECT over the star.
fn core(r: &mut Rng, depth: usize) -> Core {
    let (from, mut wheres, dims) = from_clause(r, depth);
    let alias = |d: usize| -> String {
        if depth == 0 {
            DIMS[d].alias.to_string()
        } else {
            format!("{}{depth}", DIMS[d].alias)
        }
    };
    // Filters.
    for _ in 0..r.below(3) {
        let w = match r.below(10) {
            0..=4 => r.pick(&FACT_FILTERS).to_string(),
            5..=7 if !dims.is_empty() => {
                let d = *r.pick(&dims);
                r.pick(DIMS[d].filters).replace("{a}", &alias(d))
            }
            8 => format!(
                "f.customer_key IN (SELECT customer_key FROM dim_customer WHERE segment = '{}')",
                r.pick(&["Consumer", "Corporate", "Small Business", "Home Office"])
            ),
            9 => format!(
                "{}EXISTS (SELECT 1 FROM dim_product p9 WHERE p9.product_key = f.product_key AND p9.category = '{}')",
                if r.chance(0.3) { "NOT " } else { "" },
                r.pick(&[
                    "Electronics",
                    "Clothing",
                    "Home & Kitchen",
                    "Sports & Outdoors"
                ])
            ),
            _ => r.pick(&FACT_FILTERS).to_string(),
        };
        if !wheres.contains(&w) {
            wheres.push(w);
        }
    }
    // Group columns: fact expressions and the joined dimensions' columns.
    let mut pool: Vec<String> = FACT_GROUPS.iter().map(|s| s.to_string()).collect();
    for &d in &dims {
        for g in DIMS[d].groups {
            pool.push(format!("{}.{g}", alias(d)));
            pool.push(format!("{}.{g}", alias(d)));
        }
    }
    let grouping = r.below(20);
    let n_groups = match grouping {
        0..=1 => 0,
        _ => 1 + r.below(3) + usize::from(r.chance(0.15)),
    };
    let mut groups: Vec<String> = Vec::new();
    while groups.len() < n_groups {
        let g = r.pick(&pool).clone();
        // Keys of a million values only now and then: they make big answers.
        let wide = g.ends_with("customer_key") || g.ends_with("f.date") || g.ends_with(".name");
        if !groups.contains(&g) && (!wide || r.chance(0.25)) {
            groups.push(g);
        }
    }
    let prefix = if depth == 0 {
        String::new()
    } else {
        format!("s{depth}_")
    };
    let group_outs: Vec<Out> = (0..groups.len())
        .map(|i| Out {
            name: format!("{prefix}g{i}"),
            exact: true,
        })
        .collect();
    // SELECT DISTINCT over the groups, without aggregates.
    if n_groups > 0 && grouping == 2 {
        let items: Vec<String> = groups
            .iter()
            .zip(&group_outs)
            .map(|(g, o)| format!("{g} AS {}", o.name))
            .collect();
        let mut sql = format!("SELECT DISTINCT {} FROM {from}", items.join(", "));
        if !wheres.is_empty() {
            sql.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
        }
        return Core {
            sql,
            groups: group_outs,
            aggs: Vec::new(),
            plain_grouping: true,
        };
    }
    // Aggregates.
    let n_aggs = 1 + r.below(3);
    let mut aggs: Vec<(String, bool)> = Vec::new();
    while aggs.len() < n_aggs {
        let a = if !dims.is_empty() && r.chance(0.15) {
            let d = *r.pick(&dims);
            let (t, exact) = *r.pick(&DIM_AGGS);
            let g = r.pick(DIMS[d].groups);
            (
                t.replace("{a}", &alias(d))
                    .replace("{k}", DIMS[d].key)
                    .replace("{g}", g),
                exact,
            )
        } else {
            let (t, exact) = *r.pick(&FACT_AGGS);
            (t.to_string(), exact)
        };
        if !aggs.iter().any(|(x, _)| *x == a.0) {
            aggs.push(a);
        }
    }
    let agg_outs: Vec<Out> = aggs
        .iter()
        .enumerate()
        .map(|(i, (_, exact))| Out {
            name: format!("{prefix}a{i}"),
            exact: *exact,
        })
        .collect();
    let mut items: Vec<String> = groups
        .iter()
        .zip(&group_outs)
        .map(|(g, o)| format!("{g} AS {}", o.name))
        .collect();
    items.extend(
        aggs.iter()
            .zip(&agg_outs)
            .map(|((a, _), o)| format!("{a} AS {}", o.name)),
    );
    let mut sql = format!("SELECT {} FROM {from}", items.join(", "));
    if !wheres.is_empty() {
        sql.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
    }
    let mut plain = true;
    if n_groups > 0 {
        let list = groups.join(", ");
        let by = match r.below(12) {
            0 => {
                plain = false;
                "ALL".to_string()
            }
            1 if n_groups >= 1 => {
                plain = false;
                format!("ROLLUP ({list})")
            }
            2 if n_groups <= 3 => {
                plain = false;
                format!("CUBE ({list})")
            }
            3 => {
                plain = false;
                let first = &groups[0];
                format!("GROUPING SETS (({list}), ({first}), ())")
            }
            _ => list,
        };
        sql.push_str(&format!(" GROUP BY {by}"));
    }
    if r.chance(0.25) {
        let h = *r.pick(&[
            "SUM(f.revenue) > 1000",
            "COUNT(*) > 5",
            "COUNT(DISTINCT f.customer_key) >= 2",
            "MIN(f.quantity) = 1",
            "AVG(f.revenue) < 500",
        ]);
        sql.push_str(&format!(" HAVING {h}"));
    }
    // QUALIFY: the top groups within the first group column, ties kept.
    if plain && n_groups >= 2 && r.chance(0.12) {
        let exact_agg = aggs.iter().position(|(_, e)| *e);
        if let Some(i) = exact_agg {
            sql.push_str(&format!(
                " QUALIFY rank() OVER (PARTITION BY {} ORDER BY {} DESC NULLS LAST) <= 3",
                groups[0], aggs[i].0
            ));
        }
    }
    Core {
        sql,
        groups: group_outs,
        aggs: agg_outs,
        plain_grouping: plain,
    }
}

/// The core as a whole question: as is, or inside a CTE, a window, an
/// outer aggregate, a set operation or an ORDER BY … LIMIT.
fn wrap(r: &mut Rng, core: Core) -> Question {
    let outs: Vec<&Out> = core.groups.iter().chain(&core.aggs).collect();
    let all_exact = outs.iter().all(|o| o.exact);
    let exact_cols: Vec<&str> = outs
        .iter()
        .filter(|o| o.exact)
        .map(|o| o.name.as_str())
        .collect();
    match r.below(14) {
        // A CTE, filtered outside.
        0 | 1 => {
            let filter = match core.aggs.first() {
                Some(a) if a.exact && r.chance(0.5) => format!(" WHERE {} IS NOT NULL", a.name),
                _ => String::new(),
            };
            Question {
                sql: format!("WITH q AS ({}) SELECT * FROM q{filter}", core.sql),
                ordered: false,
            }
        }
        // A window over the grouped result.
        2 | 3 if !core.groups.is_empty() && !core.aggs.is_empty() => {
            let g = &core.groups[0].name;
            let a = &core.aggs[0].name;
            let w = *r.pick(&[
                "sum({a}) OVER (PARTITION BY {g})",
                "rank() OVER (ORDER BY {a} DESC NULLS LAST)",
                "count(*) OVER ()",
                "dense_rank() OVER (PARTITION BY {g} ORDER BY {a})",
            ]);
            let w = w.replace("{a}", a).replace("{g}", g);
            Question {
                sql: format!("SELECT *, {w} AS w0 FROM ({}) AS s", core.sql),
                ordered: false,
            }
        }
        // Aggregates of aggregates (a basket per group, averaged).
        4 if !core.groups.is_empty() && !core.aggs.is_empty() => {
            let g = &core.groups[0].name;
            let a = &core.aggs[0].name;
            Question {
                sql: format!(
                    "SELECT {g}, count(*) AS n, max({a}) AS top, min({a}) AS low FROM ({}) AS s GROUP BY {g}",
                    core.sql
                ),
                ordered: false,
            }
        }
        // A set operation with another question of the same shape, under
        // another filter.
        5 | 6 => {
            let op = *r.pick(&["UNION ALL", "UNION", "INTERSECT", "EXCEPT", "UNION ALL"]);
            let other = if core.sql.contains(" WHERE ") {
                core.sql
                    .replacen(" WHERE ", " WHERE f.quarter <> 2 AND ", 1)
            } else if core.sql.contains(" GROUP BY ") {
                core.sql
                    .replacen(" GROUP BY ", " WHERE f.quarter <> 2 GROUP BY ", 1)
            } else {
                format!("{} WHERE f.quarter <> 2", core.sql)
            };
            // Doubles computed twice may differ in their last bits: a set
            // operation over them would match rows by chance.
            if !all_exact || !core.sql.contains("FROM sales_fact f") {
                return Question {
                    sql: core.sql,
                    ordered: false,
                };
            }
            Question {
                sql: format!("({}) {op} ({other})", core.sql),
                ordered: false,
            }
        }
        // ORDER BY every output column, then LIMIT: one answer.
        7..=9 if all_exact && core.plain_grouping => {
            let order: Vec<String> = exact_cols
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 1 {
                        format!("{c} DESC NULLS LAST")
                    } else {
                        format!("{c} NULLS FIRST")
                    }
                })
                .collect();
            let limit = *r.pick(&[1, 5, 10, 100]);
            Question {
                sql: format!("{} ORDER BY {} LIMIT {limit}", core.sql, order.join(", ")),
                ordered: true,
            }
        }
        _ => Question {
            sql: core.sql,
            ordered: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_question_every_time() {
        for seed in 0..200 {
            assert_eq!(question(seed).sql, question(seed).sql);
        }
        let distinct: std::collections::BTreeSet<String> =
            (0..200).map(|s| question(s).sql).collect();
        assert!(distinct.len() > 190, "{}", distinct.len());
    }

    #[test]
    fn the_grammar_reaches_every_shape_it_promises() {
        let sqls: Vec<String> = (0..3000).map(|s| question(s).sql).collect();
        for needle in [
            "LEFT JOIN",
            "RIGHT JOIN",
            "FULL JOIN",
            "CASE WHEN f.quantity > 2",
            "GROUP BY ALL",
            "ROLLUP",
            "CUBE",
            "GROUPING SETS",
            "SELECT DISTINCT",
            "FILTER (WHERE",
            "median(",
            "quantile_cont(",
            "mode(",
            "string_agg(",
            "HAVING",
            "QUALIFY",
            "OVER (",
            "WITH q AS",
            "UNION ALL",
            "INTERSECT",
            "EXCEPT",
            "LIMIT",
            " IN (SELECT",
            "EXISTS (",
            "f.year = 1990",
            "5000000000",
            "p.is_current",
        ] {
            assert!(
                sqls.iter().any(|s| s.contains(needle)),
                "no question has {needle}"
            );
        }
        // The repro's shape: a table after a comma, then JOIN … ON naming
        // the fact listed before the comma.
        assert!(sqls.iter().any(|s| {
            s.contains("FROM sales_fact f, ") && s.contains(" JOIN ") && s.contains(" ON f.")
        }));
    }
}

//! The rewrites' tests: each rewrite, its refusals, and generated queries
//! answered the same rewritten and as written.

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
        derived: vec!["month"],
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
    assert_eq!(
        shipped, listed,
        "regenerate src/query/rewrite/function_kinds.txt"
    );
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
        format!("WITH x AS (SELECT 1) SELECT c.segment, sum(f.revenue) {join} GROUP BY c.segment"),
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

/// The guard's refused shape: a JOIN … ON naming a table outside its join
/// (listed before a comma) keeps every rewrite away, and says why; the same
/// question written with JOIN … ON throughout is rewritten as before.
#[test]
fn a_join_condition_naming_a_table_outside_its_join_is_refused() {
    let c = conn_with_rows();
    let refused = [
        // The repro of the 111 s question (distinct bitmaps and codes apply).
        "SELECT g.country AS g0, p.subcategory AS g1, COUNT(DISTINCT f.customer_key) AS a0, SUM(f.revenue - f.cost) AS a1 \
         FROM sales_fact f, dim_geography g LEFT JOIN dim_product p ON f.product_key = p.product_key AND p.is_current \
         WHERE f.geo_key = g.geo_key AND g.lat > 0 GROUP BY g.country, p.subcategory HAVING SUM(f.revenue) > 1000",
        // The two that ran past 60 s at 10M.
        "SELECT c.segment AS g0, p.is_current AS g1, f.line_item_id AS g2, SUM(f.revenue - f.cost) AS a1 \
         FROM sales_fact f, dim_customer c JOIN dim_product p ON f.product_key = p.product_key \
         WHERE f.customer_key = c.customer_key AND p.is_current GROUP BY c.segment, p.is_current, f.line_item_id",
        "SELECT c.segment AS g0, t.holiday_name AS g1, p.brand AS g2, MIN(f.date) AS a0 \
         FROM sales_fact f, dim_customer c, dim_time t LEFT JOIN dim_product p ON f.product_key = p.product_key AND p.is_current \
         WHERE f.customer_key = c.customer_key AND f.time_key = t.time_key GROUP BY c.segment, t.holiday_name, p.brand",
        // Unqualified: line_item_id is a column of neither joined table.
        "SELECT g.region, p.category, count(*) FROM sales_fact f, dim_geography g JOIN dim_product p ON p.list_price > 0 AND line_item_id = 1 \
         WHERE f.geo_key = g.geo_key GROUP BY g.region, p.category",
    ];
    for sql in refused {
        match super::rewrite_or_refuse(&c, sql, &stats()).unwrap() {
            Outcome::AsWritten(Some(why)) => {
                assert!(why.contains("outside that join"), "{why}")
            }
            other => panic!("not refused: {other:?}\n{sql}"),
        }
    }
    // Written with JOIN … ON throughout, the same question is rewritten.
    let joined = "SELECT c.segment, g.region, sum(f.revenue) FROM sales_fact f \
         JOIN dim_geography g ON f.geo_key = g.geo_key LEFT JOIN dim_customer c ON f.customer_key = c.customer_key \
         GROUP BY c.segment, g.region";
    assert!(matches!(
        super::rewrite_or_refuse(&c, joined, &stats()).unwrap(),
        Outcome::Rewritten(_)
    ));
    // A comma join whose conditions sit in WHERE is no outer reference.
    let commas = "SELECT g.country, count(DISTINCT f.customer_key) FROM sales_fact f, dim_geography g \
         WHERE f.geo_key = g.geo_key GROUP BY g.country";
    assert!(!matches!(
        super::rewrite_or_refuse(&c, commas, &stats()).unwrap(),
        Outcome::AsWritten(Some(_))
    ));
}

/// The guard's plan check: a rewrite that brings a join kind the original
/// does not have, or estimates far more rows, is refused.
#[test]
fn plans_that_grow_are_refused() {
    use serde_json::json;
    let scan = |rows: u64| json!({"name": "READ_PARQUET", "extra_info": {"Estimated Cardinality": rows.to_string()}, "children": []});
    let node = |name: &str, rows: u64, children: Vec<Value>| json!({"name": name, "extra_info": {"Estimated Cardinality": rows.to_string()}, "children": children});
    let original = vec![node(
        "HASH_GROUP_BY",
        100,
        vec![node(
            "HASH_JOIN",
            1_000_000,
            vec![scan(1_000_000), scan(5_000)],
        )],
    )];
    assert_eq!(
        guard::compare_plans(&original, &original, 1_000_000),
        Ok(())
    );
    let cross = vec![node(
        "HASH_GROUP_BY",
        100,
        vec![node(
            "CROSS_PRODUCT",
            1_000_000,
            vec![scan(1_000_000), scan(5_000)],
        )],
    )];
    let why = guard::compare_plans(&original, &cross, 1_000_000).unwrap_err();
    assert!(why.contains("CROSS_PRODUCT"), "{why}");
    let delim = vec![node("LEFT_DELIM_JOIN", 10, vec![scan(1_000_000)])];
    assert!(guard::compare_plans(&original, &delim, 1_000_000).is_err());
    // A dependent join in both: not the rewrite's doing.
    assert_eq!(guard::compare_plans(&delim, &delim, 1_000_000), Ok(()));
    let bigger = vec![node(
        "HASH_GROUP_BY",
        100,
        vec![node(
            "HASH_JOIN",
            5_000_000,
            vec![scan(1_000_000), scan(5_000)],
        )],
    )];
    assert!(guard::compare_plans(&original, &bigger, 1_000_000).is_err());
    // An original estimated far too low (a Hive scan under a partition
    // filter) is floored by the fact table's rows.
    let tiny = vec![node("HASH_GROUP_BY", 10, vec![scan(1)])];
    let dims = vec![node("HASH_JOIN", 5_000, vec![scan(1), scan(5_000)])];
    assert!(guard::compare_plans(&tiny, &dims, 60_000).is_ok());
    assert!(guard::compare_plans(&tiny, &dims, 100).is_err());
    let smaller = vec![node("HASH_GROUP_BY", 100, vec![scan(1_000_000)])];
    assert_eq!(guard::compare_plans(&original, &smaller, 1_000_000), Ok(()));
    // The budget grows with the original's estimated work, from a floor.
    let b = |plan: &[Value], rows: u64| guard::budget(plan, rows).as_secs_f64() * 1e3;
    assert!(b(&smaller, 0) >= guard::BUDGET_FLOOR_MS);
    assert!(b(&original, 0) > b(&smaller, 0));
    // The fact table's rows floor estimates that are far too low.
    assert!(b(&tiny, 10_000_000) > b(&tiny, 0) + 900.0);
}

/// The fact alone grouped by `month`, which the view derives from `date`:
/// aggregated by date first, the months derived from the dates, at the top
/// and in a FROM subquery under a window; the same answers as written.
#[test]
fn a_derived_calendar_column_is_grouped_from_the_dates() {
    let c = conn();
    c.execute_batch(
        "INSERT INTO sales_fact (date, year, quarter, month, revenue, quantity, customer_key)
         SELECT d, year(d), quarter(d), month(d), k % 97, k % 5, 1 + k % 1000
         FROM (SELECT k, DATE '2021-01-01' + CAST(k % 1095 AS INTEGER) AS d FROM range(0, 20000) t(k));
         INSERT INTO dim_customer (customer_key) SELECT k FROM range(1, 13) t(k);",
    )
    .unwrap();
    let top = "SELECT year, month, sum(revenue) AS revenue, count(*) AS n, max(quantity) AS most \
               FROM sales_fact WHERE quantity > 0 GROUP BY year, month ORDER BY year, month";
    let window = "SELECT year, month, revenue, \
                  avg(revenue) OVER (ORDER BY year, month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving_avg \
                  FROM (SELECT year, month, sum(revenue) AS revenue FROM sales_fact GROUP BY year, month) m \
                  ORDER BY year, month";
    let joined = "SELECT m.month, m.revenue, count(*) AS customers FROM \
                  (SELECT f.month, sum(f.revenue) AS revenue FROM sales_fact f WHERE f.year = 2022 GROUP BY f.month) m \
                  JOIN dim_customer c ON c.customer_key = m.month GROUP BY m.month, m.revenue ORDER BY 1";
    for sql in [top, window, joined] {
        let r = super::rewrite(&c, sql, &stats())
            .unwrap()
            .unwrap_or_else(|| panic!("not rewritten: {sql}"));
        assert!(
            r.note.starts_with("date first: sales_fact aggregated by "),
            "{}",
            r.note
        );
        assert!(r.note.ends_with("derived from the dates"), "{}", r.note);
        assert!(
            r.note.contains("aggregated by date, then") && r.note.contains("month"),
            "{}",
            r.note
        );
        let lower = r.sql.to_lowercase();
        assert!(
            lower.contains("cast(\"month\"(") && lower.contains(".date) as integer)"),
            "{}",
            r.sql
        );
        assert_eq!(describe(&c, &r.sql).unwrap(), describe(&c, sql).unwrap());
        let answer = rows(&c, sql);
        assert!(answer.len() >= 12, "{answer:?}");
        assert_eq!(rows(&c, &r.sql), answer, "{sql}\n{}", r.sql);
    }
    for sql in [
        // Not derived here: the layout partitions by year.
        "SELECT year, sum(revenue) FROM sales_fact GROUP BY year",
        // A million customers a month: more partial groups than rows.
        "SELECT customer_key, month, sum(revenue) AS r FROM sales_fact GROUP BY customer_key, month",
        // An unnamed aggregate in a subquery the outer query reads by name.
        "SELECT * FROM (SELECT month, sum(revenue) FROM sales_fact GROUP BY month) m",
        // A holistic aggregate does not split by date.
        "SELECT month, median(revenue) AS r FROM sales_fact GROUP BY month",
    ] {
        assert_eq!(rewrite(sql), None, "{sql}");
    }
}

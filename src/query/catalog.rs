//! The query catalog: each analytical pattern as data (id, user story, SQL
//! with typed parameters, p95 target), read by `analyze`, `benchmark`, the
//! Criterion benches and docs/query-catalog.md alike.
//!
//! SQL shape. Every query aggregates the fact table by the keys it groups on
//! first and joins the small dimensions to that result. DuckDB has no row
//! estimate for a hive-partitioned Parquet scan (it plans it as 1 row) and,
//! with a plain join-then-aggregate, builds its hash table on the fact side:
//! measured at 10M rows, category-by-quarter took 290 ms as a plain join and
//! 76 ms aggregated first (p50 of 7 runs). The shape is standard SQL and is just as good on
//! Spark, Trino or DataFusion. Partition filters are written on the fact
//! table's partition columns (year, quarter, month) so directories are pruned.

use std::collections::BTreeMap;

use crate::bail_user;
use crate::storage::FileFormat;
use crate::targets;
use crate::util::closest;

/// A parameter's type and allowed range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    Int { min: i64, max: i64 },
    Region,
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: &'static str,
    pub help: &'static str,
}

pub const PARAMS: [ParamSpec; 5] = [
    ParamSpec {
        name: "year",
        kind: ParamKind::Int {
            min: 1900,
            max: 2200,
        },
        default: "2023",
        help: "calendar year to analyse",
    },
    ParamSpec {
        name: "quarter",
        kind: ParamKind::Int { min: 1, max: 4 },
        default: "4",
        help: "quarter of the year, 1-4",
    },
    ParamSpec {
        name: "window",
        kind: ParamKind::Int { min: 1, max: 120 },
        default: "3",
        help: "moving-average window in months",
    },
    ParamSpec {
        name: "top",
        kind: ParamKind::Int { min: 1, max: 1000 },
        default: "10",
        help: "products ranked per quarter",
    },
    ParamSpec {
        name: "region",
        kind: ParamKind::Region,
        default: "North America",
        help: "region to drill into",
    },
];

pub fn param_spec(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

/// How a catalog entry is checked beyond its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expectation {
    /// p95 latency at 100M rows, milliseconds.
    P95Ms(u64),
    /// The first variant prunes every partition outside its filter.
    Pruning,
    /// Parquet at least [`targets::MIN_PARQUET_SPEEDUP`] times faster than CSV.
    ParquetSpeedup,
    /// Parquet reads less than [`targets::MAX_PARQUET_BYTES_SHARE`] of CSV's bytes.
    ParquetBytesShare,
    /// No target of its own: timed against other engines (`scripts/peers.py`).
    Peers,
    /// A user's own query (`olap benchmark --sql`).
    User,
}

impl Expectation {
    pub fn describe(&self) -> String {
        match self {
            Expectation::P95Ms(ms) => format!(
                "p95 < {} at 100M rows",
                crate::util::human_secs(*ms as f64 / 1e3)
            ),
            Expectation::Pruning => "every partition outside the filter skipped".into(),
            Expectation::ParquetSpeedup => format!(
                "Parquet ≥ {:.0}x faster than CSV",
                targets::MIN_PARQUET_SPEEDUP
            ),
            Expectation::ParquetBytesShare => format!(
                "Parquet reads < {:.0}% of CSV's bytes",
                targets::MAX_PARQUET_BYTES_SHARE * 100.0
            ),
            Expectation::Peers => "as fast as the fastest peer (scripts/peers.py)".into(),
            Expectation::User => "your query".into(),
        }
    }
}

/// One SQL text of an entry (most entries have one).
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct QuerySpec {
    pub id: &'static str,
    pub story: &'static str,
    pub title: &'static str,
    /// What it shows and why the engine does it fast.
    pub about: &'static str,
    pub variants: &'static [Variant],
    /// Storages it runs on; comparisons run on both.
    pub storages: &'static [FileFormat],
    pub expect: Expectation,
}

impl QuerySpec {
    pub fn params(&self) -> Vec<&'static ParamSpec> {
        PARAMS
            .iter()
            .filter(|p| {
                self.variants
                    .iter()
                    .any(|v| v.sql.contains(&format!("{{{}}}", p.name)))
            })
            .collect()
    }
    pub fn is_comparison(&self) -> bool {
        self.storages.len() > 1
    }
    pub fn target_ms(&self) -> Option<u64> {
        match self.expect {
            Expectation::P95Ms(ms) => Some(ms),
            _ => None,
        }
    }
    pub fn has_window(&self) -> bool {
        self.variants.iter().any(|v| v.sql.contains(" OVER "))
    }
}

const PARQUET: &[FileFormat] = &[FileFormat::Parquet];
const BOTH: &[FileFormat] = &[FileFormat::Parquet, FileFormat::Csv];

const REVENUE_BY_REGION_YEAR: &str = "\
WITH f AS (
    SELECT geo_key, year, sum(revenue) AS revenue, sum(profit) AS profit, count(*) AS line_items
    FROM sales_fact
    GROUP BY geo_key, year
)
SELECT g.region, f.year,
       sum(f.revenue) AS revenue,
       sum(f.profit) AS profit,
       sum(f.line_items) AS line_items
FROM f JOIN dim_geography g USING (geo_key)
GROUP BY g.region, f.year
ORDER BY g.region, f.year";

/// The partition_pruning query with one of its filters.
macro_rules! pruning_sql {
    ($filter:literal) => {
        concat!(
            "WITH f AS (
    SELECT payment_key, sum(revenue) AS revenue, count(*) AS line_items
    FROM sales_fact
    WHERE ",
            $filter,
            "
    GROUP BY payment_key
)
SELECT p.payment_type, sum(f.revenue) AS revenue, sum(f.line_items) AS line_items
FROM f JOIN dim_payment p USING (payment_key)
GROUP BY p.payment_type
ORDER BY revenue DESC, p.payment_type"
        )
    };
}

pub const CATALOG: [QuerySpec; 9] = [
    QuerySpec {
        id: "revenue_by_region_year",
        story: "US1",
        title: "Revenue by region and year",
        about: "Multi-dimensional aggregation: the fact table grouped by geography and time. \
Reads three of fourteen fact columns; aggregates 5,000 cities x 3 years before joining the geography dimension.",
        variants: &[Variant { name: "default", sql: REVENUE_BY_REGION_YEAR }],
        storages: PARQUET,
        expect: Expectation::P95Ms(2_000),
    },
    QuerySpec {
        id: "category_by_quarter",
        story: "US1",
        title: "Category performance by quarter, one year",
        about: "Revenue, profit, units and margin per product category and quarter. \
The year filter is on the partition column: only that year's directories are read.",
        variants: &[Variant {
            name: "default",
            sql: "\
WITH f AS (
    SELECT product_key, quarter, sum(revenue) AS revenue, sum(profit) AS profit, sum(quantity) AS units
    FROM sales_fact
    WHERE year = {year}
    GROUP BY product_key, quarter
)
SELECT p.category, f.quarter,
       sum(f.revenue) AS revenue,
       sum(f.profit) AS profit,
       sum(f.units) AS units,
       round(100 * sum(f.profit) / sum(f.revenue), 2) AS margin_pct
FROM f JOIN dim_product p USING (product_key)
GROUP BY p.category, f.quarter
ORDER BY p.category, f.quarter",
        }],
        storages: PARQUET,
        expect: Expectation::P95Ms(1_000),
    },
    QuerySpec {
        id: "drill_down_time",
        story: "US1",
        title: "Year > quarter > month drill-down for one region",
        about: "ROLLUP gives every level of the time hierarchy in one pass: the year total, \
each quarter and each month (NULL marks the rolled-up level). Filtered to one region and year. \
The region is a filter on the dimension, so the join comes first: DuckDB hands the region's \
geo_keys to the fact scan as a filter, and only that region's rows reach the 12-group aggregate.",
        variants: &[Variant {
            name: "default",
            sql: "\
WITH f AS (
    SELECT f.year, f.quarter, f.month, sum(f.revenue) AS revenue, count(*) AS line_items
    FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
    WHERE f.year = {year} AND g.region = {region}
    GROUP BY f.year, f.quarter, f.month
)
SELECT f.year, f.quarter, f.month,
       sum(f.revenue) AS revenue,
       sum(f.line_items) AS line_items
FROM f
GROUP BY ROLLUP (f.year, f.quarter, f.month)
HAVING f.year IS NOT NULL
ORDER BY f.year, f.quarter NULLS FIRST, f.month NULLS FIRST",
        }],
        storages: PARQUET,
        expect: Expectation::P95Ms(1_000),
    },
    QuerySpec {
        id: "partition_pruning",
        story: "US1",
        title: "Partition pruning: the same query with and without a partition filter",
        about: "Revenue by payment type for one quarter. With the filter on the partition columns \
DuckDB opens only the matching directories; a filter on `date` is checked against each partition's \
min/max statistics (the data is sorted by date): partitions that cannot match become empty results \
in the plan, and inside the others row groups are skipped the same way; no filter scans everything. \
The year filter alone skips every other year: at least 80% of the partitions on a span of 5+ years.",
        variants: &[
            Variant { name: "partition filter", sql: pruning_sql!("year = {year} AND quarter = {quarter}") },
            Variant { name: "year filter", sql: pruning_sql!("year = {year}") },
            Variant {
                name: "date filter (zone maps)",
                sql: pruning_sql!(
                    "date BETWEEN make_date({year}, 3 * {quarter} - 2, 1) AND last_day(make_date({year}, 3 * {quarter}, 1))"
                ),
            },
            Variant { name: "no filter", sql: pruning_sql!("TRUE") },
        ],
        storages: PARQUET,
        expect: Expectation::Pruning,
    },
    QuerySpec {
        id: "moving_average",
        story: "US2",
        title: "Moving average of monthly revenue per region",
        about: "A window function over monthly totals: the average of a {window}-month window \
(this month and the ones before it) per region. The window runs over 36 rows per region, not over the fact table.",
        variants: &[Variant {
            name: "default",
            sql: "\
WITH f AS (
    SELECT geo_key, year, month, sum(revenue) AS revenue
    FROM sales_fact
    GROUP BY geo_key, year, month
), m AS (
    SELECT g.region, f.year, f.month, sum(f.revenue) AS revenue
    FROM f JOIN dim_geography g USING (geo_key)
    GROUP BY g.region, f.year, f.month
)
SELECT region, year, month, revenue,
       round(sum(revenue) OVER w / count(*) OVER w, 2) AS moving_avg,
       count(*) OVER w AS months_in_window
FROM m
WINDOW w AS (PARTITION BY region ORDER BY year, month ROWS BETWEEN {window} - 1 PRECEDING AND CURRENT ROW)
ORDER BY region, year, month",
        }],
        storages: PARQUET,
        expect: Expectation::P95Ms(3_000),
    },
    QuerySpec {
        id: "yoy_growth",
        story: "US2",
        title: "Year-over-year revenue growth per category",
        about: "LAG over yearly totals gives the previous year's revenue beside each year's.",
        variants: &[Variant {
            name: "default",
            sql: "\
WITH f AS (
    SELECT product_key, year, sum(revenue) AS revenue
    FROM sales_fact
    GROUP BY product_key, year
), y AS (
    SELECT p.category, f.year, sum(f.revenue) AS revenue
    FROM f JOIN dim_product p USING (product_key)
    GROUP BY p.category, f.year
)
SELECT category, year, revenue,
       lag(revenue) OVER w AS previous_revenue,
       round(100 * (revenue - lag(revenue) OVER w) / lag(revenue) OVER w, 2) AS growth_pct
FROM y
WINDOW w AS (PARTITION BY category ORDER BY year)
ORDER BY category, year",
        }],
        storages: PARQUET,
        expect: Expectation::P95Ms(3_000),
    },
    QuerySpec {
        id: "product_rankings",
        story: "US2",
        title: "Top products by revenue in each quarter of one year",
        about: "ROW_NUMBER and RANK per quarter. Products are ranked by their natural key \
(product_id), so revenue of every SCD2 version of a product counts together.",
        variants: &[Variant {
            name: "default",
            sql: "\
WITH f AS (
    SELECT product_key, quarter, sum(revenue) AS revenue
    FROM sales_fact
    WHERE year = {year}
    GROUP BY product_key, quarter
), q AS (
    SELECT p.product_id, min(p.name) AS name, f.quarter, sum(f.revenue) AS revenue
    FROM f JOIN dim_product p USING (product_key)
    GROUP BY p.product_id, f.quarter
), r AS (
    SELECT *,
           row_number() OVER (PARTITION BY quarter ORDER BY revenue DESC, product_id) AS row_number,
           rank() OVER (PARTITION BY quarter ORDER BY revenue DESC) AS rank
    FROM q
)
SELECT quarter, row_number, rank, product_id, name, revenue
FROM r
WHERE row_number <= {top}
ORDER BY quarter, row_number",
        }],
        storages: PARQUET,
        expect: Expectation::P95Ms(2_000),
    },
    QuerySpec {
        id: "storage_comparison",
        story: "US3",
        title: "The same query on Parquet and on CSV",
        about: "revenue_by_region_year on both storages. Parquet reads only the columns it needs, \
already typed and compressed; CSV must read and parse every byte of every row.",
        variants: &[Variant { name: "default", sql: REVENUE_BY_REGION_YEAR }],
        storages: BOTH,
        expect: Expectation::ParquetSpeedup,
    },
    QuerySpec {
        id: "column_io",
        story: "US3",
        title: "Selective column read: bytes read from Parquet and CSV",
        about: "One column of fourteen. Parquet reads that column's pages; CSV reads the whole file.",
        variants: &[Variant { name: "default", sql: "SELECT sum(revenue) AS revenue, count(*) AS line_items FROM sales_fact" }],
        storages: BOTH,
        expect: Expectation::ParquetBytesShare,
    },
];

/// One ad-hoc question: written the obvious way, joins first.
macro_rules! adhoc {
    ($id:literal, $title:literal, $sql:literal) => {
        QuerySpec {
            id: $id,
            story: "ad-hoc",
            title: $title,
            about: "",
            variants: &[Variant {
                name: "default",
                sql: $sql,
            }],
            storages: PARQUET,
            expect: Expectation::Peers,
        }
    };
}

/// Questions as an analyst writes them (join the dimensions, then filter
/// and aggregate), not shaped for any engine: what `olap analyze --sql`
/// gets from users. Standard SQL that DuckDB, DataFusion, Polars and chDB
/// all run (`scripts/peers.py` times and cross-checks them); every ORDER BY
/// is total, so answers compare row by row.
pub const ADHOC_SUITE: [QuerySpec; 16] = [
    adhoc!(
        "adhoc_category_quarter",
        "Revenue by category and quarter in 2023 (a partition filter, a join)",
        "SELECT p.category, f.quarter, sum(f.revenue) AS revenue
FROM sales_fact f JOIN dim_product p ON f.product_key = p.product_key
WHERE f.year = 2023
GROUP BY p.category, f.quarter
ORDER BY p.category, f.quarter"
    ),
    adhoc!(
        "adhoc_region_q4",
        "Revenue by region in the last quarter of 2023",
        "SELECT g.region, sum(f.revenue) AS revenue
FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
WHERE f.year = 2023 AND f.quarter = 4
GROUP BY g.region
ORDER BY g.region"
    ),
    adhoc!(
        "adhoc_region_year",
        "Revenue by region and year (a full scan, a join)",
        "SELECT g.region, f.year, sum(f.revenue) AS revenue
FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
GROUP BY g.region, f.year
ORDER BY g.region, f.year"
    ),
    adhoc!(
        "adhoc_monthly_moving_average",
        "Monthly revenue with a 3-month moving average (a window)",
        "SELECT year, month, revenue,
       avg(revenue) OVER (ORDER BY year, month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving_avg
FROM (SELECT year, month, sum(revenue) AS revenue FROM sales_fact GROUP BY year, month) m
ORDER BY year, month"
    ),
    adhoc!(
        "adhoc_top_brands_europe",
        "Top 10 brands in Europe (a filter on a dimension attribute, top-N)",
        "SELECT p.brand, sum(f.revenue) AS revenue
FROM sales_fact f
JOIN dim_product p ON f.product_key = p.product_key
JOIN dim_geography g ON f.geo_key = g.geo_key
WHERE g.region = 'Europe'
GROUP BY p.brand
ORDER BY revenue DESC, p.brand
LIMIT 10"
    ),
    adhoc!(
        "adhoc_segment_2022",
        "Revenue and profit by customer segment in 2022",
        "SELECT c.segment, sum(f.revenue) AS revenue, sum(f.profit) AS profit
FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key
WHERE f.year = 2022
GROUP BY c.segment
ORDER BY c.segment"
    ),
    adhoc!(
        "adhoc_current_category",
        "Revenue by the current category of each product (an SCD2 join)",
        "SELECT cur.category, sum(f.revenue) AS revenue
FROM sales_fact f
JOIN dim_product p ON f.product_key = p.product_key
JOIN dim_product cur ON cur.product_id = p.product_id AND cur.is_current
GROUP BY cur.category
ORDER BY cur.category"
    ),
    adhoc!(
        "adhoc_top_customers",
        "Top 10 customers of 2023 with their segment",
        "SELECT c.customer_id, c.segment, sum(f.revenue) AS revenue
FROM sales_fact f JOIN dim_customer c ON f.customer_key = c.customer_key
WHERE f.year = 2023
GROUP BY c.customer_id, c.segment
ORDER BY revenue DESC, c.customer_id
LIMIT 10"
    ),
    adhoc!(
        "adhoc_distinct_customers",
        "Distinct customers by region and year (count distinct)",
        "SELECT g.region, f.year, count(DISTINCT f.customer_key) AS customers
FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
GROUP BY g.region, f.year
ORDER BY g.region, f.year"
    ),
    adhoc!(
        "adhoc_summer_weekdays",
        "Summer 2023 revenue by day of the week (a date range, a join to time)",
        "SELECT t.day_name, t.is_weekend, sum(f.revenue) AS revenue
FROM sales_fact f JOIN dim_time t ON f.time_key = t.time_key
WHERE f.date BETWEEN DATE '2023-06-01' AND DATE '2023-08-31'
GROUP BY t.day_name, t.is_weekend
ORDER BY t.day_name"
    ),
    adhoc!(
        "adhoc_holiday_payments",
        "Revenue by payment type on holidays",
        "SELECT pm.payment_type, sum(f.revenue) AS revenue, count(*) AS line_items
FROM sales_fact f
JOIN dim_time t ON f.time_key = t.time_key
JOIN dim_payment pm ON f.payment_key = pm.payment_key
WHERE t.is_holiday
GROUP BY pm.payment_type
ORDER BY pm.payment_type"
    ),
    adhoc!(
        "adhoc_category_rank_by_region",
        "Each region's categories ranked by revenue (a window over a join)",
        "SELECT region, category, revenue,
       rank() OVER (PARTITION BY region ORDER BY revenue DESC) AS category_rank
FROM (
    SELECT g.region, p.category, sum(f.revenue) AS revenue
    FROM sales_fact f
    JOIN dim_geography g ON f.geo_key = g.geo_key
    JOIN dim_product p ON f.product_key = p.product_key
    GROUP BY g.region, p.category
) r
ORDER BY region, category_rank, category"
    ),
    adhoc!(
        "adhoc_biggest_spenders",
        "The 10 customers who spent most, by key (a million groups, no join)",
        "SELECT customer_key, sum(revenue) AS revenue, count(*) AS line_items
FROM sales_fact
GROUP BY customer_key
ORDER BY revenue DESC, customer_key
LIMIT 10"
    ),
    adhoc!(
        "adhoc_basket_by_channel",
        "Average basket per customer channel in 2023 (an aggregate of an aggregate)",
        "SELECT c.channel, count(*) AS baskets, avg(b.basket) AS avg_basket, avg(b.units) AS avg_units
FROM (
    SELECT transaction_id, customer_key, sum(revenue) AS basket, sum(quantity) AS units
    FROM sales_fact
    WHERE year = 2023
    GROUP BY transaction_id, customer_key
) b
JOIN dim_customer c ON b.customer_key = c.customer_key
GROUP BY c.channel
ORDER BY c.channel"
    ),
    adhoc!(
        "adhoc_region_moving_average",
        "Each region's monthly revenue with its 3-month moving average (a window over a grouped join)",
        "WITH monthly AS (
    SELECT g.region, f.year, f.month, sum(f.revenue) AS revenue
    FROM sales_fact f JOIN dim_geography g ON f.geo_key = g.geo_key
    GROUP BY g.region, f.year, f.month
)
SELECT region, year, month, revenue,
       avg(revenue) OVER (PARTITION BY region ORDER BY year, month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving_avg
FROM monthly
ORDER BY region, year, month"
    ),
    adhoc!(
        "adhoc_six_weeks_subcategories",
        "Top 20 subcategories over six weeks of autumn 2023 (a date range, a product attribute)",
        "SELECT p.subcategory, sum(f.revenue) AS revenue, sum(f.quantity) AS units
FROM sales_fact f JOIN dim_product p ON f.product_key = p.product_key
WHERE f.date >= DATE '2023-10-02' AND f.date < DATE '2023-11-13'
GROUP BY p.subcategory
ORDER BY revenue DESC, p.subcategory
LIMIT 20"
    ),
];

/// A user's own SQL as an entry (`olap benchmark --sql`), timed like the
/// catalog's. Lives as long as the process (a command line's worth).
pub fn user_query(id: String, sql: String) -> &'static QuerySpec {
    let title: &'static str = Box::leak(
        sql.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .chars()
            .take(80)
            .collect::<String>()
            .into_boxed_str(),
    );
    let variants: &'static [Variant] = Box::leak(Box::new([Variant {
        name: "default",
        sql: Box::leak(sql.into_boxed_str()),
    }]));
    Box::leak(Box::new(QuerySpec {
        id: Box::leak(id.into_boxed_str()),
        story: "user",
        title,
        about: "",
        variants,
        storages: PARQUET,
        expect: Expectation::User,
    }))
}

/// `--sql` texts (named sql1, sql2, …) and `--sql-file`s (named by their
/// file stem) as entries.
pub fn user_queries(
    sqls: &[String],
    files: &[std::path::PathBuf],
) -> anyhow::Result<Vec<&'static QuerySpec>> {
    let mut out: Vec<&'static QuerySpec> = sqls
        .iter()
        .enumerate()
        .map(|(i, sql)| user_query(format!("sql{}", i + 1), sql.clone()))
        .collect();
    for f in files {
        let sql = match std::fs::read_to_string(f) {
            Ok(s) if !s.trim().is_empty() => s,
            Ok(_) => bail_user!("--sql-file {} is empty", f.display()),
            Err(e) => bail_user!("--sql-file {}: {e}", f.display()),
        };
        let id = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "sql".into());
        out.push(user_query(id, sql));
    }
    Ok(out)
}

/// Which queries to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// The catalog: the user stories, with their targets.
    Catalog,
    /// The ad-hoc questions.
    Adhoc,
    All,
}

impl Suite {
    pub const NAMES: [&'static str; 3] = ["catalog", "adhoc", "all"];

    pub fn parse(s: &str) -> Option<Suite> {
        match s {
            "catalog" => Some(Suite::Catalog),
            "adhoc" => Some(Suite::Adhoc),
            "all" => Some(Suite::All),
            _ => None,
        }
    }

    pub fn specs(self) -> Vec<&'static QuerySpec> {
        match self {
            Suite::Catalog => CATALOG.iter().collect(),
            Suite::Adhoc => ADHOC_SUITE.iter().collect(),
            Suite::All => CATALOG.iter().chain(&ADHOC_SUITE).collect(),
        }
    }
}

pub fn find(id: &str) -> Option<&'static QuerySpec> {
    CATALOG.iter().chain(&ADHOC_SUITE).find(|q| q.id == id)
}

/// The entry for `id`, or an error suggesting the closest id.
pub fn lookup(id: &str) -> anyhow::Result<&'static QuerySpec> {
    match find(id) {
        Some(q) => Ok(q),
        None => match closest(id, CATALOG.iter().chain(&ADHOC_SUITE).map(|q| q.id)) {
            Some(s) => bail_user!(
                "unknown query id {id:?}; did you mean {s:?}? (`olap analyze --list` shows the catalog)"
            ),
            None => bail_user!("unknown query id {id:?} (`olap analyze --list` shows the catalog)"),
        },
    }
}

/// Parameter values: defaults overridden by the user's, validated.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Parses `k=v` pairs (from `--param`), checking names and values.
    pub fn parse(pairs: &[String]) -> anyhow::Result<Params> {
        let mut map = BTreeMap::new();
        for pair in pairs {
            let Some((k, v)) = pair.split_once('=') else {
                bail_user!("--param {pair:?} must look like name=value (e.g. year=2022)");
            };
            let (k, v) = (k.trim(), v.trim());
            let Some(spec) = param_spec(k) else {
                let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
                match closest(k, names.iter().copied()) {
                    Some(s) => bail_user!(
                        "unknown parameter {k:?}; did you mean {s:?}? (parameters: {})",
                        names.join(", ")
                    ),
                    None => {
                        bail_user!("unknown parameter {k:?} (parameters: {})", names.join(", "))
                    }
                }
            };
            validate(spec, v)?;
            map.insert(k.to_string(), v.to_string());
        }
        Ok(Params(map))
    }

    pub fn get<'a>(&'a self, spec: &'a ParamSpec) -> &'a str {
        self.0
            .get(spec.name)
            .map(|s| s.as_str())
            .unwrap_or(spec.default)
    }

    /// An integer parameter's value (its default when not given).
    pub fn int(&self, name: &str) -> i64 {
        let spec = param_spec(name).expect("a catalog parameter");
        self.get(spec).parse().expect("validated integer parameter")
    }

    /// The values `q` uses (defaults filled in), for logs and reports.
    pub fn for_query(&self, q: &QuerySpec) -> BTreeMap<String, String> {
        q.params()
            .into_iter()
            .map(|p| (p.name.to_string(), self.get(p).to_string()))
            .collect()
    }
}

fn validate(spec: &ParamSpec, v: &str) -> anyhow::Result<()> {
    match spec.kind {
        ParamKind::Int { min, max } => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => bail_user!(
                "--param {}={v:?}: expected a whole number in {min}..={max} ({})",
                spec.name,
                spec.help
            ),
        },
        ParamKind::Region => {
            let regions = regions();
            if regions.contains(&v) {
                Ok(())
            } else {
                bail_user!(
                    "--param region={v:?}: expected one of {}",
                    regions.join(", ")
                )
            }
        }
    }
}

pub fn regions() -> &'static [&'static str] {
    &crate::model::REGIONS
}

/// The SQL of variant `vi` of `q` with parameters substituted (values were
/// validated: integers and known region names, quoted as SQL literals).
pub fn render(q: &QuerySpec, vi: usize, params: &Params) -> String {
    let mut sql = q.variants[vi].sql.to_string();
    for p in &PARAMS {
        let v = params.get(p);
        let lit = match p.kind {
            ParamKind::Int { .. } => v.to_string(),
            ParamKind::Region => format!("'{}'", v.replace('\'', "''")),
        };
        sql = sql.replace(&format!("{{{}}}", p.name), &lit);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_a_known_parameter() {
        for q in &CATALOG {
            for vi in 0..q.variants.len() {
                let sql = render(q, vi, &Params::default());
                assert!(
                    !sql.contains('{'),
                    "{} still has a placeholder: {sql}",
                    q.id
                );
            }
        }
        assert_eq!(
            find("moving_average")
                .unwrap()
                .params()
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>(),
            ["window"]
        );
        assert!(find("moving_average").unwrap().has_window());
    }

    #[test]
    fn params_are_validated() {
        assert!(Params::parse(&["year=2022".into(), "region=Europe".into()]).is_ok());
        assert!(Params::parse(&["year=abc".into()]).is_err());
        assert!(Params::parse(&["quarter=5".into()]).is_err());
        assert!(
            Params::parse(&["yaer=2022".into()])
                .unwrap_err()
                .to_string()
                .contains("did you mean \"year\"")
        );
        assert!(Params::parse(&["region=Atlantis".into()]).is_err());
        assert!(Params::parse(&["region".into()]).is_err());
        let p = Params::parse(&["region=O'Hare".into()]);
        assert!(p.is_err(), "only known regions, so quoting is never needed");
    }

    #[test]
    fn unknown_ids_suggest_the_closest() {
        let e = lookup("revenue_by_region").unwrap_err().to_string();
        assert!(e.contains("revenue_by_region_year"), "{e}");
    }
}

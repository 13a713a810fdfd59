#!/usr/bin/env python3
"""Answer olap's catalog questions with DuckDB (Python), DataFusion and Polars
on the same Parquet files and thread count, and compare with `olap benchmark`.

    pip install duckdb datafusion polars pyarrow
    python3 scripts/peers.py --data-dir data --threads 2 --rounds 5

DuckDB and DataFusion run the catalog's SQL as written (from
`olap analyze --list --format json`); Polars runs the same question through its
lazy API (its SQL dialect lacks ROLLUP and named windows). Every engine's
answer is checked against DuckDB's before its time counts.
"""
import argparse, json, os, re, statistics, subprocess, time

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default="data")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--olap", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "olap"))
ap.add_argument("--json", help="write results here")
args = ap.parse_args()
os.environ["POLARS_MAX_THREADS"] = str(args.threads)

import duckdb, datafusion, polars as pl, pyarrow as pa, pyarrow.compute  # noqa: E402

catalog = json.loads(subprocess.check_output([args.olap, "analyze", "--list", "--format", "json"]))
manifest = json.load(open(os.path.join(args.data_dir, "manifest.json")))
keys = manifest["storage"]["partition_by"]
pq = os.path.abspath(os.path.join(args.data_dir, "parquet"))
dims = ["dim_time", "dim_geography", "dim_product", "dim_customer", "dim_payment"]
fact_glob = os.path.join(pq, "sales_fact", *["*"] * len(keys), "*.parquet")
derived = [k for k in ("year", "quarter", "month") if k not in keys]


def timed(fn):
    times, result = [], None
    fn()  # warm-up
    for _ in range(args.rounds):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), result


# --- DuckDB (Python), the same engine olap embeds ---------------------------
con = duckdb.connect()
con.execute(f"SET threads = {args.threads}")
for d in dims:
    con.execute(f"CREATE VIEW {d} AS SELECT * FROM read_parquet('{pq}/{d}/{d}.parquet')")
hive = ", ".join(f"'{k}': INTEGER" for k in keys)
extra = "".join(f", CAST({k}(date) AS INTEGER) AS {k}" for k in derived)
con.execute(f"CREATE VIEW sales_fact AS SELECT *{extra} FROM read_parquet('{fact_glob}', hive_partitioning = {bool(keys)}, hive_types = {{{hive}}})" if keys else
            f"CREATE VIEW sales_fact AS SELECT *{extra} FROM read_parquet('{fact_glob}')")

# --- DataFusion --------------------------------------------------------------
cfg = datafusion.SessionConfig().with_target_partitions(args.threads)
ctx = datafusion.SessionContext(cfg)
for d in dims:
    ctx.register_parquet(d, f"{pq}/{d}/{d}.parquet")
ctx.register_parquet("sales_fact_files", os.path.join(pq, "sales_fact"), table_partition_cols=[(k, pa.int32()) for k in keys])
extra_df = "".join(f", CAST(date_part('{k}', date) AS INT) AS {k}" for k in derived)
ctx.sql(f"CREATE VIEW sales_fact AS SELECT *{extra_df} FROM sales_fact_files")

# --- Polars ------------------------------------------------------------------
def fact():
    lf = pl.scan_parquet(fact_glob, hive_partitioning=bool(keys))
    for k in derived:
        lf = lf.with_columns(getattr(pl.col("date").dt, k)().cast(pl.Int32).alias(k))
    return lf.with_columns([pl.col(k).cast(pl.Int32) for k in keys])

def dim(d):
    return pl.scan_parquet(f"{pq}/{d}/{d}.parquet")

Y, Q, TOP, W, REGION = 2023, 4, 10, 3, "North America"
def polars_query(qid, variant):
    f = fact()
    if qid in ("revenue_by_region_year", "storage_comparison"):
        a = f.group_by("geo_key", "year").agg(pl.col("revenue").sum(), pl.col("profit").sum(), pl.len().alias("line_items"))
        return (a.join(dim("dim_geography").select("geo_key", "region"), on="geo_key")
                .group_by("region", "year").agg(pl.col("revenue").sum(), pl.col("profit").sum(), pl.col("line_items").sum())
                .sort("region", "year"))
    if qid == "category_by_quarter":
        a = f.filter(pl.col("year") == Y).group_by("product_key", "quarter").agg(pl.col("revenue").sum(), pl.col("profit").sum(), pl.col("quantity").sum().alias("units"))
        return (a.join(dim("dim_product").select("product_key", "category"), on="product_key")
                .group_by("category", "quarter").agg(pl.col("revenue").sum(), pl.col("profit").sum(), pl.col("units").sum())
                .with_columns((100 * pl.col("profit") / pl.col("revenue")).round(2).alias("margin_pct"))
                .sort("category", "quarter"))
    if qid == "drill_down_time":
        a = (f.filter(pl.col("year") == Y).group_by("geo_key", "year", "quarter", "month").agg(pl.col("revenue").sum(), pl.len().alias("line_items"))
             .join(dim("dim_geography").filter(pl.col("region") == REGION).select("geo_key"), on="geo_key"))
        levels = [a.group_by("year").agg(pl.col("revenue").sum(), pl.col("line_items").sum()).with_columns(pl.lit(None, pl.Int32).alias("quarter"), pl.lit(None, pl.Int32).alias("month")),
                  a.group_by("year", "quarter").agg(pl.col("revenue").sum(), pl.col("line_items").sum()).with_columns(pl.lit(None, pl.Int32).alias("month")),
                  a.group_by("year", "quarter", "month").agg(pl.col("revenue").sum(), pl.col("line_items").sum())]
        cols = ["year", "quarter", "month", "revenue", "line_items"]
        return pl.concat([l.select(cols) for l in levels]).sort("year", "quarter", "month", nulls_last=False)
    if qid == "partition_pruning":
        flt = {0: (pl.col("year") == Y) & (pl.col("quarter") == Q),
               1: pl.col("date").is_between(pl.date(Y, 3 * Q - 2, 1), pl.date(Y, 3 * Q, 1).dt.month_end()),
               2: pl.lit(True)}[variant]
        a = f.filter(flt).group_by("payment_key").agg(pl.col("revenue").sum(), pl.len().alias("line_items"))
        return (a.join(dim("dim_payment").select("payment_key", "payment_type"), on="payment_key")
                .group_by("payment_type").agg(pl.col("revenue").sum(), pl.col("line_items").sum())
                .sort(["revenue", "payment_type"], descending=[True, False]))
    if qid == "moving_average":
        m = (f.group_by("geo_key", "year", "month").agg(pl.col("revenue").sum())
             .join(dim("dim_geography").select("geo_key", "region"), on="geo_key")
             .group_by("region", "year", "month").agg(pl.col("revenue").sum()).sort("region", "year", "month"))
        cents = (pl.col("revenue") * 100).cast(pl.Int64)  # exact: rolling sums need integers
        n = (pl.int_range(pl.len()).over("region").clip(upper_bound=W - 1) + 1)
        return m.with_columns((cents.rolling_sum(W, min_samples=1).over("region") / 100 / n).round(2).alias("moving_avg"))
    if qid == "yoy_growth":
        y = (f.group_by("product_key", "year").agg(pl.col("revenue").sum())
             .join(dim("dim_product").select("product_key", "category"), on="product_key")
             .group_by("category", "year").agg(pl.col("revenue").sum()).sort("category", "year"))
        prev = pl.col("revenue").shift(1).over("category")
        return y.with_columns(prev.alias("previous_revenue"), (100 * (pl.col("revenue") - prev) / prev).round(2).alias("growth_pct"))
    if qid == "product_rankings":
        q = (f.filter(pl.col("year") == Y).group_by("product_key", "quarter").agg(pl.col("revenue").sum())
             .join(dim("dim_product").select("product_key", "product_id", "name"), on="product_key")
             .group_by("product_id", "quarter").agg(pl.col("name").min(), pl.col("revenue").sum())
             .sort(["quarter", "revenue", "product_id"], descending=[False, True, False]))
        q = q.with_columns(pl.int_range(1, pl.len() + 1).over("quarter").alias("row_number"),
                           pl.col("revenue").rank("min", descending=True).over("quarter").alias("rank"))
        return q.filter(pl.col("row_number") <= TOP).select("quarter", "row_number", "rank", "product_id", "name", "revenue")
    if qid == "column_io":
        return f.select(pl.col("revenue").sum(), pl.len().alias("line_items"))
    raise KeyError(qid)


def signature(table):
    """Row count and the sum of the first money-like column, for cross-checking."""
    t = table if isinstance(table, pa.Table) else table.to_arrow()
    col = next((c for c in t.column_names if c in ("revenue",)), None)
    total = float(pa.compute.sum(t[col]).as_py()) if col else 0.0
    return t.num_rows, round(total, 2)


rows = []
for q in catalog:
    for vi, (variant, sql) in enumerate(zip(q["variants"], q["sql"])):
        # DataFusion: frame bounds must be literals, and it has no last_day().
        sql_df = sql.replace("3 - 1 PRECEDING", "2 PRECEDING")
        sql_df = re.sub(r"last_day\((make_date\([^)]*\))\)", r"(\1 + INTERVAL '1 month' - INTERVAL '1 day')", sql_df)
        d_ms, d_res = timed(lambda: con.sql(sql).to_arrow_table())
        want = signature(d_res)
        row = {"id": q["id"], "variant": variant, "duckdb_python_ms": round(d_ms, 1), "rows": want[0]}
        try:
            f_ms, f_res = timed(lambda: ctx.sql(sql_df).to_arrow_table())
            ok = signature(f_res) == want
            row["datafusion_ms"] = round(f_ms, 1) if ok else None
            row["datafusion_note"] = "" if ok else f"different answer {signature(f_res)} vs {want}"
        except Exception as e:  # an unsupported construct is reported, not hidden
            row["datafusion_ms"], row["datafusion_note"] = None, str(e).splitlines()[0][:120]
        try:
            p_ms, p_res = timed(lambda: polars_query(q["id"], vi).collect())
            ok = signature(p_res) == want
            row["polars_ms"] = round(p_ms, 1) if ok else None
            row["polars_note"] = "" if ok else f"different answer {signature(p_res)} vs {want}"
        except Exception as e:
            row["polars_ms"], row["polars_note"] = None, str(e).splitlines()[0][:120]
        rows.append(row)
        print(json.dumps(row), flush=True)

if args.json:
    json.dump({"threads": args.threads, "rounds": args.rounds, "fact_rows": manifest["spec"]["rows"],
               "versions": {"duckdb": duckdb.__version__, "datafusion": datafusion.__version__, "polars": pl.__version__},
               "results": rows}, open(args.json, "w"), indent=2)

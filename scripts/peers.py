#!/usr/bin/env python3
"""Answer olap's questions (the catalog and the ad-hoc suite) with DuckDB
(the Python package, the official build), DataFusion, Polars and chDB on the
same Parquet files and thread count; check every answer against olap's and
time each engine against olap's own in-process rounds.

    pip install duckdb datafusion polars chdb pyarrow
    python3 scripts/peers.py --data-dir data --threads 2 --rounds 10 [--passes 3]
    python3 scripts/peers.py --data-dir data --rounds 1 --check   # answers only (CI)

Every engine runs the SQL olap lists (`olap analyze --list --format json`),
with dialect fixes where an engine needs them (named below); Polars runs the
catalog through its lazy API and the ad-hoc suite through its SQL context.
An engine whose answer differs from olap's gets no time, and the difference
is printed. olap's times are `olap benchmark --suite all` medians (the same
rounds, in process, warm); the peers' are medians of `--rounds` warm runs.
The same benchmark times the plain engine (olap's own DuckDB over plain
`read_parquet` views, `--against-plain`) in alternate rounds: the "plain"
column, and olap/plain as the median of the per-round ratios with their
range, the floor olap's own machinery must never go below.
"""
import argparse, collections, json, os, statistics, subprocess, sys, time
from decimal import Decimal

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default="data")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--olap", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "olap"))
ap.add_argument("--engines", default="duckdb,datafusion,polars,chdb")
ap.add_argument("--suite", default="all", choices=["catalog", "adhoc", "all"])
ap.add_argument("--passes", type=int, default=1,
                help="alternate olap and the peers this many times; each figure is the median of the passes "
                     "(a machine whose speed drifts then hits every engine alike)")
ap.add_argument("--interleave", action="store_true",
                help="question by question: olap (and the plain engine), then each peer, before the next "
                     "question, instead of each engine over the whole suite in turn: a machine whose speed "
                     "swings within minutes then hits every engine of a question alike (olap starts once "
                     "per question, outside its timings)")
ap.add_argument("--check", action="store_true", help="compare answers only; exit 1 on any difference")
ap.add_argument("--json", help="write results here")
args = ap.parse_args()
os.environ["POLARS_MAX_THREADS"] = str(args.threads)
engines = args.engines.split(",")

import pyarrow as pa  # noqa: E402

olap = os.path.abspath(args.olap)
listing = json.loads(subprocess.check_output([olap, "analyze", "--list", "--format", "json"]))
listing = [q for q in listing if args.suite == "all" or q["suite"] == args.suite]
manifest = json.load(open(os.path.join(args.data_dir, "manifest.json")))
keys = manifest["storage"]["partition_by"]
pq = os.path.abspath(os.path.join(args.data_dir, "parquet"))
dims = ["dim_time", "dim_geography", "dim_product", "dim_customer", "dim_payment"]
fact_glob = os.path.join(pq, "sales_fact", *["*"] * len(keys), "*.parquet")
derived = [k for k in ("year", "quarter", "month") if k not in keys]


def timed(fn, rounds):
    fn()  # warm-up (and the answer when rounds is 0)
    times, result = [], None
    for _ in range(max(rounds, 1)):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), result


# --- olap: answers and its own in-process rounds ----------------------------
def olap_json(*a):
    return json.loads(subprocess.check_output([olap, *a, "--data-dir", args.data_dir, "--threads", str(args.threads)]),
                      parse_float=Decimal)

answers = {}
report = olap_json("analyze", "--suite", args.suite, "--execute", "--format", "json")
for q in report["queries"]:
    for r in q["runs"]:
        if r["storage"] == "parquet":
            answers[(q["id"], r["variant"])] = r["rows"]


def olap_bench(ids=()):
    """olap's in-process p50s for every question (or those of `ids`), one
    `olap benchmark` run, with the plain engine (the same DuckDB over plain
    read_parquet views) timed in alternate rounds: its p50 and olap/plain
    per round."""
    which = list(ids) if ids else ["--suite", args.suite]
    bench = olap_json("benchmark", *which, "--rounds", str(args.rounds), "--format", "json",
                      "--against-plain",
                      "--store", os.path.join(os.path.dirname(os.path.abspath(args.data_dir)), "peers-store"))
    out = {}
    for q in bench["result"]["queries"]:
        if q["storage"] != "parquet":
            continue
        plain = q.get("plain")
        ratios = [float(o) / max(float(p), 1e-3) for o, p in zip(q["samples_ms"], plain["samples_ms"])] if plain else []
        out[(q["id"], q["variant"])] = (float(q["stats"]["p50"]), plain and float(plain["stats"]["p50"]), ratios)
    return out


def same(got, want):
    """Row by row, numbers within a cent (engines round averages differently)."""
    if len(got) != len(want):
        return f"{len(got)} rows, olap has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            return f"row {i}: {len(g)} columns, olap has {len(w)}"
        for a, b in zip(g, w):
            if a is None or b is None:
                if a is not b:
                    return f"row {i}: {g} vs olap {w}"
            elif isinstance(b, (int, float, Decimal)) and not isinstance(b, bool):
                try:
                    if abs(Decimal(str(a)) - Decimal(str(b))) > Decimal("0.01"):
                        return f"row {i}: {g} vs olap {w}"
                except Exception:
                    return f"row {i}: {g} vs olap {w}"
            elif str(a) != str(b):
                return f"row {i}: {g} vs olap {w}"
    return None


def rows_of(table):
    t = table if isinstance(table, pa.Table) else table.to_arrow()
    return [list(r.values()) for r in t.to_pylist()]


# --- the engines -------------------------------------------------------------
runners = {}

if "duckdb" in engines:
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    for d in dims:
        con.execute(f"CREATE VIEW {d} AS SELECT * FROM read_parquet('{pq}/{d}/{d}.parquet')")
    hive = ", ".join(f"'{k}': INTEGER" for k in keys)
    extra = "".join(f", CAST({k}(date) AS INTEGER) AS {k}" for k in derived)
    con.execute(f"CREATE VIEW sales_fact AS SELECT *{extra} FROM read_parquet('{fact_glob}', hive_partitioning = true, hive_types = {{{hive}}})" if keys else
                f"CREATE VIEW sales_fact AS SELECT *{extra} FROM read_parquet('{fact_glob}')")
    runners["duckdb"] = (duckdb.__version__, lambda q, vi, sql: (lambda: con.sql(sql).to_arrow_table()))

if "datafusion" in engines:
    import datafusion, re
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(args.threads))
    for d in dims:
        ctx.register_parquet(d, f"{pq}/{d}/{d}.parquet")
    ctx.register_parquet("sales_fact_files", os.path.join(pq, "sales_fact"), table_partition_cols=[(k, pa.int32()) for k in keys])
    extra_df = "".join(f", CAST(date_part('{k}', date) AS INT) AS {k}" for k in derived)
    ctx.sql(f"CREATE VIEW sales_fact AS SELECT *{extra_df} FROM sales_fact_files")

    def df_sql(sql):
        # Frame bounds must be literals; no last_day().
        sql = sql.replace("3 - 1 PRECEDING", "2 PRECEDING")
        return re.sub(r"last_day\((make_date\([^)]*\))\)", r"(\1 + INTERVAL '1 month' - INTERVAL '1 day')", sql)
    runners["datafusion"] = (datafusion.__version__, lambda q, vi, sql: (lambda: ctx.sql(df_sql(sql)).to_arrow_table()))

if "chdb" in engines:
    import chdb, re
    from chdb import session as chs
    sess = chs.Session()
    sess.query(f"SET max_threads = {args.threads}")
    sess.query("CREATE DATABASE IF NOT EXISTS olap ENGINE = Atomic")
    for d in dims:
        sess.query(f"CREATE OR REPLACE VIEW olap.{d} AS SELECT * FROM file('{pq}/{d}/{d}.parquet', Parquet)")
    # chDB reads the Hive keys from the paths itself (as Int64): keep them
    # (they prune), as INTEGER like olap's; derive the others from the date.
    fn = {"year": "toYear", "quarter": "toQuarter", "month": "toMonth"}
    replace = f" REPLACE ({', '.join(f'toInt32({k}) AS {k}' for k in keys)})" if keys else ""
    add = "".join(f", toInt32({fn[k]}(date)) AS {k}" for k in derived)
    sess.query(f"CREATE OR REPLACE VIEW olap.sales_fact AS SELECT *{replace}{add} FROM file('{fact_glob}', Parquet)")

    def ch_sql(sql):
        sql = re.sub(r"DATE '([0-9-]+)'", r"toDate('\1')", sql)
        sql = re.sub(r"last_day\((make_date\([^)]*\))\)", r"toLastDayOfMonth(\1)", sql)
        sql = sql.replace("make_date(", "makeDate(")
        sql = sql.replace("3 - 1 PRECEDING", "2 PRECEDING")
        for t in dims + ["sales_fact"]:
            sql = re.sub(rf"\b(FROM|JOIN)\s+{t}\b", rf"\1 olap.{t}", sql)
        # ROLLUP's rolled-up levels are NULL in standard SQL.
        return sql + " SETTINGS group_by_use_nulls = 1, join_use_nulls = 1"
    runners["chdb"] = (chdb.__version__, lambda q, vi, sql: (lambda: sess.query(ch_sql(sql), "ArrowTable")))

if "polars" in engines:
    import polars as pl

    def fact():
        lf = pl.scan_parquet(fact_glob, hive_partitioning=bool(keys))
        for k in derived:
            lf = lf.with_columns(getattr(pl.col("date").dt, k)().cast(pl.Int32).alias(k))
        return lf.with_columns([pl.col(k).cast(pl.Int32) for k in keys])

    def dim(d):
        return pl.scan_parquet(f"{pq}/{d}/{d}.parquet")

    sqlctx = pl.SQLContext({**{d: dim(d) for d in dims}, "sales_fact": fact()})
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
            flt = {"partition filter": (pl.col("year") == Y) & (pl.col("quarter") == Q),
                   "year filter": pl.col("year") == Y,
                   "date filter (zone maps)": pl.col("date").is_between(pl.date(Y, 3 * Q - 2, 1), pl.date(Y, 3 * Q, 1).dt.month_end()),
                   "no filter": pl.lit(True)}[variant]
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
            return m.with_columns((cents.rolling_sum(W, min_samples=1).over("region") / 100 / n).round(2).alias("moving_avg"), n.alias("months_in_window"))
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

    def polars_run(q, vi, sql):
        if q["suite"] == "adhoc":
            return lambda: sqlctx.execute(sql.replace("DATE '", "'")).collect()
        return lambda: polars_query(q["id"], q["variants"][vi]).collect()
    runners["polars"] = (pl.__version__, polars_run)


# --- run -----------------------------------------------------------------------
results, failures = [], 0
times = collections.defaultdict(list)   # (id, variant, engine) -> one median per pass
plain_ratios = collections.defaultdict(list)  # (id, variant) -> olap/plain of every round of every pass
notes = {}

def time_olap(ids=()):
    for k, (ms, plain_ms, ratios) in olap_bench(ids).items():
        times[(*k, "olap")].append(ms)
        if plain_ms is not None:
            times[(*k, "plain")].append(plain_ms)
            plain_ratios[k].extend(ratios)


for p in range(1 if args.check else max(args.passes, 1)):
    if not args.check and not args.interleave:
        time_olap()
    for q in listing:
        # The variants olap answered on this data set's Parquet files.
        runnable = [(vi, variant, sql) for vi, (variant, sql) in enumerate(zip(q["variants"], q["sql"]))
                    if "parquet" in q["storages"] and (q["id"], variant) in answers]
        if runnable and args.interleave and not args.check:
            time_olap([q["id"]])
        for vi, variant, sql in runnable:
            for name, (_, make) in runners.items():
                if (q["id"], variant, name) in notes:
                    continue
                try:
                    ms, res = timed(make(q, vi, sql), 0 if args.check else args.rounds)
                    diff = same(rows_of(res), answers[(q["id"], variant)])
                    if diff:
                        notes[(q["id"], variant, name)] = "different answer: " + diff[:160]
                    else:
                        times[(q["id"], variant, name)].append(ms)
                except Exception as e:  # an unsupported construct is reported, not hidden
                    notes[(q["id"], variant, name)] = "error: " + str(e).splitlines()[0][:160]
for q in listing:
    for variant in q["variants"]:
        if "parquet" not in q["storages"]:
            continue
        if (q["id"], variant) not in answers:
            print(f"skipped {q['id']} [{variant}]: olap has no answer on this data set (it needs CSV)")
            continue
        med = lambda e: round(statistics.median(times[(q["id"], variant, e)]), 1) if times[(q["id"], variant, e)] else None
        row = {"id": q["id"], "suite": q["suite"], "variant": variant, "olap_ms": med("olap"), "plain_ms": med("plain")}
        rs = sorted(plain_ratios[(q["id"], variant)])
        if rs:
            # olap / plain round by round (alternate rounds, same process): median and spread.
            row["olap_over_plain"] = round(statistics.median(rs), 3)
            row["olap_over_plain_range"] = [round(rs[0], 3), round(rs[-1], 3)]
        for name in runners:
            key = (q["id"], variant, name)
            row[f"{name}_ms"] = None if key in notes else med(name)
            if key in notes:
                row[f"{name}_note"] = notes[key]
        results.append(row)
        print(json.dumps(row, default=str), flush=True)

# --- summary: olap against the fastest peer and against the plain engine ---------
# "plain" is olap's own DuckDB over plain read_parquet views (no rewrite, no
# fact-view choice): not a peer, the floor olap's machinery must not go below.
print(f"\n{'question':44} {'olap':>8} " + " ".join(f"{n:>10}" for n in runners)
      + f" {'olap/best':>9} {'plain':>8} {'olap/plain (min…max)':>21}")
for r in results:
    peers = {n: r.get(f"{n}_ms") for n in runners}
    best = min((v for v in peers.values() if v is not None), default=None)
    ratio = (r["olap_ms"] / best) if best and r["olap_ms"] else None
    label = r["id"] + ("" if r["variant"] == "default" else f" [{r['variant']}]")
    cells = " ".join(f"{v:>10.1f}" if v is not None else f"{'—':>10}" for v in peers.values())
    olap_cell = f"{r['olap_ms']:>8.1f}" if r["olap_ms"] else f"{'':>8}"
    ratio_cell = f"{ratio:>8.2f}x" if ratio else f"{'':>9}"
    plain_cell = f"{r['plain_ms']:>8.1f}" if r.get("plain_ms") else f"{'':>8}"
    vs = (f"{r['olap_over_plain']:.2f}x ({r['olap_over_plain_range'][0]:.2f}…{r['olap_over_plain_range'][1]:.2f})"
          if "olap_over_plain" in r else "")
    print(f"{label[:44]:44} {olap_cell} {cells} {ratio_cell} {plain_cell} {vs:>21}")
    for n in runners:
        note = r.get(f"{n}_note", "")
        if note.startswith("different answer"):
            failures += 1
        if note:
            print(f"    {n}: {note}")

if args.json:
    json.dump({"threads": args.threads, "rounds": args.rounds, "passes": args.passes, "fact_rows": manifest["spec"]["rows"],
               "versions": {n: v for n, (v, _) in runners.items()}, "results": results},
              open(args.json, "w"), indent=2, default=str)
if args.check:
    answered = sum(1 for r in results for n in runners if r.get(f"{n}_ms") is not None)
    print(f"\n{answered} answers equal olap's; {failures} differ")
    sys.exit(1 if failures else 0)

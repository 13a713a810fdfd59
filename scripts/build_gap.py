#!/usr/bin/env python3
"""olap's embedded DuckDB against DuckDB's official build (the Python
package) on the same SQL over the same views: the fact table as olap
defines it (`--fact-view partitions`: one scan per partition, keys as
constants; or `files`: one Hive scan of all files), the dimensions as
single files, the same settings, and olap's SQL as written (`--rewrite off`:
no eager aggregation). Differences are then the build's: compile flags,
allocator, compiler.

    pip install duckdb==2.0.0
    python3 scripts/build_gap.py --data-dir data --rounds 10 [--pairs 3] [--fact-view files] [--suite all]

Each pair runs the Python package's rounds, then `olap benchmark` with the
same rounds, so drift in the machine's speed hits both alike; medians of
the pairs' p50s are compared.
"""
import argparse, collections, json, os, statistics, subprocess, time

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default="data")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--pairs", type=int, default=3)
ap.add_argument("--fact-view", default="partitions", choices=["partitions", "files"],
                help="the fact view both sides use: one scan per partition, or one Hive scan of all files")
ap.add_argument("--suite", default="catalog", choices=["catalog", "adhoc", "all"])
ap.add_argument("--olap", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "olap"))
args = ap.parse_args()

import duckdb  # noqa: E402

olap = os.path.abspath(args.olap)
data = os.path.abspath(args.data_dir)
manifest = json.load(open(os.path.join(data, "manifest.json")))
catalog = [q for q in json.loads(subprocess.check_output([olap, "analyze", "--list", "--format", "json"]))
           if args.suite in ("all", q["suite"]) and q["storages"] == ["parquet"]]
keys = manifest["storage"]["partition_by"]
tables = {t["name"]: t for t in manifest["tables"]}
fact_cols = ["transaction_id", "line_item_id", "date", "time_key", "geo_key", "product_key", "customer_key",
             "payment_key", "quantity", "unit_price", "revenue", "cost", "discount_amount", "profit"]

con = duckdb.connect()
con.execute(f"SET threads = {args.threads}; SET parquet_metadata_cache = true;")
for name, t in tables.items():
    files = [os.path.join(data, f["path"]) for f in t["files"] if f["format"] == "parquet"]
    if name != "sales_fact":
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r})")
        continue
    cols = ", ".join(fact_cols)
    if args.fact_view == "files":
        for k in ("year", "quarter", "month"):
            cols += f", {k}" if k in keys else f", CAST({k}(date) AS INTEGER) AS {k}"
        hive = ", ".join(f"'{k}': INTEGER" for k in keys)
        con.execute(f"CREATE VIEW sales_fact AS SELECT {cols} FROM read_parquet({files!r}, hive_partitioning = true, "
                    f"hive_types = {{{hive}}})")
        continue
    parts = collections.OrderedDict()
    for f in files:
        parts.setdefault(os.path.dirname(f), []).append(f)
    branches = []
    for d, fs in parts.items():
        kv = dict(seg.split("=") for seg in os.path.relpath(d, os.path.join(data, "parquet", "sales_fact")).split("/") if "=" in seg)
        cols = ", ".join(fact_cols)
        for k in ("year", "quarter", "month"):
            cols += f", CAST({kv[k]} AS INTEGER) AS {k}" if k in kv else f", CAST({k}(date) AS INTEGER) AS {k}"
        branches.append(f"SELECT {cols} FROM read_parquet({fs!r}, hive_partitioning = false)")
    con.execute("CREATE VIEW sales_fact AS " + "\nUNION ALL\n".join(branches))

py = collections.defaultdict(list)
ol = collections.defaultdict(list)
for _ in range(args.pairs):
    for q in catalog:
        for variant, sql in zip(q["variants"], q["sql"]):
            con.sql(sql).to_arrow_table()
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                con.sql(sql).to_arrow_table()
                times.append((time.perf_counter() - t) * 1e3)
            py[(q["id"], variant)].append(statistics.median(times))
    out = json.loads(subprocess.check_output(
        [olap, "benchmark", "--rounds", str(args.rounds), "--threads", str(args.threads), "--format", "json",
         "--fact-view", args.fact_view, "--rewrite", "off", "--data-dir", data, "--store", os.path.join(os.path.dirname(data), "build-gap-store"),
         *[q["id"] for q in catalog]]))
    for r in out["result"]["queries"]:
        ol[(r["id"], r["variant"])].append(r["stats"]["p50"])

print(f"{'query':48} {'olap':>8} {'official':>9} {'ratio':>6}   (p50 ms, median of {args.pairs} pairs)")
ratios = []
for k in py:
    a, b = statistics.median(ol[k]), statistics.median(py[k])
    ratios.append(a / b)
    label = k[0] + ("" if k[1] == "default" else f" [{k[1]}]")
    print(f"{label:48} {a:8.1f} {b:9.1f} {a / b:6.2f}")
print(f"olap / official: median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")

#!/usr/bin/env python3
"""Check that another engine reads an olap data set as olap does.

    python3 scripts/check_with_pyarrow.py --data-dir data [--olap target/release/olap]

Reads the Parquet data set with pyarrow's dataset API (Hive partitioning),
checks the column types are standard ones (int32/int64/int16, date32,
decimal128(18,2), string, bool, double), that every table has the manifest's
row count, and that total and per-year revenue and line counts equal what
`olap analyze` computes with DuckDB. Exits 1 on any difference.
"""
import argparse, json, subprocess, sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default="data")
ap.add_argument("--olap", default="target/release/olap")
args = ap.parse_args()

manifest = json.load(open(f"{args.data_dir}/manifest.json"))
rows = {t["name"]: t["rows"] for t in manifest["tables"]}
keys = manifest["storage"]["partition_by"]
failures = []

def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)

allowed = (pa.int16(), pa.int32(), pa.int64(), pa.date32(), pa.decimal128(18, 2), pa.decimal128(5, 2), pa.string(), pa.bool_(), pa.float64())
for name, n in rows.items():
    path = f"{args.data_dir}/parquet/{name}"
    part = ds.partitioning(pa.schema([(k, pa.int32()) for k in keys]), flavor="hive") if name == "sales_fact" and keys else None
    d = ds.dataset(path, format="parquet", partitioning=part)
    odd = [f"{f.name}: {f.type}" for f in d.schema if f.type not in allowed]
    check(not odd, f"{name}: standard column types {odd if odd else ''}")
    check(d.count_rows() == n, f"{name}: {d.count_rows()} rows, manifest {n}")

fact = ds.dataset(f"{args.data_dir}/parquet/sales_fact", format="parquet",
                  partitioning=ds.partitioning(pa.schema([(k, pa.int32()) for k in keys]), flavor="hive") if keys else None)
t = fact.to_table(columns=["date", "revenue"])
total = pc.sum(t["revenue"]).as_py()
years = pc.year(t["date"])
by_year = {}
for y in sorted(set(years.to_pylist())):
    mask = pc.equal(years, y)
    by_year[y] = (pc.sum(pc.filter(t["revenue"], mask)).as_py(), pc.sum(pc.cast(mask, pa.int64())).as_py())

def olap(*query):
    out = subprocess.check_output([args.olap, "analyze", *query, "--execute", "--format", "json", "--data-dir", args.data_dir])
    # Numbers are JSON numbers; read decimals exactly.
    return json.loads(out, parse_float=Decimal)["queries"][0]["runs"][0]["rows"]

io = olap("--sql", "SELECT sum(revenue), count(*) FROM sales_fact")[0]
check(Decimal(io[0]) == total and int(io[1]) == rows["sales_fact"], f"total revenue {total} and {rows['sales_fact']} lines match olap ({io[0]}, {io[1]})")
olap_years = {}
for region, year, revenue, profit, lines in olap("revenue_by_region_year"):
    r, n = olap_years.get(int(year), (Decimal(0), 0))
    olap_years[int(year)] = (r + Decimal(revenue), n + int(lines))
for y, (rev, n) in by_year.items():
    check(olap_years.get(y) == (rev, n), f"{y}: revenue {rev} over {n} lines matches olap {olap_years.get(y)}")
sys.exit(1 if failures else 0)

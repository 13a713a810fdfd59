#!/usr/bin/env python3
"""Apache Spark answers olap's catalog from the files olap wrote.

Runs `olap export --dialect spark` (external tables over the data set with
the partition columns declared, then every catalog query in Spark SQL) in
PySpark `local[2]`, and compares each answer with `olap analyze --format
json`, numbers to the cent. With --rounds N it also times every query on
both engines (Spark: median of N after a warm-up; olap: `olap benchmark`
with the same rounds and threads) and prints a Markdown table.

    pip install pyspark          # and a JDK 17: apt-get install openjdk-17-jre-headless
    python3 scripts/check_with_spark.py --data-dir data --olap target/release/olap [--rounds 5]

Exit 0 when every answer is equal, 1 otherwise.
"""

import argparse
import decimal
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

QUERY_MARK = "-- query: "


def statements(script):
    """(query label or None, SQL) for each statement of the export."""
    out = []
    for chunk in script.split(";\n"):
        label = None
        lines = []
        for line in chunk.splitlines():
            if line.startswith(QUERY_MARK):
                label = line[len(QUERY_MARK):].strip()
            elif not line.startswith("--"):
                lines.append(line)
        sql = "\n".join(lines).strip()
        if sql:
            out.append((label, sql))
    return out


def norm(v):
    """A value in a form both engines agree on: numbers to the cent."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float, decimal.Decimal)):
        return round(float(v), 2)
    return str(v)


def same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            # To the cent, allowing for one rounding step on either side.
            if abs(x - y) > 0.0100001:
                return False
        elif x != y:
            return False
    return True


def olap_answers(olap, data_dir):
    out = subprocess.run(
        [olap, "analyze", "--execute", "--format", "json", "--threads", "2", "--data-dir", data_dir],
        check=True, capture_output=True, text=True,
    ).stdout
    answers = {}
    for q in json.loads(out)["queries"]:
        if q.get("skipped"):
            answers[f'{q["id"]} | *'] = q["skipped"]
        for run in q["runs"]:
            if run["storage"] != "parquet":
                continue
            answers[f'{q["id"]} | {run["variant"]}'] = [[norm(v) for v in row] for row in run["rows"]]
    return answers


def olap_latencies(olap, data_dir, rounds):
    with tempfile.TemporaryDirectory() as store:
        env = dict(os.environ, OLAP_BENCH_STORE=store)
        out = subprocess.run(
            [olap, "benchmark", "--rounds", str(rounds), "--threads", "2", "--format", "json", "--data-dir", data_dir],
            check=True, capture_output=True, text=True, env=env,
        ).stdout
    return {
        f'{q["id"]} | {q["variant"]}': q["stats"]["p50"]
        for q in json.loads(out)["result"]["queries"]
        if q["storage"] == "parquet"
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--olap", default="target/release/olap")
    ap.add_argument("--rounds", type=int, default=0, help="time each query this many times (0: answers only)")
    args = ap.parse_args()

    script = subprocess.run(
        [args.olap, "export", "--dialect", "spark", "--data-dir", args.data_dir],
        check=True, capture_output=True, text=True,
    ).stdout
    expected = olap_answers(args.olap, args.data_dir)

    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("olap-check")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"Spark {spark.version} local[2] up in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    failures = []
    timings = {}
    checked = 0
    for label, sql in statements(script):
        if label is None:
            spark.sql(sql).collect()
            continue
        rows = [[norm(v) for v in r] for r in spark.sql(sql).collect()]
        want = expected.get(label)
        skipped = expected.get(label.split(" | ")[0] + " | *")
        if want is None and skipped:
            print(f"  skipped {label}: olap skipped it ({skipped})", file=sys.stderr)
            continue
        if want is None:
            failures.append(f"{label}: olap has no answer for it")
        elif len(rows) != len(want) or not all(same(a, b) for a, b in zip(rows, want)):
            first = next((i for i, (a, b) in enumerate(zip(rows, want)) if not same(a, b)), min(len(rows), len(want)))
            failures.append(
                f"{label}: Spark {len(rows)} rows, olap {len(want)}; first difference at row {first}: "
                f"{rows[first] if first < len(rows) else None} vs {want[first] if first < len(want) else None}"
            )
        else:
            checked += 1
        if args.rounds:
            samples = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                spark.sql(sql).collect()
                samples.append((time.perf_counter() - t) * 1e3)
            timings[label] = statistics.median(samples)
    spark.stop()

    missing = sorted(set(k for k in expected if not k.endswith(" | *")) - {l for l, _ in statements(script) if l})
    failures += [f"{m}: not in the Spark export" for m in missing]
    print(f"{checked} catalog answers equal between Spark and olap; {len(failures)} differ")
    for f in failures:
        print("  DIFFERS", f)

    if args.rounds:
        olap_ms = olap_latencies(args.olap, args.data_dir, args.rounds)
        print(f"\n| query | Spark p50 ms | olap p50 ms | Spark / olap |\n|---|---:|---:|---:|")
        for label, spark_ms in timings.items():
            o = olap_ms.get(label)
            name = label.replace(" | default", "").replace(" | ", " (") + ("" if label.endswith(" | default") else ")")
            if o:
                print(f"| {name} | {spark_ms:.0f} | {o:.1f} | {spark_ms / o:.1f}x |")
            else:
                print(f"| {name} | {spark_ms:.0f} | - | - |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

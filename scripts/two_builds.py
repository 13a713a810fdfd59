#!/usr/bin/env python3
"""Two olap binaries head to head on the same data set: `olap benchmark`
with the same rounds and threads, alternated (A, B, A, B, ...) so drift in
the machine's speed hits both alike. Prints each question's p50 for both
(the median over the runs), B / A, and the median and geometric mean of
B / A. Used to show that a change to how DuckDB is compiled (flags, which
files get -O1, a precompiled header) costs no question its speed.

    python3 scripts/two_builds.py --a /tmp/olap-before --b target/release/olap \\
        --data-dir d10m --suite all --rounds 5 --pairs 2
"""
import argparse, collections, json, math, os, statistics, subprocess, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--a", required=True, help="the first binary (the reference)")
ap.add_argument("--b", required=True, help="the second binary")
ap.add_argument("--data-dir", default="data")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--pairs", type=int, default=2)
ap.add_argument("--suite", default="all", choices=["catalog", "adhoc", "all"])
args = ap.parse_args()

store = tempfile.mkdtemp(prefix="two-builds-store-")
p50 = {"a": collections.defaultdict(list), "b": collections.defaultdict(list)}
for pair in range(args.pairs):
    for side in ("a", "b"):
        binary = os.path.abspath(getattr(args, side))
        out = json.loads(subprocess.check_output(
            [binary, "-q", "benchmark", "--suite", args.suite, "--rounds", str(args.rounds),
             "--threads", str(args.threads), "--format", "json", "--data-dir", args.data_dir,
             "--store", store]))
        build = out["result"].get("build", "?")
        for r in out["result"]["queries"]:
            p50[side][(r["id"], r["variant"])].append(r["stats"]["p50"])
        print(f"pair {pair + 1}, {side.upper()} ({build}): {len(out['result']['queries'])} timings")

print(f"\n{'query':52} {'A p50':>9} {'B p50':>9} {'B/A':>6}   (ms, median of {args.pairs} runs of {args.rounds} rounds)")
ratios = []
for key in p50["a"]:
    if key not in p50["b"]:
        continue
    a, b = statistics.median(p50["a"][key]), statistics.median(p50["b"][key])
    if a <= 0:
        continue
    ratios.append(b / a)
    label = key[0] + ("" if key[1] == "default" else f" [{key[1]}]")
    print(f"{label:52} {a:9.1f} {b:9.1f} {b / a:6.2f}")
geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
print(f"B / A over {len(ratios)} timings: median {statistics.median(ratios):.3f}, "
      f"geometric mean {geo:.3f}, range {min(ratios):.2f}-{max(ratios):.2f}")

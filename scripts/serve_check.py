#!/usr/bin/env python3
"""Every catalog question (each variant) and the ad-hoc suite through psql, the
JDBC driver and psycopg against `olap serve`, each compared with `olap analyze
--execute --format csv` of the same SQL.

    python3 scripts/serve_check.py OLAP DATA_DIR PORT

OLAP built with --features serve; the server listens on 127.0.0.1:PORT and
is stopped at the end. Needs psql, javac/java with /usr/share/java/postgresql.jar
and psycopg (.ci/run installs them).
"""
import subprocess, sys, json, os, tempfile, time, decimal, datetime, math
olap, data, port = sys.argv[1], sys.argv[2], sys.argv[3]
srv = subprocess.Popen([olap, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--threads", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
for line in srv.stderr:
    if f"127.0.0.1:{port}" in line: break
specs = json.loads(subprocess.check_output([olap, "analyze", "--list", "--format", "json"]))
import psycopg
conn = psycopg.connect(f"host=127.0.0.1 port={port} user=olap dbname=olap")
tmp = tempfile.mkdtemp()
queries = []
for s in specs:
    for v, q in zip(s["variants"], s["sql"]):
        queries.append((f'{s["id"]}[{v}]', q))
java = f"""
import java.sql.*; import java.nio.file.*;
public class Cat {{ public static void main(String[] a) throws Exception {{
 try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:{port}/olap?user=olap")) {{
  for (String f : a) {{ String sql = new String(Files.readAllBytes(Paths.get(f)));
   StringBuilder out = new StringBuilder();
   try (ResultSet r = c.createStatement().executeQuery(sql)) {{ int n = r.getMetaData().getColumnCount();
    while (r.next()) {{ for (int i = 1; i <= n; i++) {{ if (i > 1) out.append('|'); String x = r.getString(i); out.append(x == null ? "" : x); }} out.append('\\n'); }} }}
   Files.write(Paths.get(f + ".jdbc"), out.toString().getBytes()); }} }} }} }}
"""
open(f"{tmp}/Cat.java", "w").write(java)
subprocess.check_call(["javac", "-cp", "/usr/share/java/postgresql.jar", f"{tmp}/Cat.java"])
files = []
for i, (name, sql) in enumerate(queries):
    p = f"{tmp}/q{i}.sql"; open(p, "w").write(sql); files.append(p)
subprocess.check_call(["java", "-cp", f"/usr/share/java/postgresql.jar:{tmp}", "Cat", *files])
bad = 0
def same(a, b):
    if isinstance(a, float): return math.isclose(a, float(b), rel_tol=1e-12)
    if isinstance(a, decimal.Decimal): return a == decimal.Decimal(b)
    if isinstance(a, bool): return b == ("t" if a else "f")
    if isinstance(a, (datetime.date, datetime.datetime)): return a.isoformat().replace("T", " ") == b
    if a is None: return b == ""
    return str(a) == b
for (name, sql), p in zip(queries, files):
    a = subprocess.run([olap, "analyze", "--data-dir", data, "--threads", "2", "--sql", sql, "--execute", "--format", "csv"], capture_output=True, text=True, check=True).stdout
    # CSV says true/false where PostgreSQL's text format says t/f.
    want = sorted("|".join({"true": "t", "false": "f"}.get(x, x) for x in l.split(",")) for l in a.splitlines()[1:])
    ps = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", port, "-U", "olap", "-d", "olap", "-c", sql], capture_output=True, text=True, check=True).stdout
    got = sorted(ps.splitlines())
    jd = sorted(open(p + ".jdbc").read().splitlines())
    rows = conn.execute(sql).fetchall()
    types = sorted({type(v).__name__ for r in rows for v in r})
    pyok = len(rows) == len(got) and all(
        any(all(same(x, y) for x, y in zip(r, g.split("|"))) for g in got) for r in rows[:200])
    ok = got == want and jd == want and pyok
    bad += not ok
    print(f"{name:50} rows {len(want):6}  psql {'=' if got == want else '!='}  jdbc {'=' if jd == want else '!='}  psycopg {'=' if pyok else '!='} {','.join(types)}")
srv.terminate(); srv.wait()
print("all equal" if bad == 0 else f"{bad} differ")

//! `olap serve` with real clients: psql (Debian's postgresql-client),
//! psycopg 3 and the PostgreSQL JDBC driver, on a loopback port, bounded in
//! time. The server is the `serve` feature: without it these tests show as
//! ignored, with the command that runs them; `.ci/run` installs the clients
//! and runs them.
#![cfg_attr(not(feature = "serve"), allow(dead_code, unused_imports))]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;

/// A small data set, made once.
fn fixture() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make_fixture("serve-fixture", 60_000))
}

/// A running `olap serve` on a free loopback port; killed on drop.
struct Server {
    child: Child,
    port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_on(fixture(), extra)
    }

    fn start_on(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("olap"))
            .args(["-v", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split(" on 127.0.0.1:")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("olap serve printed its address");
        Server { child, port, log }
    }

    fn url(&self) -> String {
        format!("postgresql://olap@127.0.0.1:{}/olap", self.port)
    }

    /// psql with `args`, bounded in time: (exit ok, stdout, stderr).
    fn psql(&self, args: &[&str]) -> (bool, String, String) {
        let o = Command::new("psql")
            .args(["-X", "-v", "VERBOSITY=verbose", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "olap", "-d", "olap"])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql (Debian's postgresql-client) is installed");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    }

    /// A psql session held open, reading its statements from a pipe.
    fn psql_session(&self, flags: &[&str]) -> Child {
        Command::new("psql")
            .args(["-X"])
            .args(flags)
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "olap", "-d", "olap"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql (Debian's postgresql-client) is installed")
    }

    fn query(&self, sql: &str) -> String {
        let (ok, out, err) = self.psql(&["-At", "-c", sql]);
        assert!(ok, "{sql}: {err}");
        out.trim().to_string()
    }
}

/// What `olap analyze` answers for `sql`, as psql -At prints it.
fn analyze_answer(sql: &str) -> String {
    let o = olap()
        .args(["analyze", "--data-dir"])
        .arg(fixture())
        .args(["--sql", sql, "--execute", "--format", "csv"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.replace(',', "|"))
        .collect::<Vec<_>>()
        .join("\n")
}

const SERVE: &str =
    "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)";

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn psql_answers_the_catalog_as_analyze_does_and_describes_the_tables() {
    let _ = SERVE;
    let s = Server::start(&[]);
    for spec in olap::query::catalog::CATALOG.iter() {
        let sql = olap::query::catalog::render(spec, 0, &Default::default());
        let mut got: Vec<String> = s.query(&sql).lines().map(str::to_string).collect();
        let mut want: Vec<String> = analyze_answer(&sql).lines().map(str::to_string).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}", spec.id);
    }
    // psql's \dt and \d sales_fact.
    let (ok, out, err) = s.psql(&["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("sales_fact") && out.contains("dim_time"),
        "{out}"
    );
    let (ok, out, err) = s.psql(&["-c", "\\d sales_fact"]);
    assert!(ok, "{err}");
    for column in ["transaction_id", "revenue", "year", "quarter"] {
        assert!(out.contains(column), "{column}: {out}");
    }
    assert!(s.query("SELECT version()").starts_with("PostgreSQL"));
    assert_eq!(s.query("SHOW standard_conforming_strings"), "on");
    // A session (a clone of the server's connection) keeps Parquet footers
    // cached as the engine's own connection does: a per-connection setting
    // here cost every query a re-read of every footer.
    assert_eq!(
        s.query("SELECT value FROM duckdb_settings() WHERE name = 'parquet_metadata_cache'"),
        "true"
    );
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn a_client_reads_the_data_set_and_nothing_else() {
    let s = Server::start(&[]);
    for (sql, code) in [
        ("COPY sales_fact TO '/tmp/olap-serve-copy.csv'", "25006"),
        ("SELECT * FROM read_csv('/etc/passwd')", "42501"),
        (
            "SELECT * FROM read_parquet('/tmp/elsewhere.parquet')",
            "42501",
        ),
        ("ATTACH '/tmp/olap-serve.db'", "25006"),
        ("INSTALL httpfs", "25006"),
        ("LOAD httpfs", "25006"),
        ("CREATE TABLE t AS SELECT 1", "25006"),
        ("DROP VIEW sales_fact", "25006"),
        (
            "INSERT INTO dim_payment VALUES (99, 'x', 'y', 1.0)",
            "25006",
        ),
        ("SET threads = 1", "55P02"),
        ("SET memory_limit = '64GB'", "55P02"),
        ("SET enable_external_access = true", "55P02"),
    ] {
        let (ok, _, err) = s.psql(&["-c", sql]);
        assert!(!ok, "{sql} was not refused");
        assert!(err.contains(code), "{sql}: expected SQLSTATE {code}: {err}");
    }
    assert!(!Path::new("/tmp/olap-serve-copy.csv").exists());
    assert!(!Path::new("/tmp/olap-serve.db").exists());
    // What clients send at connect is answered; the session goes on.
    let (ok, out, err) = s.psql(&[
        "-At",
        "-c",
        "SET extra_float_digits = 3; SET application_name = 'x'; SET DateStyle = 'ISO'; DISCARD ALL; SELECT count(*) FROM dim_payment",
    ]);
    assert!(ok, "{err}");
    assert!(out.trim().ends_with("20"), "{out}");
    // A SQL error is a PostgreSQL error with its SQLSTATE.
    let (ok, _, err) = s.psql(&["-c", "SELECT * FROM no_such_table"]);
    assert!(!ok && err.contains("42P01"), "{err}");
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn the_connection_after_the_last_allowed_one_is_refused() {
    let s = Server::start(&["--max-connections", "1"]);
    // One session held open: psql reading its commands from a pipe.
    let mut first = s.psql_session(&[]);
    first
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"SELECT 1;\n")
        .unwrap();
    // Its answer read back: the session is open.
    let mut answer = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("row)") {
        line.clear();
        assert!(
            answer.read_line(&mut line).unwrap() > 0,
            "the first psql ended"
        );
    }
    let started = Instant::now();
    let mut refused = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        let (ok, _, err) = s.psql(&["-c", "SELECT 1"]);
        if !ok {
            refused = err;
            if refused.contains("too many connections") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // libpq prints a refusal at connect without its SQLSTATE (53300).
    assert!(refused.contains("too many connections"), "{refused}");
    drop(first.stdin.take());
    let _ = first.wait();
    // Once it closed, the next one is let in.
    let started = Instant::now();
    loop {
        let (ok, _, err) = s.psql(&["-c", "SELECT 1"]);
        if ok {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{err}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn without_an_auth_file_only_loopback_is_served() {
    let o = olap()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(fixture())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--auth-file"), "{}", stderr(&o));
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn users_of_the_auth_file_log_in_with_scram_and_others_do_not() {
    let t = tempfile::tempdir().unwrap();
    let auth = t.path().join("users");
    std::fs::write(&auth, "ana:s3cret\n").unwrap();
    // Readable by others: refused as ssh refuses a loose key.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = olap()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(fixture())
        .arg("--auth-file")
        .arg(&auth)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = Server::start(&["--auth-file", auth.to_str().unwrap()]);
    let login = |user: &str, password: &str| {
        Command::new("psql")
            .args(["-X", "-At", "-h", "127.0.0.1", "-p"])
            .arg(s.port.to_string())
            .args(["-U", user, "-d", "olap", "-c", "SELECT 42"])
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    };
    let ok = login("ana", "s3cret");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "42");
    for (user, password) in [("ana", "wrong"), ("bob", "s3cret")] {
        let o = login(user, password);
        assert!(!o.status.success(), "{user} logged in with {password}");
    }
}

/// A Python snippet run with psycopg against the server: its stdout.
fn psycopg(s: &Server, code: &str) -> String {
    let script = format!("import psycopg, sys\nurl = {:?}\n{code}\n", s.url());
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "psycopg (pip install 'psycopg[binary]'; .ci/run does): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn psycopg_gets_typed_values_binds_parameters_and_cancels() {
    let s = Server::start(&[]);
    let out = psycopg(
        &s,
        r#"
import decimal, datetime, threading, time
with psycopg.connect(url, autocommit=True) as c:
    row = c.execute("SELECT sum(revenue) AS r, min(date) AS d, count(*) AS n, bool_or(quantity > 3) AS b, avg(quantity) AS a, TIMESTAMP '2023-01-02 03:04:05' AS ts FROM sales_fact WHERE year = %s", (2022,)).fetchone()
    print(type(row[0]).__name__, type(row[1]).__name__, type(row[2]).__name__, type(row[3]).__name__, type(row[4]).__name__, type(row[5]).__name__)
    # Prepared on the server and run several times.
    for y in (2021, 2022, 2023, 2021, 2022, 2023):
        n = c.execute("SELECT count(*) FROM sales_fact WHERE year = %s", (y,), prepare=True).fetchone()[0]
    print("prepared", n)
    # Cancel: a long query stopped from another thread.
    def stop():
        time.sleep(1.0)
        c.cancel()
    threading.Thread(target=stop).start()
    t = time.time()
    try:
        c.execute("SELECT sum(hash(i)) FROM range(20000000000) t(i)").fetchone()
        print("not cancelled")
    except psycopg.errors.QueryCanceled as e:
        print("cancelled", round(time.time() - t, 1))
    print("after", c.execute("SELECT 1").fetchone()[0])
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Decimal date int bool float datetime", "{out}");
    assert!(lines[1].starts_with("prepared "), "{out}");
    let cancelled: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(cancelled[0], "cancelled", "{out}");
    assert!(cancelled[1].parse::<f64>().unwrap() < 10.0, "{out}");
    assert_eq!(lines[3], "after 1", "{out}");
}

/// SQLAlchemy (its PostgreSQL dialect over psycopg): the connect-time
/// questions (`show transaction isolation level`, `select version()`, a
/// savepoint and `to_regtype('hstore')` in psycopg's type lookup), its
/// reflection (tables, columns with their types, keys, indexes, comments:
/// the catalog queries cast to `regclass`, call `json_build_object` and
/// LEFT JOIN `pg_inherits`), and a Core query on a reflected table and a
/// pandas read through the engine.
#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn sqlalchemy_reflects_the_tables_and_queries_them() {
    let s = Server::start(&[]);
    let out = psycopg(
        &s,
        r#"
import sqlalchemy as sa, pandas as pd
e = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
insp = sa.inspect(e)
print("tables", ",".join(sorted(insp.get_table_names())))
print("has", insp.has_table("dim_product"), insp.has_table("no_such_table"))
cols = {c["name"]: str(c["type"]) for c in insp.get_columns("sales_fact")}
print("columns", len(cols), cols["transaction_id"], cols["date"], cols["revenue"].split("(")[0])
print("keys", insp.get_pk_constraint("sales_fact")["constrained_columns"], insp.get_foreign_keys("sales_fact"), insp.get_indexes("sales_fact"), insp.get_table_comment("sales_fact")["text"])
md = sa.MetaData()
md.reflect(e)
print("reflected", ",".join(sorted(md.tables)))
geo = md.tables["dim_geography"]
with e.connect() as c:
    n = c.execute(sa.select(sa.func.count()).select_from(geo).where(geo.c.region == sa.bindparam("r")), {"r": "Europe"}).scalar()
    total = c.execute(sa.select(sa.func.count()).select_from(geo)).scalar()
print("core", 0 < n < total)
df = pd.read_sql(sa.text("SELECT region, count(*) AS n FROM dim_geography GROUP BY region ORDER BY region"), e)
print("pandas", len(df), list(df.columns), int(df["n"].sum()) == total)
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    let tables = "dim_customer,dim_geography,dim_payment,dim_product,dim_time,sales_fact";
    assert_eq!(lines[0], format!("tables {tables}"), "{out}");
    assert_eq!(lines[1], "has True False", "{out}");
    assert!(
        lines[2].starts_with("columns ") && lines[2].ends_with(" BIGINT DATE NUMERIC"),
        "{out}"
    );
    assert_eq!(lines[3], "keys [] [] [] None", "{out}");
    assert_eq!(lines[4], format!("reflected {tables}"), "{out}");
    assert_eq!(lines[5], "core True", "{out}");
    assert_eq!(lines[6], "pandas 5 ['region', 'n'] True", "{out}");
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn a_client_that_disconnects_mid_result_frees_its_query_and_others_go_on() {
    let s = Server::start(&[]);
    let out = psycopg(
        &s,
        r#"
c = psycopg.connect(url, autocommit=True)
cur = c.cursor(name=None)
cur.execute("SELECT * FROM sales_fact")
print(len(cur.fetchmany(10)))
c.close()
with psycopg.connect(url, autocommit=True) as d:
    print(d.execute("SELECT count(*) FROM dim_time").fetchone()[0] > 0)
"#,
    );
    assert_eq!(out.trim(), "10\nTrue", "{out}");
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn the_jdbc_driver_queries_prepares_and_reads_metadata() {
    let jar = Path::new("/usr/share/java/postgresql.jar");
    assert!(
        jar.exists(),
        "the PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java; .ci/run installs it)"
    );
    let s = Server::start(&[]);
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("Probe.java");
    std::fs::write(
        &src,
        format!(
            r#"
import java.sql.*;
public class Probe {{
  public static void main(String[] a) throws Exception {{
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:{}/olap?user=olap")) {{
      try (ResultSet r = c.createStatement().executeQuery("SELECT count(*), sum(revenue) FROM sales_fact")) {{
        r.next(); System.out.println("count " + r.getLong(1) + " " + r.getBigDecimal(2).scale());
      }}
      PreparedStatement p = c.prepareStatement("SELECT count(*) FROM sales_fact WHERE year = ?");
      long n = 0;
      for (int i = 0; i < 7; i++) {{ p.setInt(1, 2021 + i % 3); try (ResultSet r = p.executeQuery()) {{ r.next(); n += r.getLong(1); }} }}
      System.out.println("prepared " + n);
      DatabaseMetaData m = c.getMetaData();
      int tables = 0;
      try (ResultSet r = m.getTables(null, null, "%", null)) {{ while (r.next()) if (r.getString("TABLE_NAME").equals("sales_fact")) tables++; }}
      int columns = 0;
      try (ResultSet r = m.getColumns(null, null, "sales_fact", "%")) {{ while (r.next()) columns++; }}
      System.out.println("metadata " + tables + " " + columns);
    }}
  }}
}}
"#,
            s.port
        ),
    )
    .unwrap();
    let javac = Command::new("javac")
        .arg("-cp")
        .arg(jar)
        .arg(&src)
        .output()
        .expect("javac");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let o = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{}", jar.display(), t.path().display()))
        .arg("Probe")
        .output()
        .expect("java");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("count 60000 2"), "{out}");
    assert!(
        out.lines().any(|l| l
            .strip_prefix("prepared ")
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 60_000))),
        "{out}"
    );
    assert!(out.contains("metadata 1 17"), "{out}");
    let _ = s.log.lock().unwrap().len();
}

/// Random and malformed protocol input: every connection is dropped or
/// answered, none crashes or hangs the server, and a well-behaved client
/// connected all along keeps answering.
#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn malformed_protocol_input_never_stops_the_server() {
    use std::io::Read;
    use std::net::TcpStream;
    let s = Server::start(&[]);
    let addr = format!("127.0.0.1:{}", s.port);
    let startup = |user: &str| -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&196608u32.to_be_bytes()); // protocol 3.0
        for kv in ["user", user, "database", "olap"] {
            body.extend_from_slice(kv.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend(body);
        msg
    };
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a startup packet of 1 GB",
            (1u32 << 30).to_be_bytes().to_vec(),
        ),
        ("a length shorter than itself", vec![0, 0, 0, 2, 0, 3, 0, 0]),
        ("a truncated startup", startup("olap")[..9].to_vec()),
        ("an unknown protocol version", {
            let mut m = startup("olap");
            m[4..8].copy_from_slice(&0x0009_0009u32.to_be_bytes());
            m
        }),
        ("a query of 1 GB after startup", {
            let mut m = startup("olap");
            m.push(b'Q');
            m.extend_from_slice(&(1u32 << 30).to_be_bytes());
            m.extend_from_slice(b"SELECT 1");
            m
        }),
        ("an unknown message after startup", {
            let mut m = startup("olap");
            m.extend_from_slice(&[b'z', 0, 0, 0, 4]);
            m
        }),
        ("a bind for no statement", {
            let mut m = startup("olap");
            m.extend_from_slice(&[b'B', 0, 0, 0, 12, b'p', 0, b'n', b'o', 0, 0, 0, 0]);
            m.extend_from_slice(&[b'S', 0, 0, 0, 4]);
            m
        }),
    ];
    // Seeded random bytes, alone and after a valid startup.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..40 {
        let mut m = if i % 2 == 0 {
            Vec::new()
        } else {
            startup("olap")
        };
        let n = 1 + (i * 37) % 300;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push(x as u8);
        }
        cases.push(("random bytes", m));
    }
    // A client connected before and after all of it.
    let mut steady = s.psql_session(&["-At"]);
    let mut stdin = steady.stdin.take().unwrap();
    stdin
        .write_all(b"SELECT count(*) FROM dim_payment;\n")
        .unwrap();
    // A slow client: half a startup packet, then silence, held throughout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(&startup("olap")[..6]).unwrap();
    for (what, bytes) in &cases {
        let mut c = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{what}: {e}"));
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(bytes);
        let _ = c.shutdown(std::net::Shutdown::Write);
        // The server answers or closes; it does not hang on us.
        let mut buf = Vec::new();
        let started = Instant::now();
        let _ = c.read_to_end(&mut buf);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: the server neither answered nor closed"
        );
    }
    // Every other session still answers, and the server lives.
    assert_eq!(s.query("SELECT count(*) FROM dim_payment"), "20");
    stdin
        .write_all(b"SELECT count(*) FROM dim_time WHERE false;\n")
        .unwrap();
    drop(stdin);
    let out = steady.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "20\n0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(slow);
    let mut server = s;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited: {}",
        server.log.lock().unwrap()
    );
}

/// `olap generate --force` replaces the data set under a running server:
/// the writer does not wait for it, a query running meanwhile answers from
/// the version it started on, and the next statements (of a new session
/// and of one open all along) see the new version.
#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn a_replaced_data_set_is_served_from_the_next_statement_on() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    generate(&dir, 20_000, &[]);
    let s = Server::start_on(&dir, &[]);
    // A session open all along.
    let mut open = s.psql_session(&["-At"]);
    let mut stdin = open.stdin.take().unwrap();
    let mut answers = BufReader::new(open.stdout.take().unwrap());
    let mut ask = |sql: &str| -> String {
        stdin.write_all(format!("{sql};\n").as_bytes()).unwrap();
        let mut line = String::new();
        assert!(answers.read_line(&mut line).unwrap() > 0, "psql ended");
        line.trim().to_string()
    };
    assert_eq!(ask("SELECT count(*) FROM sales_fact"), "20000");
    // A long query on the old version, from another client.
    let long = {
        let port = s.port;
        std::thread::spawn(move || {
            let o = Command::new("psql")
                .args(["-X", "-At", "-h", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .args(["-U", "olap", "-d", "olap", "-c"])
                // About 2.5 s on two cores: 400M rows through a filter
                // DuckDB cannot fold away.
                .arg("SELECT count(*) // 20000 FROM sales_fact f, range(20000) r(i) WHERE (f.quantity + i) % 7 <> 7")
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&o.stdout).trim().to_string(),
                String::from_utf8_lossy(&o.stderr).to_string(),
                Instant::now(),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // The writer replaces it without waiting for the server's readers.
    let o = olap()
        .args(["generate", "--rows", "30000", "--force", "--output-dir"])
        .arg(&dir)
        .args(SMALL)
        .output()
        .unwrap();
    let replaced = Instant::now();
    assert!(o.status.success(), "{}", stderr(&o));
    let (old, err, finished) = long.join().unwrap();
    assert_eq!(old, "20000", "the running query's version: {err}");
    assert!(
        finished > replaced,
        "the long query ended before the writer: the test proves nothing; make it longer"
    );
    // New statements see the new version (the server checks once a second).
    let started = Instant::now();
    loop {
        let now = s.query("SELECT count(*) FROM sales_fact");
        if now == "30000" {
            break;
        }
        assert_eq!(now, "20000");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never saw 30000"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ask("SELECT count(*) FROM sales_fact"), "30000");
    drop(stdin);
    let _ = open.wait();
    // The old version's files go with its last reader.
    let held = || -> Vec<String> {
        std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains("olap-held"))
            .collect()
    };
    let started = Instant::now();
    while !held().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the old version is still kept: {:?}",
            held()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's "Connect from your tools": its Python block (psycopg and
/// pandas) runs as written against the server, its port aside.
#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn the_readmes_python_block_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme
        .split("<!-- serve-python")
        .nth(1)
        .expect("README marks its serve Python block");
    let block: String = after
        .split("```python\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a python block")
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let s = Server::start(&[]);
    let code = block.replace("127.0.0.1:5433", &format!("127.0.0.1:{}", s.port));
    assert_ne!(code, block, "the block connects to 127.0.0.1:5433");
    let o = Command::new("python3")
        .args(["-W", "ignore", "-c", &code])
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "pandas and psycopg (.ci/run installs them): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let want = analyze_answer(
        "SELECT year, sum(revenue) AS revenue FROM sales_fact GROUP BY year ORDER BY year",
    );
    for line in want.lines() {
        let (year, revenue) = line.split_once('|').unwrap();
        assert!(
            out.lines().any(|l| l.contains(year) && l.contains(revenue)),
            "{year} {revenue} not in:\n{out}"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn psql_and_psycopg_log_in_over_tls() {
    let t = tempfile::tempdir().unwrap();
    let (cert, key) = (t.path().join("server.crt"), t.path().join("server.key"));
    let o = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let auth = t.path().join("users");
    std::fs::write(&auth, "ana:s3cret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = Server::start(&[
        "--auth-file",
        auth.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    // psql with sslmode=verify-ca against the certificate: the session is
    // encrypted (pg_stat_ssl is PostgreSQL's; \conninfo is psql's own view).
    let psql = |mode: &str, password: &str| {
        Command::new("psql")
            .args(["-X", "-At", "-h", "127.0.0.1", "-p"])
            .arg(s.port.to_string())
            .args([
                "-U",
                "ana",
                "-d",
                "olap",
                "-c",
                "SELECT 42",
                "-c",
                "\\conninfo",
            ])
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", mode)
            .env("PGSSLROOTCERT", &cert)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap()
    };
    let o = psql("verify-ca", "s3cret");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("42\n"), "{out}");
    assert!(out.contains("SSL connection (protocol: TLSv1."), "{out}");
    // A wrong password over TLS is still refused.
    assert!(!psql("verify-ca", "wrong").status.success());
    // psycopg over TLS, typed values as without it.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, psycopg\n\
             with psycopg.connect(sys.argv[1]) as c:\n\
             \x20   print(c.info.pgconn.ssl_in_use, c.execute('SELECT count(*) FROM dim_payment').fetchone()[0])\n",
        )
        .arg(format!(
            "host=127.0.0.1 port={} user=ana password=s3cret dbname=olap sslmode=verify-ca sslrootcert={} connect_timeout=10",
            s.port,
            cert.display()
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"True"), "{out}");
    assert!(
        words
            .get(1)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            > 0,
        "{out}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "serve"),
    ignore = "the server is the `serve` feature: cargo test --release --features serve (.ci/run does)"
)]
fn the_concurrency_study_runs_with_wire_clients() {
    let store = tempfile::tempdir().unwrap();
    let o = olap()
        .args(["benchmark", "partition_pruning", "--data-dir"])
        .arg(fixture())
        .args(["--rounds", "2", "--csv-rounds", "1", "--concurrency", "3"])
        .args(["--clients", "pgwire", "--format", "json", "--threads", "2"])
        .arg("--report-dir")
        .arg(store.path().join("report"))
        .env("OLAP_BENCH_STORE", store.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cases = v["result"]["studies"]["concurrency"]
        .as_array()
        .unwrap_or_else(|| panic!("no concurrency study: {}", stdout(&o)));
    assert_eq!(cases.len(), 2, "{cases:?}");
    for c in cases {
        assert_eq!(c["via"], "pgwire", "{c}");
        assert_eq!(c["clients"], 3, "{c}");
        // Two batches of three clients at least, each with a latency.
        assert!(c["concurrent"]["n"].as_u64().unwrap_or(0) >= 6, "{c}");
        assert!(c["concurrent_qps"].as_f64().unwrap_or(0.0) > 0.0, "{c}");
    }
}

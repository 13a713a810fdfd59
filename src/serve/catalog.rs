//! What the server answers itself, so the engine stays plain SQL: the
//! `SET`/`SHOW`/transaction statements clients send at connect, `SELECT
//! version()`, and the refusals of everything that is not a read. Also the
//! `pg_catalog` pieces DuckDB lacks that psql's `\d` and the JDBC driver's
//! metadata calls use, created once at start as macros.

use super::sql::{first_keyword, words};

/// What to do with one statement from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run it on DuckDB (a read).
    Run,
    /// Answer with this command tag and nothing else.
    Tag(&'static str),
    /// Answer with one text column `name` holding `value`.
    Show { name: String, value: String },
    /// Remember a session setting, then answer `SET`.
    Set { name: String, value: String },
    /// Refuse with this SQLSTATE and message.
    Refuse { code: &'static str, message: String },
    /// A catalog query over tables that hold no rows on olap (policies,
    /// triggers, rules, inheritance, publications, extended statistics):
    /// answered with no rows, as PostgreSQL would.
    NoRows,
}

/// `pg_catalog` tables with no rows on olap: a read-only data set of views
/// has no policies, triggers, rules, parents, publications or extended
/// statistics. DuckDB lacks most of them.
const EMPTY_CATALOGS: [&str; 10] = [
    "pg_policy",
    "pg_trigger",
    "pg_rewrite",
    "pg_inherits",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_statistic_ext",
    "pg_partitioned_table",
    "pg_event_trigger",
];

/// Whether `stmt` reads one of [`EMPTY_CATALOGS`] in an inner position
/// (after FROM, a comma or an inner JOIN; not the right side of a LEFT
/// JOIN), so that its answer has no rows.
fn reads_an_empty_catalog(stmt: &str) -> bool {
    let lower = stmt.to_ascii_lowercase();
    EMPTY_CATALOGS.iter().any(|t| {
        let name = format!("pg_catalog.{t}");
        lower.match_indices(&name).any(|(at, _)| {
            // The table's name ends here (pg_publication vs pg_publication_rel).
            let ends = lower[at + name.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let before = lower[..at].trim_end();
            // At the statement's top level: a subquery (SQLAlchemy LEFT
            // JOINs one over pg_inherits) leaves the answer's other rows.
            let depth = before.matches('(').count() as isize - before.matches(')').count() as isize;
            ends && depth == 0
                && (before.ends_with("from")
                    || before.ends_with(',')
                    || (before.ends_with("join") && !before.ends_with("left join")))
        })
    })
}

/// Session settings clients set at connect and read back, with their
/// defaults (what `SHOW` answers when the client set nothing).
pub const SESSION_SETTINGS: [(&str, &str); 14] = [
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("extra_float_digits", "1"),
    ("intervalstyle", "postgres"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
    ("lc_messages", "C"),
];

/// Statements that read: DuckDB runs them.
const READS: [&str; 9] = [
    "SELECT",
    "WITH",
    "VALUES",
    "TABLE",
    "FROM",
    "EXPLAIN",
    "DESCRIBE",
    "SUMMARIZE",
    "PIVOT",
];

/// What to do with `stmt` (one statement).
pub fn classify(stmt: &str) -> Action {
    let kw = first_keyword(stmt);
    let w = words(stmt);
    match kw.as_str() {
        k if READS.contains(&k) => {
            // EXPLAIN ANALYZE of a write is a write.
            if k == "EXPLAIN" {
                let next = w
                    .iter()
                    .skip(1)
                    .find(|x| !["ANALYZE", "ANALYSE", "VERBOSE"].contains(&x.as_str()));
                if next.is_some_and(|n| !READS.contains(&n.as_str())) {
                    return refuse_write(next.map(String::as_str).unwrap_or("EXPLAIN"));
                }
            }
            if reads_an_empty_catalog(stmt) {
                return Action::NoRows;
            }
            if is_version_call(&w) {
                // Clients (SQLAlchemy's dialect) read PostgreSQL's version
                // out of this text.
                return Action::Show {
                    name: "version".into(),
                    value: super::version_text(),
                };
            }
            Action::Run
        }
        "SHOW" => show(&w),
        "SET" | "RESET" => set(stmt, &w),
        "BEGIN" | "START" => Action::Tag("BEGIN"),
        "COMMIT" | "END" => Action::Tag("COMMIT"),
        // Savepoints (psycopg's nested `transaction()`, which SQLAlchemy
        // uses at connect): nothing is written, so nothing to undo; the
        // transaction goes on.
        "ROLLBACK" if w.get(1).is_some_and(|x| x == "TO") => Action::Tag("ROLLBACK TO"),
        "SAVEPOINT" => Action::Tag("SAVEPOINT"),
        "RELEASE" => Action::Tag("RELEASE"),
        "ROLLBACK" | "ABORT" => Action::Tag("ROLLBACK"),
        "DISCARD" => Action::Tag("DISCARD ALL"),
        "DEALLOCATE" => Action::Tag("DEALLOCATE"),
        "CLOSE" => Action::Tag("CLOSE CURSOR"),
        "" => Action::Tag("EMPTY"),
        other => refuse_write(other),
    }
}

fn is_version_call(w: &[String]) -> bool {
    matches!(
        w.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["SELECT", "VERSION"] | ["SELECT", "PG_CATALOG", "VERSION"]
    )
}

fn refuse_write(keyword: &str) -> Action {
    Action::Refuse {
        code: "25006",
        message: format!(
            "olap serve is read-only: {keyword} is refused (only queries run: SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW, SET of session settings)"
        ),
    }
}

/// `SHOW name` of a session setting, `SHOW TABLES`-style statements to
/// DuckDB, or an unknown setting refused.
fn show(w: &[String]) -> Action {
    let Some(name) = w.get(1).map(|n| n.to_ascii_lowercase()) else {
        return Action::Refuse {
            code: "42601",
            message: "SHOW needs a setting's name".into(),
        };
    };
    if ["tables", "databases", "all"].contains(&name.as_str()) {
        return Action::Run;
    }
    // PostgreSQL's multi-word spellings (SQLAlchemy asks the first at
    // connect).
    let rest: Vec<&str> = w.iter().skip(1).map(String::as_str).collect();
    let name = match rest.as_slice() {
        ["TRANSACTION", "ISOLATION", "LEVEL"] => "transaction_isolation".to_string(),
        ["TIME", "ZONE"] => "timezone".to_string(),
        _ => name,
    };
    match SESSION_SETTINGS.iter().find(|(n, _)| *n == name) {
        Some((n, v)) => Action::Show {
            name: n.to_string(),
            value: v.to_string(),
        },
        None if name == "server_version" => Action::Show {
            name,
            value: super::SERVER_VERSION.to_string(),
        },
        None => Action::Refuse {
            code: "42704",
            message: format!("unrecognized configuration parameter \"{name}\""),
        },
    }
}

/// `SET [SESSION|LOCAL] name = value` / `SET name TO value` of a session
/// setting; anything else (DuckDB's global settings: threads, memory,
/// external access) refused.
fn set(stmt: &str, w: &[String]) -> Action {
    let rest: Vec<&String> = w
        .iter()
        .skip(1)
        .filter(|x| !["SESSION", "LOCAL"].contains(&x.as_str()))
        .collect();
    let Some(name) = rest.first().map(|n| n.to_ascii_lowercase()) else {
        return Action::Tag("SET");
    };
    // SET TRANSACTION … / SET SESSION CHARACTERISTICS AS TRANSACTION …
    // (isolation, read only): every statement here reads one version of
    // the data set, read-only, whatever the client asks for.
    if name == "transaction" || name == "characteristics" {
        return Action::Tag("SET");
    }
    // SET TIME ZONE x, SET NAMES x.
    let name = match name.as_str() {
        "time" => "timezone".to_string(),
        "names" => "client_encoding".to_string(),
        _ => name,
    };
    if !SESSION_SETTINGS.iter().any(|(n, _)| *n == name) || name == "server_encoding" {
        return Action::Refuse {
            code: "55P02",
            message: format!(
                "olap serve does not change \"{name}\": the server's settings (threads, memory, file access) are fixed; session settings clients send at connect are accepted"
            ),
        };
    }
    if first_keyword(stmt) == "RESET" {
        return Action::Set {
            name,
            value: String::new(),
        };
    }
    // The value: what follows `=` or `TO`, unquoted.
    let lower = stmt.to_ascii_lowercase();
    let value = lower
        .find('=')
        .map(|i| &stmt[i + 1..])
        .or_else(|| lower.find(" to ").map(|i| &stmt[i + 4..]))
        .or_else(|| lower.find(" zone ").map(|i| &stmt[i + 6..]))
        .or_else(|| lower.find(" names ").map(|i| &stmt[i + 7..]))
        .unwrap_or("")
        .trim()
        .trim_end_matches(';')
        .trim()
        .trim_matches('\'')
        .to_string();
    Action::Set { name, value }
}

/// The pieces of `pg_catalog` DuckDB lacks, as macros in the server's
/// database (created before its configuration is locked).
pub const CATALOG_SHIMS: &str = "
CREATE OR REPLACE MACRO pg_get_userbyid(id) AS 'olap';
CREATE OR REPLACE MACRO pg_table_is_visible(id) AS true;
CREATE OR REPLACE MACRO pg_type_is_visible(id) AS true;
CREATE OR REPLACE MACRO pg_function_is_visible(id) AS true;
CREATE OR REPLACE MACRO obj_description(id, cat) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO col_description(id, col) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO shobj_description(id, cat) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO pg_encoding_to_char(id) AS 'UTF8';
CREATE TYPE regclass AS VARCHAR;
CREATE OR REPLACE MACRO pg_get_serial_sequence(t, c) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO pg_collation_is_visible(id) AS true;
CREATE OR REPLACE MACRO pg_get_indexdef(id) AS NULL::VARCHAR, (id, col, pretty) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO json_build_object(k1, v1) AS json_object(k1::VARCHAR, v1),
  (k1, v1, k2, v2) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2),
  (k1, v1, k2, v2, k3, v3) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3),
  (k1, v1, k2, v2, k3, v3, k4, v4) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3, k4::VARCHAR, v4),
  (k1, v1, k2, v2, k3, v3, k4, v4, k5, v5) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3, k4::VARCHAR, v4, k5::VARCHAR, v5),
  (k1, v1, k2, v2, k3, v3, k4, v4, k5, v5, k6, v6) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3, k4::VARCHAR, v4, k5::VARCHAR, v5, k6::VARCHAR, v6),
  (k1, v1, k2, v2, k3, v3, k4, v4, k5, v5, k6, v6, k7, v7) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3, k4::VARCHAR, v4, k5::VARCHAR, v5, k6::VARCHAR, v6, k7::VARCHAR, v7),
  (k1, v1, k2, v2, k3, v3, k4, v4, k5, v5, k6, v6, k7, v7, k8, v8) AS json_object(k1::VARCHAR, v1, k2::VARCHAR, v2, k3::VARCHAR, v3, k4::VARCHAR, v4, k5::VARCHAR, v5, k6::VARCHAR, v6, k7::VARCHAR, v7, k8::VARCHAR, v8);
CREATE OR REPLACE VIEW olap_pg_opclass AS
  SELECT 0::BIGINT AS oid, ''::VARCHAR AS opcname, true AS opcdefault, 0::BIGINT AS opcmethod WHERE false;
CREATE OR REPLACE VIEW olap_pg_index AS
  SELECT 0::BIGINT AS indexrelid, 0::BIGINT AS indrelid, []::INTEGER[] AS indkey, 0 AS indnkeyatts, 0 AS indnatts,
         false AS indnullsnotdistinct, false AS indisunique, false AS indisprimary, []::INTEGER[] AS indoption,
         []::BIGINT[] AS indclass, NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred, false AS indisclustered,
         true AS indisvalid WHERE false;
CREATE OR REPLACE VIEW olap_pg_collation AS SELECT *, 0::BIGINT AS collnamespace FROM pg_catalog.pg_collation;
CREATE OR REPLACE VIEW olap_pg_namespace AS SELECT * FROM pg_catalog.pg_namespace;
CREATE OR REPLACE VIEW olap_pg_sequence AS SELECT * FROM pg_catalog.pg_sequence;
CREATE OR REPLACE VIEW olap_pg_inherits AS
  SELECT 0::BIGINT AS inhrelid, 0::BIGINT AS inhparent, 0 AS inhseqno, false AS inhdetachpending WHERE false;
CREATE OR REPLACE MACRO pg_get_keywords() AS TABLE SELECT keyword_name AS word, 'U' AS catcode, keyword_category AS catdesc FROM duckdb_keywords();
CREATE OR REPLACE MACRO current_setting(name) AS CASE lower(name) WHEN 'server_version_num' THEN '150000' WHEN 'server_version' THEN '15.0' WHEN 'search_path' THEN 'public' ELSE '' END;
CREATE OR REPLACE MACRO olap_pg_get_expr(node, rel) AS NULL::VARCHAR, (node, rel, pretty) AS NULL::VARCHAR;
CREATE OR REPLACE MACRO olap_pg_oid(t) AS CASE t WHEN 10 THEN 16 WHEN 11 THEN 21 WHEN 12 THEN 21 WHEN 13 THEN 23 WHEN 14 THEN 20 WHEN 15 THEN 1082 WHEN 16 THEN 1083 WHEN 17 THEN 1114 WHEN 18 THEN 1114 WHEN 19 THEN 1114 WHEN 20 THEN 1114 WHEN 21 THEN 1700 WHEN 22 THEN 700 WHEN 23 THEN 701 WHEN 26 THEN 17 WHEN 27 THEN 1186 WHEN 28 THEN 21 WHEN 29 THEN 23 WHEN 30 THEN 20 WHEN 31 THEN 1700 WHEN 32 THEN 1184 WHEN 34 THEN 1266 WHEN 50 THEN 1700 WHEN 54 THEN 2950 ELSE 25 END;
CREATE OR REPLACE MACRO olap_format_type(oid, typmod) AS CASE oid WHEN 16 THEN 'boolean' WHEN 21 THEN 'smallint' WHEN 23 THEN 'integer' WHEN 20 THEN 'bigint' WHEN 700 THEN 'real' WHEN 701 THEN 'double precision' WHEN 1700 THEN CASE WHEN typmod >= 4 THEN 'numeric(' || ((typmod - 4) >> 16) || ',' || ((typmod - 4) & 65535) || ')' ELSE 'numeric' END WHEN 25 THEN 'text' WHEN 1043 THEN 'character varying' WHEN 1082 THEN 'date' WHEN 1083 THEN 'time without time zone' WHEN 1114 THEN 'timestamp without time zone' WHEN 1184 THEN 'timestamp with time zone' WHEN 1186 THEN 'interval' WHEN 1266 THEN 'time with time zone' WHEN 17 THEN 'bytea' WHEN 2950 THEN 'uuid' ELSE NULL END;
CREATE OR REPLACE VIEW olap_pg_attribute AS
  SELECT * REPLACE (olap_pg_oid(atttypid) AS atttypid,
                    CASE WHEN atttypid = 21 THEN (((atttypmod // 1000) << 16) | (atttypmod % 1000)) + 4 ELSE -1 END AS atttypmod)
  FROM pg_catalog.pg_attribute;
CREATE OR REPLACE VIEW olap_pg_type AS
  SELECT * REPLACE (',' AS typdelim, 0::BIGINT AS typrelid, 0::BIGINT AS typelem, 0::BIGINT AS typarray,
                    false AS typnotnull, 0::BIGINT AS typbasetype, -1 AS typtypmod, 0 AS typndims,
                    0::BIGINT AS typcollation, NULL::VARCHAR AS typdefault)
  FROM (SELECT * FROM pg_catalog.pg_type WHERE oid IS NOT NULL
        UNION ALL
        SELECT * REPLACE (25::BIGINT AS oid, 'text' AS typname) FROM pg_catalog.pg_type
          WHERE typname = 'varchar' AND oid IS NOT NULL);
CREATE OR REPLACE MACRO to_regtype(name) AS (SELECT min(oid) FROM olap_pg_type WHERE typname = name);
CREATE OR REPLACE VIEW olap_pg_class AS
  SELECT * REPLACE (CASE WHEN relkind = 'v' AND relname IN ('sales_fact', 'dim_time', 'dim_geography', 'dim_product', 'dim_customer', 'dim_payment') THEN 'r' ELSE relkind END AS relkind),
         false AS relforcerowsecurity
  FROM pg_catalog.pg_class
  WHERE relnamespace IN (SELECT oid FROM pg_catalog.pg_namespace)
    AND NOT starts_with(relname, 'olap_pg_');
";

/// Functions of [`CATALOG_SHIMS`] clients call as `pg_catalog.<name>`.
const SHIMMED: [&str; 14] = [
    "pg_get_userbyid",
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_encoding_to_char",
    "current_setting",
    "to_regtype",
    "pg_get_serial_sequence",
    "pg_collation_is_visible",
    "json_build_object",
    "pg_get_indexdef",
];

/// A client's catalog query in the SQL DuckDB takes: PostgreSQL's
/// `OPERATOR(pg_catalog.~)` and `COLLATE pg_catalog.default`, the shims in
/// place of `pg_catalog.` functions DuckDB lacks, and `pg_class` with
/// olap's tables as tables (DuckDB has them as views).
pub fn catalog_sql(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("pg_catalog") && !lower.contains("regtype") {
        return sql.to_string();
    }
    let mut s = sql.to_string();
    for (from, to) in [
        ("OPERATOR(pg_catalog.~)", "~"),
        ("OPERATOR(pg_catalog.!~)", "!~"),
        ("OPERATOR(pg_catalog.~~)", "~~"),
        ("OPERATOR(pg_catalog.=)", "="),
        (" COLLATE pg_catalog.default", ""),
        ("pg_catalog.pg_get_expr(", "olap_pg_get_expr("),
        ("pg_catalog.format_type(", "olap_format_type("),
        ("::pg_catalog.regtype::pg_catalog.text", "::VARCHAR"),
        // psycopg's type lookup (SQLAlchemy asks for hstore at connect).
        ("oid::regtype::text", "olap_format_type(oid, -1)"),
        // PostgreSQL's own OIDs of the catalogs the JDBC driver names
        // (DuckDB has no regclass; pg_description and pg_depend are empty).
        ("'pg_class'::regclass::oid", "1259"),
        ("'pg_constraint'::regclass::oid", "2606"),
        ("'pg_class'::regclass", "1259"),
        ("::pg_catalog.text", "::VARCHAR"),
    ] {
        s = s.replace(from, to);
    }
    for f in SHIMMED {
        s = s.replace(&format!("pg_catalog.{f}("), &format!("{f}("));
    }
    // DuckDB's pg_class has olap's tables as views, its pg_attribute has
    // DuckDB's type ids where pg_type has PostgreSQL's OIDs: olap's views
    // answer as PostgreSQL does.
    for (table, view) in [
        ("pg_catalog.pg_class", "olap_pg_class"),
        ("pg_catalog.pg_attribute", "olap_pg_attribute"),
        ("pg_catalog.pg_type", "olap_pg_type"),
        // SQLAlchemy's reflection: catalogs DuckDB lacks or has without
        // columns it reads (empty: olap's tables have no indexes), and
        // names a macro's arguments may carry (DuckDB does not bind
        // `pg_catalog.t.column` there).
        ("pg_catalog.pg_opclass", "olap_pg_opclass"),
        ("pg_catalog.pg_index", "olap_pg_index"),
        ("pg_catalog.pg_collation", "olap_pg_collation"),
        ("pg_catalog.pg_namespace", "olap_pg_namespace"),
        ("pg_catalog.pg_sequence", "olap_pg_sequence"),
        ("pg_catalog.pg_inherits", "olap_pg_inherits"),
    ] {
        s = replace_name(&s, table, view);
    }
    s
}

/// `s` with the name `from` (not a longer name it begins) replaced by `to`.
fn replace_name(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_tables_are_replaced_by_name_not_by_prefix() {
        assert_eq!(
            catalog_sql(
                "SELECT 1 FROM pg_catalog.pg_type t WHERE pg_catalog.pg_type_is_visible(t.oid)"
            ),
            "SELECT 1 FROM olap_pg_type t WHERE pg_type_is_visible(t.oid)"
        );
        assert_eq!(
            catalog_sql(
                "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a"
            ),
            "SELECT olap_format_type(a.atttypid, a.atttypmod) FROM olap_pg_attribute a"
        );
    }

    #[test]
    fn reads_run_session_settings_are_answered_and_the_rest_is_refused() {
        assert_eq!(classify("SELECT 1"), Action::Run);
        assert_eq!(
            classify("  with q as (select 1) select * from q"),
            Action::Run
        );
        assert_eq!(classify("EXPLAIN SELECT 1"), Action::Run);
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            Action::Set {
                name: "extra_float_digits".into(),
                value: "3".into()
            }
        );
        assert_eq!(
            classify("SET application_name TO 'psql'"),
            Action::Set {
                name: "application_name".into(),
                value: "psql".into()
            }
        );
        assert!(matches!(classify("SHOW DateStyle"), Action::Show { .. }));
        // pg_inherits read in a LEFT-joined subquery (SQLAlchemy's
        // reflection): the other rows remain, so DuckDB answers it.
        assert_eq!(
            classify(
                "SELECT c.relname FROM pg_catalog.pg_class c LEFT OUTER JOIN (SELECT inhrelid FROM pg_catalog.pg_inherits JOIN pg_catalog.pg_class p ON true) AS i ON c.oid = i.inhrelid"
            ),
            Action::Run
        );
        assert_eq!(
            classify(
                "SELECT c.oid FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i WHERE c.oid = i.inhparent"
            ),
            Action::NoRows
        );
        assert_eq!(classify("SAVEPOINT \"_pg3_1\""), Action::Tag("SAVEPOINT"));
        assert_eq!(classify("RELEASE \"_pg3_1\""), Action::Tag("RELEASE"));
        assert_eq!(
            classify("ROLLBACK TO SAVEPOINT \"_pg3_1\""),
            Action::Tag("ROLLBACK TO")
        );
        assert_eq!(classify("ROLLBACK"), Action::Tag("ROLLBACK"));
        assert_eq!(
            classify("show transaction isolation level"),
            Action::Show {
                name: "transaction_isolation".into(),
                value: "read committed".into()
            }
        );
        assert_eq!(
            classify("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
            Action::Tag("SET")
        );
        assert!(matches!(
            classify("SHOW TIME ZONE"),
            Action::Show { name, .. } if name == "timezone"
        ));
        assert_eq!(classify("DISCARD ALL"), Action::Tag("DISCARD ALL"));
        assert_eq!(
            classify("SELECT pol.polname FROM pg_catalog.pg_policy pol WHERE pol.polrelid = '1'"),
            Action::NoRows
        );
        assert_eq!(
            classify(
                "SELECT c.oid FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i WHERE c.oid = i.inhparent"
            ),
            Action::NoRows
        );
        // The right side of a LEFT JOIN keeps the left side's rows.
        assert_eq!(
            classify(
                "SELECT c.oid FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_inherits i ON c.oid = i.inhrelid"
            ),
            Action::Run
        );
        for refused in [
            "COPY sales_fact TO '/tmp/x.csv'",
            "ATTACH '/tmp/x.db'",
            "INSTALL httpfs",
            "LOAD httpfs",
            "CREATE TABLE t AS SELECT 1",
            "DROP VIEW sales_fact",
            "INSERT INTO t VALUES (1)",
            "PRAGMA enable_profiling",
            "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
        ] {
            assert!(
                matches!(classify(refused), Action::Refuse { code: "25006", .. }),
                "{refused}: {:?}",
                classify(refused)
            );
        }
        for global in [
            "SET threads = 1",
            "SET memory_limit = '1GB'",
            "SET enable_external_access = true",
            "SET GLOBAL threads = 8",
        ] {
            assert!(
                matches!(classify(global), Action::Refuse { code: "55P02", .. }),
                "{global}"
            );
        }
    }
}

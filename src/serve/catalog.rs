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
            ends && (before.ends_with("from")
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
CREATE OR REPLACE MACRO pg_get_keywords() AS TABLE SELECT keyword_name AS word, 'U' AS catcode, keyword_category AS catdesc FROM duckdb_keywords();
CREATE OR REPLACE MACRO current_setting(name) AS CASE lower(name) WHEN 'server_version_num' THEN '160006' WHEN 'server_version' THEN '16.6' WHEN 'search_path' THEN 'public' ELSE '' END;
CREATE OR REPLACE MACRO olap_pg_get_expr(node, rel) AS NULL::VARCHAR, (node, rel, pretty) AS NULL::VARCHAR;
CREATE OR REPLACE VIEW olap_pg_class AS
  SELECT * REPLACE (CASE WHEN relkind = 'v' AND relname IN ('sales_fact', 'dim_time', 'dim_geography', 'dim_product', 'dim_customer', 'dim_payment') THEN 'r' ELSE relkind END AS relkind),
         false AS relforcerowsecurity
  FROM pg_catalog.pg_class
  WHERE relnamespace IN (SELECT oid FROM pg_catalog.pg_namespace)
    AND NOT starts_with(relname, 'olap_pg_');
";

/// Functions of [`CATALOG_SHIMS`] clients call as `pg_catalog.<name>`.
const SHIMMED: [&str; 9] = [
    "pg_get_userbyid",
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_encoding_to_char",
    "current_setting",
];

/// A client's catalog query in the SQL DuckDB takes: PostgreSQL's
/// `OPERATOR(pg_catalog.~)` and `COLLATE pg_catalog.default`, the shims in
/// place of `pg_catalog.` functions DuckDB lacks, and `pg_class` with
/// olap's tables as tables (DuckDB has them as views).
pub fn catalog_sql(sql: &str) -> String {
    if !sql.to_ascii_lowercase().contains("pg_catalog") {
        return sql.to_string();
    }
    let mut s = sql.to_string();
    for (from, to) in [
        ("OPERATOR(pg_catalog.~)", "~"),
        ("OPERATOR(pg_catalog.!~)", "!~"),
        ("OPERATOR(pg_catalog.~~)", "~~"),
        ("OPERATOR(pg_catalog.=)", "="),
        (" COLLATE pg_catalog.default", ""),
        ("pg_catalog.pg_class", "olap_pg_class"),
        ("pg_catalog.pg_get_expr(", "olap_pg_get_expr("),
        ("::pg_catalog.regtype::pg_catalog.text", "::VARCHAR"),
        ("::pg_catalog.text", "::VARCHAR"),
    ] {
        s = s.replace(from, to);
    }
    for f in SHIMMED {
        s = s.replace(&format!("pg_catalog.{f}("), &format!("{f}("));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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

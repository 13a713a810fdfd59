//! The data set and the catalog as a SQL script for another engine: the
//! layout is the interface to distributed engines, and this is how they get
//! it. `olap export --dialect spark` prints external tables over the files
//! (partition columns declared), the views olap itself queries, and every
//! catalog query translated to Spark SQL; scripts/check_with_spark.py runs it.

use std::fmt::Write as _;

use anyhow::Result;
use arrow::datatypes::DataType;

use crate::model::{PartitionKey, Table};
use crate::query::catalog::{self, Params, Suite};
use crate::storage::dataset::{DataSet, check_queryable_path};
use crate::storage::manifest::Manifest;

/// SQL dialects olap can export to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Spark,
    DuckDb,
}

impl Dialect {
    pub const NAMES: [&'static str; 2] = ["spark", "duckdb"];
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "spark" => Some(Dialect::Spark),
            "duckdb" => Some(Dialect::DuckDb),
            _ => None,
        }
    }
}

/// Marks each query in the script: `-- query: <id> | <variant>`.
pub const QUERY_MARK: &str = "-- query: ";

/// Spark's name for a column type of our schemas: DuckDB's, two renamed.
fn spark_type(dt: &DataType) -> String {
    match crate::model::sql_type(dt).as_str() {
        "INTEGER" => "INT".into(),
        "VARCHAR" => "STRING".into(),
        other => other.into(),
    }
}

/// Translates DuckDB-only syntax in `sql` to Spark SQL: `x::T` casts,
/// `strftime(d, '%Y-%m')` (to `date_format` with Java patterns), DuckDB's
/// `dayofweek` (0 = Sunday; Spark's is 1 = Sunday), `isodow`, and
/// `VARCHAR`. The catalog uses only what both engines share otherwise
/// (`make_date`, `last_day`, `ROLLUP`, named windows, `USING` joins).
pub fn to_spark(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // `expr::TYPE` with expr a word or a parenthesised group just written.
        if chars[i] == ':' && chars.get(i + 1) == Some(&':') {
            let ty: String = chars[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let start = operand_start(&out);
            let operand = out[start..].to_string();
            out.truncate(start);
            let spark_ty = if ty.eq_ignore_ascii_case("varchar") {
                "STRING".to_string()
            } else {
                ty.to_ascii_uppercase()
            };
            let _ = write!(out, "CAST({operand} AS {spark_ty})");
            i += 2 + ty.chars().count();
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    let s = rewrite_calls(&out, "strftime", |args| {
        let mut fmt = args.to_string();
        for (from, to) in [
            ("%Y", "yyyy"),
            ("%m", "MM"),
            ("%d", "dd"),
            ("%H", "HH"),
            ("%M", "mm"),
        ] {
            fmt = fmt.replace(from, to);
        }
        format!("date_format({fmt})")
    });
    // DuckDB's dayofweek first: the isodow rewrite uses Spark's.
    let s = rewrite_calls(&s, "dayofweek", |x| format!("(dayofweek({x}) - 1)"));
    let s = rewrite_calls(&s, "isodow", |x| format!("((dayofweek({x}) + 5) % 7 + 1)"));
    s.replace(" VARCHAR", " STRING")
}

/// Replaces each call `name(args)` in `sql` (balanced parentheses, a whole
/// word) by `f(args)`; the replacement is not rescanned.
fn rewrite_calls(sql: &str, name: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let open = format!("{name}(");
    while let Some(at) = rest.find(&open) {
        let word_start = at == 0
            || !rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        let after = &rest[at + open.len()..];
        let mut depth = 1;
        let end = after.char_indices().find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        });
        match (word_start, end) {
            (true, Some(end)) => {
                out.push_str(&f(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&open);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the operand of a `::` cast that ends `s` starts.
fn operand_start(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = b.len();
    if i > 0 && b[i - 1] == b')' {
        let mut depth = 0;
        while i > 0 {
            i -= 1;
            match b[i] {
                b')' => depth += 1,
                b'(' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        // A function call: include its name.
        while i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            i -= 1;
        }
        return i;
    }
    while i > 0 && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'.' | b'\'')) {
        i -= 1;
    }
    i
}

/// `s` as a Spark SQL string literal (backslash escapes; DuckDB's
/// literals double the quote instead: `query::sql::quote`).
fn spark_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The script: tables over the files under `base` (a directory or URL that
/// holds `parquet/`), the views the catalog queries, then each query.
pub fn script(manifest: &Manifest, base: &str, dialect: Dialect, suite: Suite) -> Result<String> {
    let mut out = String::new();
    let base = base.trim_end_matches('/');
    let _ = writeln!(
        out,
        "-- olap {}: seed {}, {} fact rows, partitioned by {}.\n-- Generated by `olap export --dialect {}`; run the statements in order.\n",
        env!("CARGO_PKG_VERSION"),
        manifest.spec.seed,
        manifest.spec.rows,
        if manifest.storage.partition_by.is_empty() {
            "nothing".to_string()
        } else {
            manifest.storage.partition_names().join(",")
        },
        match dialect {
            Dialect::Spark => "spark",
            Dialect::DuckDb => "duckdb",
        }
    );
    let keys = &manifest.storage.partition_by;
    for t in Table::ALL {
        let location = format!("{base}/parquet/{}", t.name());
        let schema = t.schema();
        match dialect {
            Dialect::Spark => {
                let mut cols: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| format!("  {} {}", f.name(), spark_type(f.data_type())))
                    .collect();
                let files = if t.is_fact() {
                    format!("{}_files", t.name())
                } else {
                    t.name().to_string()
                };
                if t.is_fact() {
                    cols.extend(keys.iter().map(|k| format!("  {} INT", k.name())));
                }
                let _ = writeln!(
                    out,
                    "CREATE TABLE {files} (\n{}\n) USING parquet{}\nLOCATION {};\n",
                    cols.join(",\n"),
                    if t.is_fact() && !keys.is_empty() {
                        format!(
                            "\nPARTITIONED BY ({})",
                            keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                        )
                    } else {
                        String::new()
                    },
                    spark_quote(&location)
                );
                if t.is_fact() {
                    if !keys.is_empty() {
                        let _ = writeln!(out, "ALTER TABLE {files} RECOVER PARTITIONS;\n");
                    }
                    // Every query may use year, quarter and month, as in olap.
                    let mut select = vec!["*".to_string()];
                    for k in PartitionKey::ALL {
                        if !keys.contains(&k) {
                            select.push(format!("CAST({}(date) AS INT) AS {}", k.name(), k.name()));
                        }
                    }
                    let _ = writeln!(
                        out,
                        "CREATE OR REPLACE TEMPORARY VIEW {} AS SELECT {} FROM {files};\n",
                        t.name(),
                        select.join(", ")
                    );
                }
            }
            Dialect::DuckDb => {
                let mut select = vec!["*".to_string()];
                if t.is_fact() {
                    for k in PartitionKey::ALL {
                        if !keys.contains(&k) {
                            select.push(format!(
                                "CAST({}(date) AS INTEGER) AS {}",
                                k.name(),
                                k.name()
                            ));
                        }
                    }
                }
                let glob = if t.is_fact() {
                    "/**/*.parquet"
                } else {
                    "/*.parquet"
                };
                let _ = writeln!(
                    out,
                    "CREATE OR REPLACE VIEW {} AS SELECT {} FROM read_parquet({}{});\n",
                    t.name(),
                    select.join(", "),
                    crate::query::sql::quote(&format!("{location}{glob}")),
                    if t.is_fact() && !keys.is_empty() {
                        ", hive_partitioning = true"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    for q in suite.specs() {
        for (vi, v) in q.variants.iter().enumerate() {
            let sql = catalog::render(q, vi, &Params::default());
            let sql = match dialect {
                Dialect::Spark => to_spark(&sql),
                Dialect::DuckDb => sql,
            };
            let _ = writeln!(
                out,
                "{QUERY_MARK}{} | {}\n{};\n",
                q.id,
                v.name,
                sql.trim_end()
            );
        }
    }
    Ok(out)
}

/// The script for a data set in object storage (`s3://…`), which Spark
/// reads as `s3a://`.
pub fn export_remote(url: &str, dialect: Dialect, suite: Suite) -> Result<String> {
    let remote = crate::storage::remote::Remote::open(url)?;
    let Some(m) = remote.manifest()? else {
        crate::bail_user!("no data set at {url}: no manifest.json");
    };
    let root = m.root.clone().unwrap_or_default();
    let base = format!("{}/{}", remote.url, root.trim_end_matches('/'));
    let base = match dialect {
        Dialect::Spark => base.replacen("s3://", "s3a://", 1),
        Dialect::DuckDb => base,
    };
    script(&m, &base, dialect, suite)
}

/// The script for the opened data set `ds`.
pub fn export(ds: &DataSet, dialect: Dialect, suite: Suite) -> Result<String> {
    let abs = std::path::absolute(ds.dir())?;
    let base = check_queryable_path(&abs)?.to_string();
    script(ds.manifest(), &base, dialect, suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_only_syntax_is_translated() {
        assert_eq!(
            to_spark("SELECT x::VARCHAR FROM t"),
            "SELECT CAST(x AS STRING) FROM t"
        );
        assert_eq!(
            to_spark("SELECT (a + b)::DOUBLE, sum(c)::BIGINT"),
            "SELECT CAST((a + b) AS DOUBLE), CAST(sum(c) AS BIGINT)"
        );
        assert_eq!(
            to_spark("strftime(date, '%Y-%m')"),
            "date_format(date, 'yyyy-MM')"
        );
        assert_eq!(to_spark("dayofweek(date)"), "(dayofweek(date) - 1)");
        assert_eq!(spark_quote("/d/it's"), r"'/d/it\'s'");
        assert_eq!(
            to_spark("isodow(d) = 7 AND my_dayofweek(d)"),
            "((dayofweek(d) + 5) % 7 + 1) = 7 AND my_dayofweek(d)"
        );
        // The catalog needs no translation beyond this: it is Spark SQL as is.
        for q in Suite::Catalog.specs() {
            for vi in 0..q.variants.len() {
                let sql = catalog::render(q, vi, &Params::default());
                assert!(!sql.contains("::"), "{}: {sql}", q.id);
            }
        }
    }
}

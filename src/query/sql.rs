//! The two things every part of `query` does with DuckDB text: quote a
//! string as a SQL literal, and run SQL to Arrow batches. Kept apart so the
//! rewriter and the engine share them without importing each other.

use anyhow::Result;
use arrow::array::RecordBatch;
use duckdb::Connection;

/// `s` as a DuckDB string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs `sql` on `conn` and collects the result as Arrow batches.
pub fn query(conn: &Connection, sql: &str) -> Result<Vec<RecordBatch>> {
    let mut stmt = conn.prepare(sql)?;
    Ok(stmt.query_arrow([])?.collect())
}

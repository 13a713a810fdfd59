//! Streaming a query's result: batches go to a sink as DuckDB produces
//! them, so a `SELECT *` over the whole fact table shows its first rows at
//! once and never holds the result in memory.

use std::time::Instant;

use anyhow::Result;
use arrow::array::RecordBatch;
use duckdb::Connection;
use serde::Serialize;

/// What a streamed execution measured.
#[derive(Debug, Clone, Serialize)]
pub struct Streamed {
    /// Rows passed to the sink.
    pub rows: u64,
    /// Milliseconds to the first batch (None for an empty result).
    pub first_rows_ms: Option<f64>,
    /// Milliseconds to the last batch fetched.
    pub total_ms: f64,
    /// The whole result was read (false when the sink stopped early).
    pub complete: bool,
    /// What olap changed in the SQL and the SQL that ran, when it did (see
    /// `query::rewrite`).
    pub rewrite: Option<(String, String)>,
}

/// Runs `sql` and hands each batch to `sink` until the result ends or the
/// sink returns `false` (the rest is not computed).
pub fn stream(
    conn: &Connection,
    sql: &str,
    sink: &mut dyn FnMut(&RecordBatch) -> Result<bool>,
) -> Result<Streamed> {
    let started = Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    let mut stmt = conn.prepare(sql)?;
    let mut out = Streamed {
        rows: 0,
        first_rows_ms: None,
        total_ms: 0.0,
        complete: true,
        rewrite: None,
    };
    for batch in stmt.stream_arrow([])? {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        out.first_rows_ms.get_or_insert_with(ms);
        out.rows += batch.num_rows() as u64;
        if !sink(&batch)? {
            out.complete = false;
            break;
        }
    }
    out.total_ms = ms();
    Ok(out)
}

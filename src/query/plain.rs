//! The plain engine: the same DuckDB with none of olap's machinery (no
//! rewrite, no choice of fact view, no per-partition scans), the floor olap
//! is held to: the fuzzer judges olap against it and `olap benchmark
//! --against-plain` times it beside olap, round by round.

use anyhow::Result;
use duckdb::Connection;

use super::sql::quote;
use crate::storage::dataset::DataSet;

/// The plain engine: views over the data set's files as DuckDB reads any
/// Hive-partitioned Parquet directory (a glob with Hive partitioning), with
/// the partition columns the layout lacks derived from `date` as olap's
/// view does, so both have the same columns.
pub fn connection(ds: &DataSet, threads: usize) -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    // Without the one optimizer DuckDB 2.0 gets wrong over a Hive scan
    // (see `engine::HIVE_SAFE_OPTIMIZERS`): a plain engine that answers
    // wrongly would fail olap for being right.
    conn.execute_batch(&format!(
        "SET threads = {threads}; {}",
        super::engine::HIVE_SAFE_OPTIMIZERS
    ))?;
    let root = ds.dir().join("parquet");
    let root = std::path::absolute(&root).unwrap_or(root);
    let root = root.to_string_lossy();
    for t in crate::model::Table::ALL {
        if t.is_fact() {
            continue;
        }
        let n = t.name();
        conn.execute_batch(&format!(
            "CREATE VIEW {n} AS SELECT * FROM read_parquet({})",
            quote(&format!("{root}/{n}/*.parquet")),
        ))?;
    }
    let keys = &ds.manifest().storage.partition_by;
    let scan = if keys.is_empty() {
        format!(
            "read_parquet({})",
            quote(&format!("{root}/sales_fact/*.parquet"))
        )
    } else {
        let types: Vec<String> = keys
            .iter()
            .map(|k| format!("'{}': INTEGER", k.name()))
            .collect();
        format!(
            "read_parquet({}, hive_partitioning = true, hive_types = {{{}}})",
            quote(&format!("{root}/sales_fact/**/*.parquet")),
            types.join(", ")
        )
    };
    // The Hive columns come last in DuckDB's scan; olap's view lists the
    // partition keys in the order year, quarter, month after the fact's
    // own columns: the same order here, so `SELECT *` agrees too.
    let own: Vec<String> = crate::model::Table::SalesFact
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let keys_sql: String = crate::model::PartitionKey::ALL
        .iter()
        .map(|k| {
            if keys.contains(k) {
                format!(", {}", k.name())
            } else {
                format!(", CAST({n}(date) AS INTEGER) AS {n}", n = k.name())
            }
        })
        .collect();
    conn.execute_batch(&format!(
        "CREATE VIEW sales_fact AS SELECT {}{keys_sql} FROM {scan}",
        own.join(", ")
    ))?;
    Ok(conn)
}

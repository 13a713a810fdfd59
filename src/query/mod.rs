//! Querying a data set with embedded DuckDB: the engine (connections, views
//! over Parquet or CSV, native tables), the query catalog, the EXPLAIN
//! ANALYZE profiler and the concurrent executor.

pub mod analyze;
pub mod catalog;
pub mod engine;
pub mod execute;
pub mod explain;
pub mod invariants;
pub mod key_ranges;
pub mod log;
pub mod plain;
pub mod profile;
pub mod results;
pub mod rewrite;
pub mod run;
pub mod sql;
pub mod stream;

//! olap: a retail star-schema generator and an OLAP demonstration on DuckDB.
//!
//! The pipeline, one module each: `datagen` (seeded generators yielding Arrow
//! batches) -> `storage` (Parquet/CSV, Hive layout, manifest) -> `query`
//! (DuckDB engine, query catalog, profiler) -> `bench` (statistics, SLAs,
//! baselines, studies, reports). `cli` turns flags into typed configs.

pub mod bench;
pub mod cli;
pub mod datagen;
pub mod error;
pub mod model;
pub mod query;
pub mod storage;
pub mod util;

//! olap: a retail star-schema generator and an OLAP demonstration on DuckDB.
//!
//! The layers, each using only those before it: `model` (schemas, the
//! generation spec, the generator/writer seam) -> `datagen` (seeded
//! generators yielding Arrow batches) -> `storage` (Parquet/CSV, Hive layout,
//! manifest, publish) -> `pipeline` (a whole generation) -> `query` (DuckDB
//! engine, catalog, profiler, analyze) -> `bench` (rounds, statistics,
//! baselines, studies) and `validate` -> `report` (tables, Markdown, JSON)
//! -> `demo`. `targets` holds every target; `cli` turns flags into configs
//! and calls one of these. docs/architecture.md has the module map.

/// How this binary's DuckDB was compiled: the C++ compiler and what beyond
/// `-O3` it did (`gcc-12.2.0`, `clang-22.1.0+thinlto`, `…+pgo`), named by
/// build.rs from the compiler and flags the `cc` crate used. Benchmark
/// results record it: a baseline from another build times other machine
/// code.
pub const BUILD: &str = env!("OLAP_BUILD");

/// `olap --version`: the version and the build.
pub fn version() -> &'static str {
    static V: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{} ({BUILD} build)", env!("CARGO_PKG_VERSION")));
    &V
}

pub mod bench;
pub mod cli;
pub mod datagen;
pub mod demo;
pub mod error;
pub mod export;
pub mod fault;
pub mod fuzz;
pub mod model;
pub mod pipeline;
pub mod query;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod storage;
pub mod targets;
pub mod util;
pub mod validate;

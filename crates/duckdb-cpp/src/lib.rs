//! DuckDB's C++, compiled by this crate's build script (build.rs) and
//! linked into every binary that depends on it. No Rust items: the `duckdb`
//! crate's bindings (through `libduckdb-sys`, without its `bundled`
//! feature) call the functions this library defines.

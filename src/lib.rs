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

/// The `-march` DuckDB's C++ was compiled with (`x86-64-v3` by default,
/// .cargo/config.toml; empty: the compiler's default, baseline x86-64).
pub const CXX_MARCH: &str = env!("OLAP_CXX_MARCH");

/// Whether this CPU runs the instructions [`CXX_MARCH`] lets the compiler
/// use. `Err` names what is missing: DuckDB compiled for x86-64-v3 would
/// otherwise die of an illegal instruction in the middle of a query.
pub fn cpu_supports_build() -> Result<(), String> {
    // `OLAP_FAULT_CPU=<feature,...>`: a CPU without these (src/fault.rs).
    let lacking = std::env::var("OLAP_FAULT_CPU").unwrap_or_default();
    let lacks = |f: &str| lacking.split(',').any(|l| l.trim() == f);
    cpu_supports(CXX_MARCH, |f| !lacks(f) && cpu_has(f))
}

/// [`cpu_supports_build`] for any `-march` level and CPU (`has` answers
/// for one feature, as `is_x86_feature_detected!` names it).
pub fn cpu_supports(march: &str, has: impl Fn(&str) -> bool) -> Result<(), String> {
    let needs: &[&str] = match march {
        "x86-64-v2" => &["sse4.2", "popcnt"],
        "x86-64-v3" => &["avx2", "bmi1", "bmi2", "fma", "lzcnt", "movbe", "f16c"],
        "x86-64-v4" => &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
        _ => &[],
    };
    let missing: Vec<&str> = needs.iter().copied().filter(|f| !has(f)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "this olap's DuckDB was compiled for {march}, but this CPU lacks {}; \
             rebuild it for this CPU: CXXFLAGS=\"--param ggc-min-heapsize=1048576\" cargo build --release",
            missing.join(", ")
        ))
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_has(feature: &str) -> bool {
    match feature {
        "sse4.2" => std::arch::is_x86_feature_detected!("sse4.2"),
        "popcnt" => std::arch::is_x86_feature_detected!("popcnt"),
        "avx2" => std::arch::is_x86_feature_detected!("avx2"),
        "bmi1" => std::arch::is_x86_feature_detected!("bmi1"),
        "bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
        "fma" => std::arch::is_x86_feature_detected!("fma"),
        "lzcnt" => std::arch::is_x86_feature_detected!("lzcnt"),
        "movbe" => std::arch::is_x86_feature_detected!("movbe"),
        "f16c" => std::arch::is_x86_feature_detected!("f16c"),
        "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
        "avx512cd" => std::arch::is_x86_feature_detected!("avx512cd"),
        "avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
        "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
        _ => true,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has(_feature: &str) -> bool {
    true
}

/// `olap --version`: the version and the build.
pub fn version() -> &'static str {
    static V: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{} ({BUILD} build)", env!("CARGO_PKG_VERSION")));
    &V
}

// DuckDB's C++ library (crates/duckdb-cpp): linked, no Rust items.
use olap_duckdb_cpp as _;

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

#[cfg(test)]
mod tests {
    use super::cpu_supports;

    #[test]
    fn a_cpu_without_avx2_is_refused_by_an_x86_64_v3_build_and_told_how_to_rebuild() {
        let old_cpu = |f: &str| !matches!(f, "avx2" | "fma");
        let err = cpu_supports("x86-64-v3", old_cpu).unwrap_err();
        assert!(err.contains("lacks avx2, fma"), "{err}");
        assert!(err.contains("cargo build --release"), "{err}");
        assert!(cpu_supports("", old_cpu).is_ok());
        assert!(cpu_supports("native", old_cpu).is_ok());
        assert!(cpu_supports("x86-64-v3", |_| true).is_ok());
    }
}

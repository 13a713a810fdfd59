//! Names the build: which C++ compiler built DuckDB (the sources bundled
//! in `libduckdb-sys`, compiled by crates/duckdb-cpp in the same `cargo` run)
//! and with which optimisation beyond `-O3` (ThinLTO, PGO, `-march`). `olap --version`
//! prints it and benchmark results record it, so a baseline from another
//! build (other machine code) is not compared by mistake.
//!
//! The compiler and flags are found as the `cc` crate finds them: the
//! target-specific variable first, then `TARGET_`, then the plain one
//! (`CXX`, `CXXFLAGS`), else the system's `c++`.

use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let cxx = env_for(&target, "CXX");
    let flags = env_for(&target, "CXXFLAGS").unwrap_or_default();
    let compiler = cxx.unwrap_or_else(|| "c++".to_string());
    // `CXX` may carry arguments (`ccache g++`, `clang++ -m64`): the program
    // is the word that names a compiler, else the first.
    let words: Vec<&str> = compiler.split_whitespace().collect();
    let program = words
        .iter()
        .find(|w| w.contains("++") || w.contains("clang") || w.contains("gcc"))
        .or(words.first())
        .copied()
        .unwrap_or("c++");
    let version = Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let mut name = version
        .as_deref()
        .map(compiler_name)
        .unwrap_or_else(|| format!("{program}-unknown"));
    // The optimisation level DuckDB's C++ got: the release profile's
    // override for olap-duckdb-cpp in Cargo.toml (the `cc` crate turns it into
    // -O<n>), or the environment's override of it.
    if let Some(level) = duckdb_opt_level() {
        name.push_str(&format!("-O{level}"));
    }
    let has = |flag: &str| flags.split_whitespace().any(|f| f.starts_with(flag));
    let lto = if has("-flto=thin") {
        Some("thinlto")
    } else if has("-flto") {
        Some("lto")
    } else {
        None
    };
    let profile = if has("-fprofile-use") {
        Some("pgo")
    } else if has("-fprofile-generate") {
        Some("pgo-instrumented")
    } else {
        None
    };
    // The instruction set DuckDB was compiled for (`-march=x86-64-v3`,
    // `-march=native`): the last one given wins, as in the compiler.
    let march = flags
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-march="))
        .next_back()
        .unwrap_or("");
    for part in [lto, profile, Some(march).filter(|m| !m.is_empty())]
        .into_iter()
        .flatten()
    {
        name.push('+');
        name.push_str(part);
    }
    println!("cargo:rustc-env=OLAP_BUILD={name}");
    // olap checks the CPU has what DuckDB's machine code needs before any
    // of it runs (src/main.rs, src/lib.rs `cpu_supports_build`).
    println!("cargo:rustc-env=OLAP_CXX_MARCH={march}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_RELEASE_PACKAGE_OLAP_DUCKDB_CPP_OPT_LEVEL");
    for var in ["CXX", "CXXFLAGS"] {
        for key in [
            format!("{var}_{target}"),
            format!("{var}_{}", target.replace('-', "_")),
            format!("TARGET_{var}"),
            var.to_string(),
        ] {
            println!("cargo:rerun-if-env-changed={key}");
        }
    }
    // A new compiler on PATH is a new build (the `c++` alternative moved).
    println!("cargo:rerun-if-env-changed=PATH");
}

/// `opt-level` of `[profile.release.package.olap-duckdb-cpp]`, from the
/// environment's override or Cargo.toml (`None`: the profile's own, 3).
fn duckdb_opt_level() -> Option<String> {
    if let Ok(v) = std::env::var("CARGO_PROFILE_RELEASE_PACKAGE_OLAP_DUCKDB_CPP_OPT_LEVEL") {
        return Some(v.trim_matches('"').to_string());
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let toml = std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")).ok()?;
    let section = toml
        .split("[profile.release.package.olap-duckdb-cpp]")
        .nth(1)?;
    let section = section.split("\n[").next().unwrap_or(section);
    section.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "opt-level").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The variable as the `cc` crate reads it for `target`.
fn env_for(target: &str, var: &str) -> Option<String> {
    [
        format!("{var}_{target}"),
        format!("{var}_{}", target.replace('-', "_")),
        format!("TARGET_{var}"),
        var.to_string(),
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// `gcc-12.2.0` or `clang-22.1.0` from a compiler's `--version` output.
fn compiler_name(version: &str) -> String {
    let first = version.lines().next().unwrap_or_default();
    let number = |text: &str| {
        text.split_whitespace()
            .find(|w| {
                w.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && w.contains('.')
                    && w.chars().all(|c| c.is_ascii_digit() || c == '.')
            })
            .map(str::to_string)
    };
    if let Some(rest) = first.split("clang version").nth(1) {
        return format!("clang-{}", number(rest).unwrap_or_default());
    }
    let gnu = first.contains("g++")
        || first.contains("gcc")
        || first.contains("GCC")
        || version.contains("Free Software Foundation");
    let family = if gnu { "gcc" } else { "cc" };
    // GCC's first line ends with the version: `g++ (Debian 12.2.0-14) 12.2.0`.
    let v = first
        .split_whitespace()
        .rev()
        .find_map(number)
        .unwrap_or_default();
    format!("{family}-{v}")
}

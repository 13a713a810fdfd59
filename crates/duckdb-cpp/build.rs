//! Compiles DuckDB's C++ (the sources bundled in the `libduckdb-sys` crate)
//! for olap.
//!
//! Why not the `libduckdb-sys` crate's own `bundled` build: on the 2-core
//! machine it was the whole cold build (28-30 of 31-33 minutes), and three
//! things it cannot do cut that (docs/architecture.md, "The build"):
//! - a precompiled header of the DuckDB headers nearly every file includes
//!   (2-4 s of each file's compile was parsing them again);
//! - the longest files first, so that no core waits at the end on one
//!   60-second file;
//! - objects cached by content (compiler, command line, source) in the
//!   target directory: a fresh clone over a shared target directory (CI's)
//!   reuses them, where a path crate's build would start over, and a changed
//!   flag recompiles only what it touches.
//!
//! The machine code is the same where questions run: the same compiler,
//! flags and sources as the `cc` crate gives `libduckdb-sys` (`-O3` in
//! release, `CXXFLAGS`, `CXX`), the same defines, the same extensions
//! (core_functions, parquet, json); only the files in `COLD` (the parser,
//! DDL, settings, the C API's wrappers, ...) are compiled at `-O1`.
//! `libduckdb-sys` is linked without `bundled`: it declares `-lduckdb`, and
//! this crate's link directory answers with a linker script
//! naming the archive, the extension autoloader's object (which nothing
//! references: it must be linked whole) and libstdc++.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// The `libduckdb-sys` version whose tarball is compiled (pinned with `=`
/// in this crate's Cargo.toml and the `duckdb` crate's).
const SYS_VERSION: &str = "1.20000.1";
/// Part of every cache key: bump it when objects would change without the
/// command line changing.
const RECIPE: &str = "olap-duckdb-cpp 1";
/// The extensions linked in (the `libduckdb-sys` `bundled` build's
/// `core_functions`, and the `parquet` and `json` features).
const EXTENSIONS: [&str; 3] = ["core_functions", "json", "parquet"];
/// The extension autoloader: a static constructor no code references, so
/// it is linked as an object, not an archive member.
const AUTOREGISTER: &str = "duckdb/extension/loader/static_extension_autoregister.cpp";
/// The headers most DuckDB files include (counted over the unity files'
/// members), precompiled once. Every DuckDB file gets it first
/// (`-include`); third-party libraries do not.
const PCH_HEADERS: &[&str] = &[
    "duckdb/main/client_context.hpp",
    "duckdb/common/exception.hpp",
    "duckdb/common/string_util.hpp",
    "duckdb/planner/expression/bound_function_expression.hpp",
    "duckdb/planner/binder.hpp",
    "duckdb/common/vector/flat_vector.hpp",
    "duckdb/planner/expression/bound_constant_expression.hpp",
    "duckdb/execution/expression_executor.hpp",
    "duckdb/catalog/catalog.hpp",
    "duckdb/planner/expression/bound_columnref_expression.hpp",
    "duckdb/main/settings.hpp",
    "duckdb/main/database.hpp",
    "duckdb/main/config.hpp",
    "duckdb/common/serializer/serializer.hpp",
    "duckdb/common/serializer/deserializer.hpp",
    "duckdb/common/vector_operations/vector_operations.hpp",
];

/// Code no question runs through more than once per statement, or at all:
/// compiled at `-O1` (GCC: about a third less time per file; every other
/// file keeps the profile's `-O3`). The SQL parser and its transformer,
/// DDL and system tables, settings, secrets, the HTTP client, SQL export,
/// the JSON extension (olap uses it to read a statement's parse tree once
/// per question), the C API's thin wrappers around the engine, encryption
/// and the Brotli encoder; DuckDB's indexes (ART: olap creates none), and
/// the VARIANT and GEOMETRY types olap's data has none of. DuckDB's own
/// table storage stays at `-O3`: `--load` scans native tables.
/// Matched as prefixes of the manifest's paths.
const COLD: &[&str] = &[
    "duckdb/ub_src_parser_peg",
    "duckdb/ub_src_parser_parsed_data.cpp",
    "duckdb/ub_src_parser_statement.cpp",
    "duckdb/ub_src_parser_constraints.cpp",
    "duckdb/ub_src_planner_sql_export.cpp",
    "duckdb/ub_src_function_table_system.cpp",
    "duckdb/ub_src_function_pragma.cpp",
    "duckdb/ub_src_catalog_default.cpp",
    "duckdb/ub_src_execution_operator_schema.cpp",
    "duckdb/ub_src_main_capi_v2.cpp",
    "duckdb/ub_src_main_secret.cpp",
    "duckdb/ub_src_main_http.cpp",
    "duckdb/ub_src_main_relation.cpp",
    "duckdb/ub_src_main_settings.cpp",
    "duckdb/ub_src_common_tree_renderer.cpp",
    "duckdb/ub_src_common_progress_bar.cpp",
    "duckdb/ub_src_logging.cpp",
    "duckdb/ub_extension_json",
    "duckdb/extension/json/",
    "duckdb/src/main/capi/",
    "duckdb/src/main/extension/",
    "duckdb/src/main/http/",
    "duckdb/src/common/adbc/",
    "duckdb/third_party/mbedtls/",
    "duckdb/third_party/brotli/enc/",
    "duckdb/third_party/yyjson/",
    "duckdb/ub_src_execution_index",
    "duckdb/ub_src_common_adbc_nanoarrow.cpp",
    "duckdb/ub_src_common_types_variant.cpp",
    "duckdb/ub_src_function_cast_variant.cpp",
    "duckdb/ub_src_function_scalar_variant.cpp",
    "duckdb/ub_extension_parquet_writer_variant.cpp",
    "duckdb/extension/parquet/reader/variant/",
    "duckdb/extension/parquet/parquet_geometry.cpp",
    "duckdb/extension/core_functions/aggregate/variant/",
    "duckdb/src/function/variant/",
    "duckdb/src/function/scalar/geometry/",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OLAP_DUCKDB_JOBS");
    // A new compiler on PATH is a new build (the `c++` alternative moved).
    println!("cargo:rerun-if-env-changed=PATH");
    if let Err(e) = run() {
        // Cargo prints a build script's stderr when it fails.
        eprintln!("olap-duckdb-cpp: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // Its real path: the keys hold the include paths, and a target
    // directory reached through a symlink (`target` -> ~/.cache/...) must
    // find the objects built through another way to it.
    let target = target_dir(&out_dir);
    let cache = fs::canonicalize(&target)
        .unwrap_or(target)
        .join("duckdb-cpp");
    let tarball = find_tarball()?;
    let archive = fs::read(&tarball).map_err(|e| format!("reading {}: {e}", tarball.display()))?;
    let src_key = hex(fnv(&[&archive]));
    let root = unpack(&tarball, &cache.join("src").join(&src_key))?;
    let duckdb = root.join("duckdb");
    let (files, include_dirs) = manifest(&duckdb.join("manifest.json"))?;

    let debug = env::var("DEBUG").is_ok_and(|v| v != "false" && v != "0");
    let optimised = env::var("OPT_LEVEL").is_ok_and(|v| v != "0");
    let mut build = cc::Build::new();
    build.cpp(true).warnings(false).cargo_metadata(false);
    let tool = build.get_compiler();
    if tool.is_like_msvc() {
        return Err("MSVC is not supported: olap builds DuckDB with GCC or Clang".into());
    }
    let mut args: Vec<String> = tool
        .args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.extend(["-std=c++17".to_string(), "-w".to_string()]);
    for ext in EXTENSIONS {
        args.push(format!(
            "-DDUCKDB_EXTENSION_{}_LINKED=1",
            ext.to_uppercase()
        ));
    }
    args.push("-DDUCKDB_EXTENSION_AUTOINSTALL_DEFAULT=1".into());
    args.push("-DDUCKDB_EXTENSION_AUTOLOAD_DEFAULT=1".into());
    // DuckDB's sources assume exactly one of the two (its CMake build types).
    args.push(if debug { "-DDEBUG" } else { "-DNDEBUG" }.into());
    args.push(format!("-I{}", duckdb.display()));
    for dir in &include_dirs {
        args.push(format!("-I{}", duckdb.join(dir).display()));
    }
    let version = compiler_version(&tool)?;
    let base_key = fnv(&[
        RECIPE.as_bytes(),
        src_key.as_bytes(),
        tool.path().as_os_str().as_encoded_bytes(),
        version.as_bytes(),
        args.join("\n").as_bytes(),
        profile_stamp(&args).as_bytes(),
    ]);

    // GCC only: Clang looks for its own precompiled format under another name.
    let pch = if tool.is_like_gnu() && !tool.is_like_clang() {
        Some(precompile_header(
            &tool,
            &args,
            &cache.join("pch"),
            base_key,
        )?)
    } else {
        None
    };
    let mut jobs: Vec<Job> = files
        .iter()
        .filter(|f| f.as_str() != AUTOREGISTER)
        .map(|rel| {
            let pch = pch
                .as_ref()
                .filter(|_| !rel.starts_with("duckdb/third_party/"));
            let mut extra = Vec::new();
            if let Some(pch) = pch {
                extra.extend(["-include".to_string(), pch.header.display().to_string()]);
            }
            // Only where the profile optimises (a debug build stays at -O0).
            if optimised && COLD.iter().any(|c| rel.starts_with(c)) {
                extra.push("-O1".to_string());
            }
            let key = fnv(&[
                &base_key.to_le_bytes(),
                rel.as_bytes(),
                extra.join("\n").as_bytes(),
                pch.map_or(&b""[..], |p| p.key.as_bytes()),
            ]);
            Job {
                source: root.join(rel),
                object: cache.join("obj").join(format!("{}.o", hex(key))),
                extra,
                cost: cost(&root, rel),
                rel: rel.clone(),
            }
        })
        .collect();
    // The autoloader gets the `libduckdb-sys` wrapper's one global symbol,
    // so an archive tool never sees an object without one.
    let wrapper = root.join("olap_static_extension_autoregister.cpp");
    if !wrapper.exists() {
        write_atomic(
            &wrapper,
            b"#include \"duckdb/extension/loader/static_extension_autoregister.cpp\"\n\
              extern \"C\" int olap_static_extension_autoregister = 1;\n",
        )?;
    }
    let autoregister_key = fnv(&[&base_key.to_le_bytes(), AUTOREGISTER.as_bytes()]);
    jobs.push(Job {
        source: wrapper,
        object: cache
            .join("obj")
            .join(format!("{}.o", hex(autoregister_key))),
        extra: Vec::new(),
        cost: 1,
        rel: AUTOREGISTER.to_string(),
    });
    fs::create_dir_all(cache.join("obj"))
        .map_err(|e| format!("creating {}: {e}", cache.display()))?;
    compile_all(&tool, &args, &mut jobs, &out_dir)?;

    let objects: Vec<&Path> = jobs
        .iter()
        .filter(|j| j.rel != AUTOREGISTER)
        .map(|j| j.object.as_path())
        .collect();
    // By name: compile_all reorders the jobs, longest first.
    let autoregister = &jobs
        .iter()
        .find(|j| j.rel == AUTOREGISTER)
        .expect("the autoloader job")
        .object;
    let lib_key = fnv(&[
        &base_key.to_le_bytes(),
        jobs.iter()
            .map(|j| j.object.display().to_string())
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    ]);
    let lib_dir = cache.join("lib").join(hex(lib_key));
    if !lib_dir.join("libduckdb.so").exists() {
        archive_all(&build, &objects, autoregister, &lib_dir)?;
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    Ok(())
}

struct Job {
    rel: String,
    source: PathBuf,
    object: PathBuf,
    extra: Vec<String>,
    cost: u64,
}

struct Pch {
    header: PathBuf,
    key: String,
}

/// The precompiled header, built once per compiler, flags and sources.
fn precompile_header(
    tool: &cc::Tool,
    args: &[String],
    dir: &Path,
    base_key: u64,
) -> Result<Pch, String> {
    let text: String = PCH_HEADERS
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    let key = hex(fnv(&[&base_key.to_le_bytes(), text.as_bytes()]));
    let dir = dir.join(&key);
    let header = dir.join("olap_duckdb_pch.hpp");
    let gch = dir.join("olap_duckdb_pch.hpp.gch");
    if !gch.exists() {
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        write_atomic(&header, text.as_bytes())?;
        let tmp = dir.join(format!("olap_duckdb_pch.hpp.gch.{}", std::process::id()));
        let started = Instant::now();
        let out = tool
            .to_command()
            .args(args.iter().skip(tool.args().len()))
            .args(["-x", "c++-header"])
            .arg(&header)
            .arg("-o")
            .arg(&tmp)
            .output()
            .map_err(|e| format!("running {}: {e}", tool.path().display()))?;
        if !out.status.success() {
            return Err(format!(
                "precompiling DuckDB's common headers failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        fs::rename(&tmp, &gch).map_err(|e| format!("moving {}: {e}", gch.display()))?;
        println!(
            "precompiled header: {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Pch { header, key })
}

/// Compiles what the cache lacks on `OLAP_DUCKDB_JOBS` (else Cargo's
/// `NUM_JOBS`) threads, the longest first; records each file's seconds.
fn compile_all(
    tool: &cc::Tool,
    args: &[String],
    jobs: &mut [Job],
    out_dir: &Path,
) -> Result<(), String> {
    jobs.sort_by(|a, b| b.cost.cmp(&a.cost).then(a.rel.cmp(&b.rel)));
    let todo: Vec<&Job> = jobs.iter().filter(|j| !j.object.exists()).collect();
    let threads = env::var("OLAP_DUCKDB_JOBS")
        .ok()
        .or_else(|| env::var("NUM_JOBS").ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None::<String>);
    let times = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.min(todo.len().max(1)) {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = todo.get(i) else { break };
                    let t = Instant::now();
                    match compile(tool, args, job) {
                        Ok(()) => times
                            .lock()
                            .unwrap()
                            .push((t.elapsed().as_secs_f64(), job.rel.clone())),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    let mut times = times.into_inner().unwrap();
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut log = String::new();
    for (secs, rel) in &times {
        log.push_str(&format!("{secs:.2}\t{rel}\n"));
    }
    let _ = fs::write(out_dir.join("compile-times.tsv"), log);
    println!(
        "compiled {} of {} files in {:.1} s on {threads} threads ({} from the cache)",
        todo.len(),
        jobs.len(),
        started.elapsed().as_secs_f64(),
        jobs.len() - todo.len()
    );
    Ok(())
}

fn compile(tool: &cc::Tool, args: &[String], job: &Job) -> Result<(), String> {
    let tmp = job.object.with_extension(
        format!("o.{}.{:?}", std::process::id(), std::thread::current().id())
            .replace(['(', ')'], ""),
    );
    let out = tool
        .to_command()
        .args(args.iter().skip(tool.args().len()))
        .args(&job.extra)
        .arg("-c")
        .arg(&job.source)
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(|e| format!("running {}: {e}", tool.path().display()))?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "compiling {} failed:\n{}",
            job.rel,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::rename(&tmp, &job.object).map_err(|e| format!("moving {}: {e}", job.object.display()))
}

/// One archive of every object, the autoloader's object beside it, and
/// `libduckdb.so`: a linker script (as glibc's `libc.so` is) that `-lduckdb`
/// finds first, so the archive, the object and libstdc++ come in that
/// order at the spot `libduckdb-sys` links at.
fn archive_all(
    build: &cc::Build,
    objects: &[&Path],
    autoregister: &Path,
    lib_dir: &Path,
) -> Result<(), String> {
    let parent = lib_dir.parent().expect("lib dir has a parent");
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let staging = parent.join(format!(".staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(|e| format!("creating {}: {e}", staging.display()))?;
    let archive = staging.join("libduckdb_olap.a");
    let object = staging.join("static_extension_autoregister.o");
    fs::copy(autoregister, &object)
        .map_err(|e| format!("copying {}: {e}", autoregister.display()))?;
    let mut ar = build
        .try_get_archiver()
        .map_err(|e| format!("no archiver: {e}"))?;
    let out = ar
        .arg("crs")
        .arg(&archive)
        .args(objects)
        .output()
        .map_err(|e| format!("running the archiver: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "archiving DuckDB failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let final_archive = lib_dir.join("libduckdb_olap.a");
    let final_object = lib_dir.join("static_extension_autoregister.o");
    let script = format!(
        "/* DuckDB for olap (crates/duckdb-cpp/build.rs) */\n\
         INPUT ( {} )\n\
         GROUP ( {} )\n\
         INPUT ( -lstdc++ )\n",
        final_object.display(),
        final_archive.display()
    );
    fs::write(staging.join("libduckdb.so"), script)
        .map_err(|e| format!("writing the linker script: {e}"))?;
    match fs::rename(&staging, lib_dir) {
        Ok(()) => Ok(()),
        // Another build published the same library first.
        Err(_) if lib_dir.join("libduckdb.so").exists() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(format!("publishing {}: {e}", lib_dir.display())),
    }
}

/// A file's expected compile time, for the order: the bytes of C++ it
/// holds (a unity file's members), third-party code counted at a third
/// (mostly plain C and tables).
fn cost(root: &Path, rel: &str) -> u64 {
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let path = root.join(rel);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.starts_with("ub_") {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let dir = path.parent().unwrap_or(root);
        // Each member pays the headers too.
        return text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#include \"")?.strip_suffix('"'))
            .map(|m| size(&dir.join(m)) + 20_000)
            .sum();
    }
    let bytes = size(&path) + 20_000;
    if rel.starts_with("duckdb/third_party/") {
        bytes / 3
    } else {
        bytes
    }
}

/// The `libduckdb-sys` crate's tarball: in Cargo's registry, else wherever
/// `cargo metadata` says the package is (a vendored or patched source).
fn find_tarball() -> Result<PathBuf, String> {
    let dir_name = format!("libduckdb-sys-{SYS_VERSION}");
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(src) = home.map(|h| h.join("registry").join("src"))
        && let Ok(registries) = fs::read_dir(&src)
    {
        for registry in registries.flatten() {
            let tarball = registry.path().join(&dir_name).join("duckdb.tar.gz");
            if tarball.is_file() {
                println!("cargo:rerun-if-changed={}", tarball.display());
                return Ok(tarball);
            }
        }
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!("{dir_name}/Cargo.toml");
    for part in text.split('"') {
        if let Some(dir) = part.strip_suffix(&needle) {
            let tarball = PathBuf::from(dir).join(&dir_name).join("duckdb.tar.gz");
            if tarball.is_file() {
                println!("cargo:rerun-if-changed={}", tarball.display());
                return Ok(tarball);
            }
        }
    }
    Err(format!(
        "cannot find DuckDB's sources: {dir_name}/duckdb.tar.gz is neither in Cargo's registry nor where cargo metadata puts the package"
    ))
}

/// Unpacks the tarball once into `dir` (with `tar`, published by rename).
fn unpack(tarball: &Path, dir: &Path) -> Result<PathBuf, String> {
    if dir.join(".complete").exists() {
        return Ok(dir.to_path_buf());
    }
    let parent = dir.parent().expect("source dir has a parent");
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let staging = parent.join(format!(".unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(|e| format!("creating {}: {e}", staging.display()))?;
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(&staging)
        .output()
        .map_err(|e| format!("running tar: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "unpacking {} failed: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::write(staging.join(".complete"), b"").map_err(|e| e.to_string())?;
    match fs::rename(&staging, dir) {
        Ok(()) => Ok(dir.to_path_buf()),
        Err(_) if dir.join(".complete").exists() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(dir.to_path_buf())
        }
        Err(e) => Err(format!("publishing {}: {e}", dir.display())),
    }
}

/// The C++ files and include directories of DuckDB and the linked extensions.
fn manifest(path: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let json = json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let strings = |v: Option<&json::Value>, what: &str| -> Result<Vec<String>, String> {
        match v {
            Some(json::Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    json::Value::String(s) => Ok(s.clone()),
                    _ => Err(format!("{}: {what} holds a non-string", path.display())),
                })
                .collect(),
            _ => Err(format!("{}: no {what}", path.display())),
        }
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut sections = vec![("base".to_string(), json.get("base"))];
    let extensions = json.get("extensions");
    for ext in EXTENSIONS {
        sections.push((ext.to_string(), extensions.and_then(|e| e.get(ext))));
    }
    for (name, section) in sections {
        let section = section.ok_or_else(|| format!("{}: no section {name}", path.display()))?;
        files.extend(strings(section.get("cpp_files"), "cpp_files")?);
        dirs.extend(strings(section.get("include_dirs"), "include_dirs")?);
    }
    files.sort();
    files.dedup();
    dirs.sort();
    dirs.dedup();
    Ok((files, dirs))
}

fn compiler_version(tool: &cc::Tool) -> Result<String, String> {
    let out = Command::new(tool.path())
        .arg("--version")
        .output()
        .map_err(|e| format!("running {} --version: {e}", tool.path().display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A profile-guided build's profile changes the objects without changing
/// the command line: its files' sizes and times join the key.
fn profile_stamp(args: &[String]) -> String {
    let mut lines = Vec::new();
    for path in args.iter().filter_map(|a| a.strip_prefix("-fprofile-use=")) {
        println!("cargo:rerun-if-changed={path}");
        let mut files = vec![PathBuf::from(path)];
        while let Some(p) = files.pop() {
            match fs::metadata(&p) {
                Ok(m) if m.is_dir() => {
                    files.extend(
                        fs::read_dir(&p)
                            .into_iter()
                            .flatten()
                            .flatten()
                            .map(|e| e.path()),
                    );
                }
                Ok(m) => {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                    lines.push(format!("{} {} {:?}", p.display(), m.len(), modified));
                }
                Err(_) => {}
            }
        }
    }
    lines.sort();
    lines.join("\n")
}

/// The target directory, so every profile and clone sharing it shares the
/// cache: OUT_DIR is `<target>[/<triple>]/<profile>/build/<package>-<hash>/out`.
fn target_dir(out_dir: &Path) -> PathBuf {
    let above_profile = out_dir.ancestors().nth(4).unwrap_or(out_dir);
    let triple = env::var("TARGET").unwrap_or_default();
    match above_profile.file_name() {
        Some(name) if !triple.is_empty() && name == triple.as_str() => above_profile
            .parent()
            .unwrap_or(above_profile)
            .to_path_buf(),
        _ => above_profile.to_path_buf(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// FNV-1a, 64 bits, over the parts with their lengths: a cache key, not a
/// checksum against tampering.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn hex(v: u64) -> String {
    format!("{v:016x}")
}

/// Just enough JSON for DuckDB's manifest: objects, arrays, strings.
mod json {
    use super::BTreeMap;

    pub enum Value {
        String(String),
        Array(Vec<Value>),
        Object(BTreeMap<String, Value>),
        Other,
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(map) => map.get(key),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.at != p.bytes.len() {
            return Err(format!("trailing bytes at {}", p.at));
        }
        Ok(v)
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
                self.at += 1;
            }
        }

        fn eat(&mut self, b: u8) -> Result<(), String> {
            self.ws();
            if self.bytes.get(self.at) == Some(&b) {
                self.at += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at byte {}", b as char, self.at))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.bytes.get(self.at) {
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b'[') => {
                    self.at += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.bytes.get(self.at) == Some(&b']') {
                        self.at += 1;
                        return Ok(Value::Array(items));
                    }
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.bytes.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                return Ok(Value::Array(items));
                            }
                            _ => return Err(format!("bad array at byte {}", self.at)),
                        }
                    }
                }
                Some(b'{') => {
                    self.at += 1;
                    let mut map = BTreeMap::new();
                    self.ws();
                    if self.bytes.get(self.at) == Some(&b'}') {
                        self.at += 1;
                        return Ok(Value::Object(map));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.eat(b':')?;
                        map.insert(key, self.value()?);
                        self.ws();
                        match self.bytes.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                return Ok(Value::Object(map));
                            }
                            _ => return Err(format!("bad object at byte {}", self.at)),
                        }
                    }
                }
                Some(_) => {
                    // Numbers, true, false, null: skipped to the next delimiter.
                    while self.at < self.bytes.len() && !b",]}".contains(&self.bytes[self.at]) {
                        self.at += 1;
                    }
                    Ok(Value::Other)
                }
                None => Err("unexpected end".into()),
            }
        }

        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            while let Some(&b) = self.bytes.get(self.at) {
                self.at += 1;
                match b {
                    b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                    b'\\' => {
                        let e = *self.bytes.get(self.at).ok_or("unexpected end")?;
                        self.at += 1;
                        out.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                    }
                    _ => out.push(b),
                }
            }
            Err("unterminated string".into())
        }
    }
}

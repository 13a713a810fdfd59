//! Arbitrary manifests and arbitrary command lines: errors, never panics,
//! never a file outside the data set.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use olap::query::engine::{Engine, EngineConfig};
use olap::storage::FileFormat;
use olap::storage::dataset::DataSet;
use olap::storage::manifest::Manifest;
use proptest::prelude::*;

use crate::common::*;

/// A real manifest to mutate (its data set is generated once).
fn real_manifest() -> &'static (PathBuf, serde_json::Value) {
    static M: OnceLock<(PathBuf, serde_json::Value)> = OnceLock::new();
    M.get_or_init(|| {
        let dir = make_fixture("fuzz-fixture", 3_000);
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        (dir, serde_json::from_str(&text).unwrap())
    })
}

/// Path strings that try to leave the data set or confuse DuckDB.
fn hostile_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("../outside.parquet".to_string()),
        Just("/etc/passwd".to_string()),
        Just("parquet/../../x.parquet".to_string()),
        Just("parquet/sales_fact/*.parquet".to_string()),
        Just("parquet/x[1].parquet".to_string()),
        Just(String::new()),
        Just("parquet//dim_time/dim_time.parquet".to_string()),
        Just("./parquet/dim_time/dim_time.parquet".to_string()),
        "[a-z/.\\\\*?\\[\\]{}'\" -]{0,40}",
        any::<String>(),
    ]
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Ways to spoil a manifest: a field replaced by anything, a file path
/// replaced by a hostile one, or bytes that are not JSON at all.
#[derive(Debug, Clone)]
enum Spoil {
    Field(usize, serde_json::Value),
    /// A number or string replaced by another of its kind: still loads.
    SameKind(usize, i64, String),
    FilePath(usize, String),
    Bytes(Vec<u8>),
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, v)| Spoil::Field(i, v)),
        (any::<usize>(), hostile_path()).prop_map(|(i, p)| Spoil::FilePath(i, p)),
        (any::<usize>(), any::<i64>(), ".{0,20}").prop_map(|(i, n, t)| Spoil::SameKind(i, n, t)),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Spoil::Bytes),
    ]
}

/// Every JSON pointer below `v`.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn apply(spoil: &Spoil) -> Vec<u8> {
    let (_, real) = real_manifest();
    let mut m = real.clone();
    match spoil {
        Spoil::Field(i, v) => {
            let mut all = Vec::new();
            pointers(&m, String::new(), &mut all);
            let at = &all[1 + i % (all.len() - 1)];
            *m.pointer_mut(at).unwrap() = v.clone();
        }
        Spoil::SameKind(i, n, t) => {
            let mut all = Vec::new();
            pointers(&m, String::new(), &mut all);
            all.retain(|at| {
                m.pointer(at)
                    .is_some_and(|v| v.is_number() || v.is_string())
            });
            let v = m.pointer_mut(&all[i % all.len()]).unwrap();
            *v = if v.is_number() {
                serde_json::Value::from(*n)
            } else {
                serde_json::Value::from(t.clone())
            };
        }
        Spoil::FilePath(i, p) => {
            let mut paths = Vec::new();
            pointers(&m, String::new(), &mut paths);
            paths.retain(|x| x.ends_with("/path") && x.contains("/files/"));
            let at = &paths[i % paths.len()];
            *m.pointer_mut(at).unwrap() = serde_json::Value::from(p.clone());
        }
        Spoil::Bytes(b) => return b.clone(),
    }
    serde_json::to_vec_pretty(&m).unwrap()
}

/// A copy of the fixture's data files (hard links) with `manifest` in it.
fn data_set_with(manifest: &[u8]) -> tempfile::TempDir {
    fn link(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let (f, t) = (e.path(), to.join(e.file_name()));
            if f.is_dir() {
                link(&f, &t);
            } else if e.file_name() != "manifest.json" && std::fs::hard_link(&f, &t).is_err() {
                std::fs::copy(&f, &t).unwrap();
            }
        }
    }
    let (dir, _) = real_manifest();
    let t = tempfile::tempdir().unwrap();
    link(dir, &t.path().join("d"));
    std::fs::write(t.path().join("d/manifest.json"), manifest).unwrap();
    t
}

fn inside(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Load, open and validate return errors for spoiled manifests; a
    /// manifest that loads names only files inside the data set.
    #[test]
    fn spoiled_manifests_are_errors_not_panics(s in spoil()) {
        let t = data_set_with(&apply(&s));
        let dir = t.path().join("d");
        if let Ok(m) = Manifest::load(&dir) {
            for f in m.tables.iter().flat_map(|t| &t.files) {
                prop_assert!(inside(&f.path), "loaded a manifest naming {:?}", f.path);
            }
        }
        if let Ok(ds) = DataSet::open(&dir) {
            let ds = std::sync::Arc::new(ds);
            let _ = olap::validate::validate(&ds, false, 1);
            let _ = Engine::open(&ds, EngineConfig::new(FileFormat::Parquet, 1));
        }
    }
}

const SUBCOMMANDS: &[&str] = &[
    "generate",
    "analyze",
    "benchmark",
    "validate",
    "bogus",
    "--help",
];

/// Tokens of command lines: flags of each subcommand, and awkward values.
const WORDS: &[&str] = &[
    "generate",
    "--rows",
    "--seed",
    "--format",
    "--partition-by",
    "--threads",
    "--parts",
    "--part",
    "--force",
    "--json",
    "--data-dir",
    "--output-dir",
    "--storage",
    "--rounds",
    "--execute",
    "--profile",
    "--sql",
    "--list",
    "--param",
    "--baseline",
    "--customers",
    "--products",
    "--row-group-size",
    "--start-date",
    "--memory-limit",
    "--compression",
    "-q",
    "-v",
    "--help",
    "0",
    "-1",
    "2",
    "abc",
    "1e3",
    "10B",
    "99999999999999999999",
    "",
    "year,quarter",
    "parquet",
    "csv",
    "both",
    "zstd",
    "2021-13-40",
    "SELECT 1",
    "revenue_by_region_year",
    "nope",
    "x=1",
    "data",
    "../x",
    "runs[1]",
    "'",
    "4096",
    "-",
    "--",
    "=",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any argument vector: exit 0, 1 or 2 (3 for a runtime failure), a
    /// one-line message on failure, never a panic (101) or a hang.
    #[test]
    fn arbitrary_command_lines_never_panic(
        sub in prop::sample::select(SUBCOMMANDS),
        words in prop::collection::vec(prop::sample::select(WORDS), 0..6),
    ) {
        let cwd = tempfile::tempdir().unwrap();
        let mut args: Vec<&str> = vec![sub];
        args.extend(&words);
        // Generation always has a small --rows first, so nothing runs long;
        // a second --rows in the words is a usage error.
        if args.first() == Some(&"generate") {
            args.splice(1..1, ["--rows", "2000", "--customers", "5000", "--products", "200"]);
        }
        let o = olap()
            .current_dir(cwd.path())
            .args(&args)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        let code = o.status.code();
        prop_assert!(matches!(code, Some(0..=3)), "{args:?}: exit {code:?}: {}", stderr(&o));
        if code != Some(0) {
            let err = stderr(&o);
            prop_assert!(!err.contains("panicked"), "{args:?}: {err}");
            // -v adds debug lines on purpose; the error itself is the last line.
            let lines = err.trim_end().lines().filter(|l| l.starts_with("olap: error")).count();
            prop_assert_eq!(lines, 1, "{:?}: {}", args, err);
            if !args.contains(&"-v") {
                prop_assert_eq!(err.trim_end().lines().count(), 1, "{:?}: {}", args, err);
            }
        }
    }
}

//! The module graph has no circle: no module reaches back, through any
//! chain of imports, to one that imports it (docs/architecture.md, "Module
//! map"). A module is a file or directory two levels under src/
//! (`query::engine`, `query::rewrite`, `serve::session`, `bench`); an
//! import is a `crate::…` or `super::…` path outside `#[cfg(test)]` code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a path of names lands in: the longest prefix (two names at
/// most) that is a file or directory under src/.
fn module_of(src: &Path, names: &[String]) -> Option<String> {
    (1..=names.len().min(2)).rev().find_map(|k| {
        let p = src.join(names[..k].join("/"));
        (p.is_dir() || p.with_extension("rs").is_file()).then(|| names[..k].join("::"))
    })
}

fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let path_re = regex::Regex::new(r"\b(crate|super)::([a-z_0-9]+)(?:::([a-z_0-9]+))?").unwrap();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().with_extension("");
        let mut names: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().to_string())
            .collect();
        let is_mod = names.last().is_some_and(|n| n == "mod");
        if is_mod {
            names.pop();
        }
        let Some(me) = module_of(src, &names) else {
            continue;
        };
        // `super` of a file is its directory; of a mod.rs, the one above.
        let mut parent = names.clone();
        parent.pop();
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for c in path_re.captures_iter(text) {
            let mut target: Vec<String> = if &c[1] == "crate" {
                Vec::new()
            } else {
                parent.clone()
            };
            target.extend(
                [c.get(2), c.get(3)]
                    .into_iter()
                    .flatten()
                    .map(|m| m.as_str().to_string()),
            );
            let Some(them) = module_of(src, &target) else {
                continue;
            };
            let nested =
                them.starts_with(&format!("{me}::")) || me.starts_with(&format!("{them}::"));
            if them != me && !nested {
                edges.entry(me.clone()).or_default().insert(them);
            }
        }
    }
    edges
}

/// A circle through `from`, if any: the modules on it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == from {
                return Some(path.iter().cloned().chain([from.to_string()]).collect());
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    // The graph is real: the engine reads the data set, the rewriter is used
    // by the engine, the benchmark starts the server.
    for (from, to) in [
        ("query::engine", "storage::dataset"),
        ("query::engine", "query::rewrite"),
        ("bench::studies", "serve"),
    ] {
        assert!(
            edges.get(from).is_some_and(|e| e.contains(to)),
            "{from} -> {to} not found: {edges:?}"
        );
    }
    let circles: Vec<String> = edges
        .keys()
        .filter_map(|m| circle(&edges, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

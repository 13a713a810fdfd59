//! The baseline store: every `olap benchmark` run is saved, numbered and
//! timestamped, under a directory per machine (CPU model, cores, memory),
//! the way pytest-benchmark and Criterion keep earlier runs. `--baseline`
//! picks one: the latest comparable run, a named one, or a file.
//!
//! ```text
//! benchmark-results/runs/            the store (--store DIR or OLAP_BENCH_STORE)
//!   intel-xeon-processor-2c-24g/     one directory per machine key
//!     0001-20261125T174312Z.json     every run, numbered
//!     nightly.json                   a run saved with --save-baseline nightly
//! benchmark-results/baseline/        committed baselines, found by name and by
//!                                    the same comparability rules
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::result::{BenchResult, DataSetIdentity, Machine};
use crate::bail_user;

/// The store's default directory (relative to the working directory).
pub const DEFAULT_STORE: &str = "benchmark-results/runs";
/// Committed baselines, searched after the store.
pub const COMMITTED: &str = "benchmark-results/baseline";

/// Which earlier run to compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineChoice {
    /// The latest comparable run in the store (bare `--baseline`).
    Latest,
    /// A run saved with `--save-baseline NAME`, or a committed baseline's name.
    Named(String),
    /// A result file.
    File(PathBuf),
}

impl BaselineChoice {
    /// `--baseline` as given: empty = latest; an existing file = that file;
    /// else a name.
    pub fn parse(value: &str) -> BaselineChoice {
        if value.is_empty() {
            BaselineChoice::Latest
        } else if Path::new(value).is_file() || value.ends_with(".json") || value.contains('/') {
            BaselineChoice::File(PathBuf::from(value))
        } else {
            BaselineChoice::Named(value.to_string())
        }
    }
}

/// What a run is measured on: the facts a baseline must share with it.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub machine: Machine,
    pub duckdb_version: String,
    pub threads: usize,
    pub data_set: DataSetIdentity,
    /// `--rewrite` and `--fact-view`: they change the SQL or the plan that
    /// runs, so a baseline taken with others times other queries.
    pub rewrite: String,
    pub fact_view: String,
    /// How this binary's DuckDB was compiled (see `crate::BUILD`).
    pub build: String,
}

impl RunContext {
    /// Why `base` is not comparable with this run (empty: it is).
    pub fn differences(&self, base: &BenchResult) -> Vec<String> {
        let mut why = Vec::new();
        let (a, b) = (&base.data_set, &self.data_set);
        {
            let mut what = Vec::new();
            if a.rows != b.rows {
                what.push(format!("{} vs {} rows", a.rows, b.rows));
            }
            if a.seed != b.seed {
                what.push(format!("seed {} vs {}", a.seed, b.seed));
            }
            if a.partition_by != b.partition_by {
                what.push(format!(
                    "partitioned by {} vs {}",
                    a.partition_by.join(","),
                    b.partition_by.join(",")
                ));
            }
            if what.is_empty() && a.fact_checksum != b.fact_checksum {
                what.push("other generation settings".into());
            }
            if !what.is_empty() {
                why.push(format!("another data set ({})", what.join(", ")));
            }
        }
        if a.compression != b.compression || a.row_group_size != b.row_group_size {
            why.push(format!(
                "another layout ({} with {}-row groups vs {} with {})",
                a.compression, a.row_group_size, b.compression, b.row_group_size
            ));
        }
        if base.settings.threads != self.threads {
            why.push(format!(
                "{} threads vs {}",
                base.settings.threads, self.threads
            ));
        }
        // Results from before these were recorded say nothing: compared.
        type Say = fn(&str, &str) -> String;
        let recorded: [(Option<&str>, &str, Say); 3] = [
            (base.settings.rewrite.as_deref(), &self.rewrite, |a, b| {
                format!("--rewrite {a} vs {b}")
            }),
            (
                base.settings.fact_view.as_deref(),
                &self.fact_view,
                |a, b| format!("--fact-view {a} vs {b}"),
            ),
            (base.build.as_deref(), &self.build, |a, b| {
                format!("a {a} build vs {b}")
            }),
        ];
        for (was, now, say) in recorded {
            if let Some(was) = was.filter(|w| *w != now) {
                why.push(say(was, now));
            }
        }
        if base.machine.key() != self.machine.key() {
            why.push(format!(
                "another machine ({} vs {})",
                base.machine.key(),
                self.machine.key()
            ));
        }
        if base.duckdb_version != self.duckdb_version {
            why.push(format!(
                "DuckDB {} vs {}",
                base.duckdb_version, self.duckdb_version
            ));
        }
        why
    }
}

/// The store at `dir`.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

fn results_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    fn machine_dir(&self, m: &Machine) -> PathBuf {
        self.dir.join(m.key())
    }

    /// Saves `r` as the next numbered run of its machine (and as `name`).
    pub fn save(&self, r: &BenchResult, name: Option<&str>) -> Result<PathBuf> {
        let dir = self.machine_dir(&r.machine);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut next = results_in(&dir)
            .iter()
            .filter_map(|p| p.file_name()?.to_str()?.get(..4)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let stamp: String = r
            .created_at
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let text = serde_json::to_string_pretty(r)?;
        // Numbers are claimed with create_new, so runs saved at once never
        // overwrite each other.
        let path = loop {
            let path = dir.join(format!("{next:04}-{stamp}.json"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, text.as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    break path;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        };
        if let Some(n) = name {
            r.save(&dir.join(format!("{n}.json")))?;
        }
        Ok(path)
    }

    /// Every run of the store (all machines) and the committed baselines.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for d in dirs.iter().filter(|d| d.is_dir()) {
                v.extend(results_in(d));
            }
        }
        v.extend(results_in(Path::new(COMMITTED)));
        v
    }

    /// Resolves `choice` for a run in `ctx`; refuses an incomparable
    /// baseline unless `allow_different` (then returns what differs).
    pub fn resolve(
        &self,
        choice: &BaselineChoice,
        ctx: &RunContext,
        allow_different: bool,
    ) -> Result<(BenchResult, PathBuf, Vec<String>)> {
        let (base, path) = match choice {
            BaselineChoice::File(p) => (BenchResult::load(p)?, p.clone()),
            BaselineChoice::Named(n) => {
                let file = format!("{n}.json");
                let found = self
                    .candidates()
                    .into_iter()
                    .filter(|p| p.file_name().is_some_and(|f| f == file.as_str()))
                    .max_by_key(|p| p.starts_with(self.machine_dir(&ctx.machine)));
                match found {
                    Some(p) => (BenchResult::load(&p)?, p),
                    None => bail_user!(
                        "no baseline named {n:?} in {} or {COMMITTED} (save one with `olap benchmark --save-baseline {n}`)",
                        self.dir.display()
                    ),
                }
            }
            BaselineChoice::Latest => return self.latest(ctx, allow_different),
        };
        let diff = ctx.differences(&base);
        if !diff.is_empty() && !allow_different {
            bail_user!(
                "baseline {} is not comparable: {} (--allow-different-env compares anyway)",
                path.display(),
                diff.join("; ")
            );
        }
        Ok((base, path, diff))
    }

    fn latest(
        &self,
        ctx: &RunContext,
        allow_different: bool,
    ) -> Result<(BenchResult, PathBuf, Vec<String>)> {
        let mut runs: Vec<(BenchResult, PathBuf)> = self
            .candidates()
            .into_iter()
            .filter_map(|p| BenchResult::load(&p).ok().map(|r| (r, p)))
            .collect();
        runs.sort_by(|a, b| a.0.created_at.cmp(&b.0.created_at));
        if let Some((r, p)) = runs
            .iter()
            .rev()
            .find(|(r, _)| ctx.differences(r).is_empty())
        {
            return Ok((r.clone(), p.clone(), Vec::new()));
        }
        let hint = format!(
            "run `olap benchmark` once to save one (every run is saved in {}), or pass --baseline FILE",
            self.dir.display()
        );
        match runs.pop() {
            None => bail_user!(
                "no earlier run in {} or {COMMITTED} to compare with: {hint}",
                self.dir.display()
            ),
            Some((r, p)) if allow_different => {
                let diff = ctx.differences(&r);
                Ok((r, p, diff))
            }
            Some((r, p)) => bail_user!(
                "no comparable run in {}; the latest, {}, differs: {} ({hint}; --allow-different-env compares anyway)",
                self.dir.display(),
                p.display(),
                ctx.differences(&r).join("; ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::compare::tests::fabricated;

    fn ctx_of(r: &BenchResult) -> RunContext {
        RunContext {
            machine: r.machine.clone(),
            duckdb_version: r.duckdb_version.clone(),
            threads: r.settings.threads,
            data_set: r.data_set.clone(),
            rewrite: "auto".into(),
            fact_view: "auto".into(),
            build: "plain".into(),
        }
    }

    #[test]
    fn latest_comparable_run_is_found_and_others_refused_with_the_reason() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("runs"));
        let first = fabricated(&[("q", &[10.0, 11.0, 12.0])]);
        let ctx = ctx_of(&first);
        let e = store
            .resolve(&BaselineChoice::Latest, &ctx, false)
            .unwrap_err();
        assert!(e.to_string().contains("run `olap benchmark` once"), "{e}");
        let p1 = store.save(&first, None).unwrap();
        assert!(p1.ends_with(format!(
            "{}/0001-20261123T000000Z.json",
            first.machine.key()
        )));
        let mut second = first.clone();
        second.created_at = "2026-11-24T00:00:00Z".into();
        second.settings.threads = 16;
        store.save(&second, Some("wide")).unwrap();
        // The newest run used 16 threads: the latest *comparable* one is the first.
        let (b, p, diff) = store.resolve(&BaselineChoice::Latest, &ctx, false).unwrap();
        assert_eq!((b.settings.threads, p, diff.len()), (2, p1.clone(), 0));
        // Named: found, but refused for its thread count unless allowed.
        let named = BaselineChoice::Named("wide".into());
        let e = store.resolve(&named, &ctx, false).unwrap_err().to_string();
        assert!(
            e.contains("16 threads vs 2") && e.contains("--allow-different-env"),
            "{e}"
        );
        let (_, _, diff) = store.resolve(&named, &ctx, true).unwrap();
        assert_eq!(diff, ["16 threads vs 2"]);
        // Another machine.
        let mut other = ctx.clone();
        other.machine.cpu = "Another CPU".into();
        other.machine.cores = 16;
        let e = store
            .resolve(&BaselineChoice::File(p1.clone()), &other, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another machine"), "{e}");
        let e = store
            .resolve(&BaselineChoice::Latest, &other, false)
            .unwrap_err();
        assert!(e.to_string().contains("no comparable run"), "{e}");
        assert!(
            store
                .resolve(&BaselineChoice::Named("nope".into()), &ctx, false)
                .is_err()
        );
    }

    /// A run with other `--rewrite` or `--fact-view` times other SQL or
    /// plans; a result from before they were recorded is not refused.
    #[test]
    fn rewrite_and_fact_view_settings_must_match() {
        let mut base = fabricated(&[("q", &[10.0])]);
        let ctx = ctx_of(&base);
        assert!(ctx.differences(&base).is_empty());
        base.settings.rewrite = Some("off".into());
        base.settings.fact_view = Some("files".into());
        assert_eq!(
            ctx.differences(&base),
            ["--rewrite off vs auto", "--fact-view files vs auto"]
        );
        base.settings.rewrite = None;
        base.settings.fact_view = None;
        assert!(ctx.differences(&base).is_empty());
        // A profile-guided binary times other machine code.
        base.build = Some("pgo".into());
        assert_eq!(ctx.differences(&base), ["a pgo build vs plain"]);
        base.build = None;
        // Old files without the fields still load.
        let mut json = serde_json::to_value(&base).unwrap();
        assert!(json["settings"].get("rewrite").is_none());
        json["settings"]["threads"] = 2.into();
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("old.json");
        std::fs::write(&path, json.to_string()).unwrap();
        assert_eq!(BenchResult::load(&path).unwrap().settings.rewrite, None);
    }

    #[test]
    fn baseline_values_parse() {
        assert_eq!(BaselineChoice::parse(""), BaselineChoice::Latest);
        assert_eq!(
            BaselineChoice::parse("nightly"),
            BaselineChoice::Named("nightly".into())
        );
        assert_eq!(
            BaselineChoice::parse("x/bench.json"),
            BaselineChoice::File("x/bench.json".into())
        );
    }
}

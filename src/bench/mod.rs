//! Measuring: rounds and percentiles, SLA checks, baselines and regression
//! detection, storage / scaling / concurrency studies, and charts. [`run`]
//! is the whole benchmark `olap benchmark` renders.

pub mod chart;
pub mod compare;
pub mod result;
pub mod run;
pub mod stats;
pub mod store;
pub mod studies;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::bail_user;
use crate::model::Table;
use crate::query::catalog::{Expectation, Params, QuerySpec};
use crate::query::engine::EngineConfig;
use crate::query::log::QueryLog;
use crate::query::run::{Engines, RunOptions, run_query};
use crate::storage::FileFormat;
use crate::storage::dataset::DataSet;
use crate::storage::manifest::Manifest;
use crate::targets::{self, Check};
use crate::util::progress_bar;
use compare::{Comparison, Verdict, compare};
use result::{BenchResult, DataSetIdentity, Machine, SCHEMA_VERSION, Settings, Sla, git_commit};
use run::{Rounds, executions, plan, time_variant};
use store::{BaselineChoice, RunContext, Store};
use studies::{ConcurrencyCase, ScalingStudy, StorageStudy};

/// Where the scaling study's data sets come from.
#[derive(Debug, Clone)]
pub enum Scaling {
    /// Generated beside the data set at these sizes (reused when present).
    Sizes(Vec<u64>),
    /// Existing data sets.
    Dirs(Vec<PathBuf>),
}

/// A validated benchmark run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub engine: EngineConfig,
    pub specs: Vec<&'static QuerySpec>,
    pub params: Params,
    pub rounds: Rounds,
    /// Which earlier run to compare with, if any.
    pub baseline: Option<BaselineChoice>,
    /// Compare with a baseline from another machine, thread count, DuckDB
    /// or data set (the differences are reported).
    pub allow_different_env: bool,
    /// Where every run is saved (unless `save` is off) and baselines are found.
    pub store: Store,
    pub save: bool,
    /// Also save this run under a name.
    pub save_name: Option<String>,
    /// Minimum relative change for a regression (0.10 = 10%).
    pub threshold: f64,
    pub storage_comparison: bool,
    pub scaling: Option<Scaling>,
    /// Clients of the concurrency study.
    pub concurrency: Option<usize>,
    /// Who the study's clients are: threads in process or wire clients.
    pub concurrency_via: studies::Clients,
    /// Profile one execution of every entry (plans for the HTML report;
    /// the pruning checks always come from one).
    pub profiles: bool,
    /// Where charts and CSV go.
    pub report_dir: PathBuf,
    /// The query log (`--log`); None: the data set's own (or, read-only, the cache's).
    pub log: Option<PathBuf>,
    /// Time the plain engine beside olap in every round (Parquet).
    pub against_plain: bool,
}

/// What a benchmark measured and concluded.
#[derive(Debug, Serialize)]
pub struct BenchOutcome {
    pub result: BenchResult,
    /// The baseline compared with, and how it differs (with --allow-different-env).
    pub baseline: Option<String>,
    pub baseline_differences: Vec<String>,
    pub comparisons: Vec<Comparison>,
    /// Where the run was saved in the store.
    pub saved_to: Option<String>,
    /// Every target's verdict (SLAs, pruning, studies), SLA misses and
    /// regressions kept apart.
    pub verdicts: Verdicts,
    /// Catalog entries that could not run on this data set (they need CSV).
    #[serde(skip)]
    pub skipped: Vec<&'static str>,
    #[serde(skip)]
    pub storage: Option<StorageStudy>,
    #[serde(skip)]
    pub scaling: Option<ScalingStudy>,
    #[serde(skip)]
    pub concurrency: Option<Vec<ConcurrencyCase>>,
    /// The baseline compared with, for side-by-side charts.
    #[serde(skip)]
    pub baseline_result: Option<BenchResult>,
    /// One profiled execution per entry (query key, profile).
    #[serde(skip)]
    pub profiles: Vec<(String, crate::query::profile::Profile)>,
    /// The data set's fact partitions ("year=2023/quarter=4").
    #[serde(skip)]
    pub partitions: Vec<String>,
}

/// The verdicts of a run, each kind apart.
#[derive(Debug, Default, Serialize)]
pub struct Verdicts {
    /// Queries whose p95 missed its (scaled) target.
    pub sla_misses: Vec<String>,
    /// Queries that regressed against the baseline.
    pub regressions: Vec<String>,
    /// Every other target that was measured: pruning, storage, scaling,
    /// concurrency (see `crate::targets`).
    pub targets: Vec<Check>,
    /// Targets that cannot be judged on this run, and why.
    pub notes: Vec<String>,
}

impl Verdicts {
    pub fn failed_targets(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The verdicts of the studies and the pruning checks, from their values.
pub fn judge(
    result: &BenchResult,
    comparisons: &[Comparison],
    pruning: Vec<Check>,
    storage: Option<&StorageStudy>,
    scaling: Option<&ScalingStudy>,
    concurrency: Option<&[ConcurrencyCase]>,
) -> Verdicts {
    let mut v = Verdicts {
        sla_misses: result
            .queries
            .iter()
            .filter(|q| q.sla == Sla::Fail)
            .map(|q| q.key())
            .collect(),
        regressions: comparisons
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
            .map(|c| c.key.clone())
            .collect(),
        targets: pruning,
        notes: Vec::new(),
    };
    if let Some(st) = storage {
        v.targets.push(Check::new(
            format!(
                "storage: Parquet ≥ {}:1 smaller than CSV",
                targets::MIN_COMPRESSION_RATIO
            ),
            st.size_target_met,
            format!("{:.1} : 1", st.total_ratio),
        ));
        for q in &st.queries {
            v.targets.push(Check::new(
                format!(
                    "storage: {} Parquet ≥ {}x faster",
                    q.id,
                    targets::MIN_PARQUET_SPEEDUP
                ),
                targets::speedup_met(q.speedup),
                format!(
                    "{:.1}x ({:.1} vs {:.1} ms p50)",
                    q.speedup, q.parquet_p50_ms, q.csv_p50_ms
                ),
            ));
            if let Some(share) = q.bytes_share {
                v.targets.push(Check::new(
                    format!(
                        "storage: {} Parquet reads < {:.0}% of CSV's bytes",
                        q.id,
                        targets::MAX_PARQUET_BYTES_SHARE * 100.0
                    ),
                    targets::bytes_share_met(share),
                    format!("{:.1}%", share * 100.0),
                ));
            }
        }
    }
    if let Some(sc) = scaling {
        for g in &sc.growth {
            v.targets.push(Check::new(
                format!(
                    "scaling: {} < {}x per doubling",
                    g.query,
                    targets::MAX_GROWTH_PER_DOUBLING
                ),
                g.target_met,
                format!("x{:.2}", g.per_doubling),
            ));
        }
        if let Some(pg) = &sc.partition_growth {
            v.targets.push(Check::new(
                "scaling: partition-filtered query constant as partitions double",
                pg.target_met,
                format!(
                    "x{:.2} on {} vs {} partitions (target < x{})",
                    pg.ratio,
                    pg.partitions.0,
                    pg.partitions.1,
                    targets::MAX_PARTITION_GROWTH
                ),
            ));
        }
    }
    for c in concurrency.unwrap_or_default() {
        let Some(t) = c.target else { continue };
        let floor = c.clients as f64 / result.machine.cores.max(1) as f64;
        if floor >= t {
            v.notes.push(format!(
                "concurrency: {} with {} clients cannot be judged against < {t}x on {} cores:                  the arithmetic floor is {floor:.1}x ({} queries share {} cores); measured {:.2}x",
                c.query, c.clients, result.machine.cores, c.clients, result.machine.cores, c.slowdown
            ));
        } else {
            v.targets.push(Check::new(
                format!(
                    "concurrency: {} {} at once < {t}x slower",
                    c.query, c.clients
                ),
                targets::slowdown_met(c.slowdown),
                format!(
                    "{:.2}x (floor {floor:.1}x on {} cores)",
                    c.slowdown, result.machine.cores
                ),
            ));
        }
    }
    v
}

/// Runs the catalog rounds and the studies asked for.
pub fn run(ds: &Arc<DataSet>, cfg: &BenchConfig) -> Result<BenchOutcome> {
    // One data set version from the first round to the last: the handle's.
    let manifest = ds.manifest();
    if cfg.storage_comparison && !manifest.storage.has(FileFormat::Csv) {
        bail_user!(
            "--storage-comparison needs CSV too: `olap generate --format both --output-dir {} --force`",
            ds.dir().display()
        );
    }
    let log = QueryLog::open_for(cfg.log.as_deref(), ds.dir())?;
    let (engine_cfg, rounds, params) = (&cfg.engine, &cfg.rounds, &cfg.params);
    let mut engines = Engines::new(ds, engine_cfg.clone());
    let duckdb_version = engines.get(engine_cfg.storage)?.duckdb_version()?;
    let ctx = RunContext {
        machine: Machine::current(),
        duckdb_version: duckdb_version.clone(),
        threads: engine_cfg.threads,
        data_set: identity(manifest, ds.dir()),
        rewrite: engine_cfg.rewrite.name().into(),
        fact_view: engine_cfg.fact_view.name().into(),
        build: crate::BUILD.into(),
    };
    // The baseline is chosen before this run is saved (bare --baseline
    // means the latest *earlier* run).
    let baseline = cfg
        .baseline
        .as_ref()
        .map(|c| cfg.store.resolve(c, &ctx, cfg.allow_different_env))
        .transpose()?;
    if let Some((b, p, _)) = &baseline
        && (b.data_set.rows != manifest.spec.rows
            || b.data_set.partition_by != manifest.storage.partition_names())
    {
        bail_user!(
            "the baseline {} ran on {} rows partitioned by {:?}; this data set has {} rows partitioned by {:?}: latencies are not comparable",
            p.display(),
            b.data_set.rows,
            b.data_set.partition_by,
            manifest.spec.rows,
            manifest.storage.partition_names()
        );
    }

    // Catalog rounds.
    let available = manifest.storage.formats.clone();
    let work: Vec<(&QuerySpec, usize, FileFormat)> = cfg
        .specs
        .iter()
        .flat_map(|s| {
            plan(s, engine_cfg.storage, &available)
                .into_iter()
                .map(move |(v, st)| (*s, v, st))
        })
        .collect();
    let skipped: Vec<&'static str> = cfg
        .specs
        .iter()
        .filter(|s| plan(s, engine_cfg.storage, &available).is_empty())
        .map(|s| s.id)
        .collect();
    let plain = cfg
        .against_plain
        .then(|| crate::query::plain::connection(ds, engine_cfg.threads))
        .transpose()?;
    let total: u64 = work.iter().map(|(_, _, st)| executions(*st, rounds)).sum();
    let pb = progress_bar(total, "benchmark", false);
    let mut queries = Vec::new();
    for (spec, vi, storage) in &work {
        pb.set_message(format!("{} ({})", spec.id, storage.name()));
        let timed = time_variant(
            &mut engines,
            spec,
            *vi,
            *storage,
            params,
            rounds,
            manifest.spec.rows,
            Some(&log),
            plain.as_ref(),
            &|| pb.inc(1),
        );
        // A user's own SQL that DuckDB refuses is the user's to fix (exit 2).
        queries.push(match timed {
            Err(e) if spec.expect == Expectation::User => {
                bail_user!("--sql {}: {}", spec.id, format!("{e:#}"))
            }
            other => other?,
        });
    }
    pb.finish_and_clear();

    // Pruning, read from the executed plan of the pruning entries; with
    // `profiles`, every entry gets one profiled execution for its plan.
    let mut pruning = Vec::new();
    let mut profiles = Vec::new();
    let opts = RunOptions {
        execute: true,
        profile: true,
        show_rows: None,
        storage: engine_cfg.storage,
        params: params.clone(),
    };
    for spec in cfg
        .specs
        .iter()
        .filter(|s| cfg.profiles || s.expect == Expectation::Pruning)
        .filter(|s| !plan(s, engine_cfg.storage, &available).is_empty())
    {
        let run = run_query(&mut engines, spec, &opts, manifest, None)?;
        for v in &run.runs {
            if let Some(p) = &v.profile {
                let key = format!("{} [{} · {}]", spec.id, v.variant, v.storage.name());
                profiles.push((key, p.clone()));
            }
        }
        pruning.extend(
            run.checks
                .into_iter()
                .filter(|_| spec.expect == Expectation::Pruning)
                .map(|mut c| {
                    c.name = format!("{}: {}", spec.id, c.name);
                    c
                }),
        );
    }

    // Studies.
    let storage = if cfg.storage_comparison {
        Some(studies::storage_study(
            &mut engines,
            &cfg.specs,
            params,
            rounds,
            manifest,
            &queries,
            &cfg.report_dir,
        )?)
    } else {
        None
    };
    let scaling = match &cfg.scaling {
        Some(s) => {
            let (sizes, dirs) = match s {
                Scaling::Sizes(v) => (Some(v), None),
                Scaling::Dirs(d) => (None, Some(d)),
            };
            Some(studies::scaling_study(
                ds.dir(),
                sizes,
                dirs,
                manifest,
                &cfg.specs,
                params,
                rounds,
                engine_cfg.threads,
                &cfg.report_dir,
            )?)
        }
        None => None,
    };
    let concurrency = match cfg.concurrency {
        Some(n) => Some(studies::concurrency_study(
            engines.get(FileFormat::Parquet)?,
            params,
            n,
            cfg.concurrency_via,
            rounds.rounds.max(n),
        )?),
        None => None,
    };
    let mut studies_json = serde_json::Map::new();
    if let Some(s) = &storage {
        studies_json.insert("storage".into(), serde_json::to_value(s)?);
    }
    if let Some(s) = &scaling {
        studies_json.insert("scaling".into(), serde_json::to_value(s)?);
    }
    if let Some(c) = &concurrency {
        studies_json.insert("concurrency".into(), serde_json::to_value(c)?);
    }

    let result = BenchResult {
        schema_version: SCHEMA_VERSION,
        created_at: crate::query::log::now(),
        olap_version: env!("CARGO_PKG_VERSION").into(),
        build: Some(ctx.build.clone()),
        duckdb_version,
        git_commit: git_commit(),
        machine: ctx.machine.clone(),
        data_set: ctx.data_set.clone(),
        settings: Settings {
            rounds: rounds.rounds,
            warmup: rounds.warmup,
            threads: engine_cfg.threads,
            storage: engine_cfg.storage.name().into(),
            params: params.0.clone(),
            rewrite: Some(ctx.rewrite.clone()),
            fact_view: Some(ctx.fact_view.clone()),
        },
        queries,
        studies: serde_json::Value::Object(studies_json),
    };
    let comparisons = baseline
        .as_ref()
        .map(|(b, _, _)| compare(b, &result, cfg.threshold))
        .unwrap_or_default();
    let saved_to = cfg
        .save
        .then(|| cfg.store.save(&result, cfg.save_name.as_deref()))
        .transpose()?;
    let verdicts = judge(
        &result,
        &comparisons,
        pruning,
        storage.as_ref(),
        scaling.as_ref(),
        concurrency.as_deref(),
    );
    let (baseline, baseline_differences, baseline_result) = match baseline {
        Some((b, p, d)) => (Some(p.display().to_string()), d, Some(b)),
        None => (None, Vec::new(), None),
    };
    let partitions: std::collections::BTreeSet<String> = manifest
        .table(Table::SalesFact)
        .map(|t| {
            t.files_of(FileFormat::Parquet)
                .filter_map(|f| {
                    crate::storage::layout::fact_partition(crate::storage::layout::partition_dir(
                        &f.path,
                    ))
                    .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(BenchOutcome {
        result,
        baseline,
        baseline_differences,
        comparisons,
        saved_to: saved_to.map(|p| p.display().to_string()),
        verdicts,
        skipped,
        storage,
        scaling,
        concurrency,
        baseline_result,
        profiles,
        partitions: partitions.into_iter().collect(),
    })
}

/// What data a run is measured on, from its manifest.
fn identity(m: &Manifest, dir: &std::path::Path) -> DataSetIdentity {
    DataSetIdentity {
        dir: dir.display().to_string(),
        seed: m.spec.seed,
        rows: m.spec.rows,
        partition_by: m.storage.partition_names(),
        formats: m
            .storage
            .formats
            .iter()
            .map(|f| f.name().to_string())
            .collect(),
        compression: m.storage.compression.name().into(),
        row_group_size: m.storage.row_group_size,
        fact_checksum: m
            .table(Table::SalesFact)
            .map(|t| t.content_checksum.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::compare::tests::fabricated;
    use crate::bench::stats::Stats;
    use studies::{Growth, PartitionGrowth, StorageQuery, TableSize};

    fn storage(ratio: f64, speedup: f64, share: f64) -> StorageStudy {
        StorageStudy {
            tables: vec![TableSize {
                table: "sales_fact".into(),
                parquet_bytes: 100,
                csv_bytes: (100.0 * ratio) as u64,
                ratio,
            }],
            total_ratio: ratio,
            queries: vec![StorageQuery {
                id: "column_io".into(),
                parquet_p50_ms: 10.0,
                csv_p50_ms: 10.0 * speedup,
                speedup,
                parquet_bytes_read: Some((share * 1000.0) as u64),
                csv_bytes_read: Some(1000),
                bytes_share: Some(share),
            }],
            size_target_met: targets::compression_met(ratio),
            speedup_target_met: targets::speedup_met(speedup),
            bytes_target_met: targets::bytes_share_met(share),
            chart: None,
        }
    }

    fn scaling(per_doubling: f64, partition_ratio: f64) -> ScalingStudy {
        ScalingStudy {
            points: Vec::new(),
            growth: vec![Growth {
                query: "q".into(),
                per_doubling,
                target_met: targets::growth_met(per_doubling),
            }],
            partition_growth: Some(PartitionGrowth {
                partitions: (12, 24),
                rows: (1, 2),
                p50_ms: (10.0, 10.0 * partition_ratio),
                ratio: partition_ratio,
                target_met: targets::partition_growth_met(partition_ratio),
            }),
            csv: None,
            chart: None,
        }
    }

    fn concurrency(clients: usize, slowdown: f64) -> ConcurrencyCase {
        let s = Stats::of(&[10.0]);
        ConcurrencyCase {
            query: "partition_pruning".into(),
            variant: "partition filter".into(),
            clients,
            via: studies::Clients::Threads,
            single: s,
            concurrent: s,
            slowdown,
            single_qps: 1.0,
            concurrent_qps: 1.0,
            target: Some(targets::MAX_CONCURRENT_SLOWDOWN),
            target_met: Some(targets::slowdown_met(slowdown)),
        }
    }

    fn failed(v: &Verdicts) -> Vec<String> {
        v.failed_targets().iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_study_target_can_pass_and_fail() {
        let r = fabricated(&[("q", &[1.0])]);
        let cores = r.machine.cores;
        assert_eq!(cores, 2);
        // All met.
        let v = judge(
            &r,
            &[],
            vec![Check::new("pruning", true, "")],
            Some(&storage(5.5, 14.0, 0.03)),
            Some(&scaling(1.9, 1.05)),
            Some(&[concurrency(3, 1.6)]),
        );
        assert_eq!(v.targets.len(), 1 + 3 + 2 + 1, "{v:?}");
        assert!(failed(&v).is_empty(), "{v:?}");
        // Each one missed in turn.
        let cases: [(&str, Verdicts); 7] = [
            (
                "Parquet ≥ 5:1",
                judge(&r, &[], vec![], Some(&storage(4.0, 14.0, 0.03)), None, None),
            ),
            (
                "faster",
                judge(&r, &[], vec![], Some(&storage(5.5, 8.0, 0.03)), None, None),
            ),
            (
                "of CSV's bytes",
                judge(&r, &[], vec![], Some(&storage(5.5, 14.0, 0.25)), None, None),
            ),
            (
                "per doubling",
                judge(&r, &[], vec![], None, Some(&scaling(2.7, 1.05)), None),
            ),
            (
                "partitions double",
                judge(&r, &[], vec![], None, Some(&scaling(1.9, 1.4)), None),
            ),
            (
                "at once",
                judge(&r, &[], vec![], None, None, Some(&[concurrency(3, 2.4)])),
            ),
            (
                "pruning",
                judge(
                    &r,
                    &[],
                    vec![Check::new("pruning", false, "")],
                    None,
                    None,
                    None,
                ),
            ),
        ];
        for (what, v) in &cases {
            let f = failed(v);
            assert_eq!(f.len(), 1, "{what}: {v:?}");
            assert!(f[0].contains(what), "{what}: {f:?}");
        }
        // 10 clients on 2 cores: the floor is 5x, so < 2x cannot be judged.
        let v = judge(&r, &[], vec![], None, None, Some(&[concurrency(10, 5.3)]));
        assert!(
            v.targets.is_empty() && v.notes[0].contains("floor is 5.0x"),
            "{v:?}"
        );
    }

    #[test]
    fn sla_misses_and_regressions_are_kept_apart() {
        let mut r = fabricated(&[("a", &[1.0]), ("b", &[1.0])]);
        r.queries[0].sla = Sla::Fail;
        let c = vec![Comparison {
            key: r.queries[1].key(),
            baseline_p50_ms: Some(1.0),
            current_p50_ms: Some(2.0),
            baseline_p95_ms: Some(1.0),
            current_p95_ms: Some(2.0),
            ratio: Some(2.0),
            p_value: Some(0.001),
            threshold: 0.1,
            verdict: Verdict::Regression,
            plan_change: None,
        }];
        let v = judge(&r, &c, vec![], None, None, None);
        assert_eq!(v.sla_misses, [r.queries[0].key()]);
        assert_eq!(v.regressions, [r.queries[1].key()]);
    }
}

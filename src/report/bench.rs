//! `olap benchmark` output: the rounds' percentiles and SLAs, the
//! comparison with a baseline, and the studies, as tables, Markdown or JSON.

use std::path::Path;

use comfy_table::{Cell, Table as Grid};

use super::{OutputFormat, grid, json, met, right};
use crate::bench::BenchOutcome;
use crate::bench::compare::{Comparison, Verdict};
use crate::bench::result::{BenchResult, Sla};
use crate::bench::stats::{MIN_SAMPLES_P95, MIN_SAMPLES_P99, outliers};
use crate::bench::studies::{ConcurrencyCase, ScalingStudy, StorageStudy};
use crate::targets;
use crate::util::{human_bytes, human_count};

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// Latency per query, hyperfine's summary beside the percentiles: mean ±
/// σ and min…max; p95 and p99 only where the sample can carry them.
fn queries_grid(res: &BenchResult, f: OutputFormat) -> Grid {
    let mut g = grid(f);
    g.set_header(vec![
        "query",
        "variant",
        "storage",
        "n",
        "mean ± σ",
        "min … max",
        "p50",
        "p95",
        "p99",
        "p95 target",
        "SLA",
    ]);
    let hidden = |v: Option<f64>| v.map(ms).unwrap_or_else(|| "–".into());
    for q in &res.queries {
        let s = &q.stats;
        g.add_row(vec![
            Cell::new(&q.id),
            Cell::new(&q.variant),
            Cell::new(&q.storage),
            right(s.n.to_string()),
            right(format!("{} ± {}", ms(s.mean), ms(s.stddev))),
            right(format!("{} … {}", ms(s.min), ms(s.max))),
            right(ms(s.p50)),
            right(hidden(s.p95_shown())),
            right(hidden(s.p99_shown())),
            right(q.scaled_target_p95_ms.map(ms).unwrap_or_default()),
            Cell::new(match q.sla {
                Sla::Pass => "pass",
                Sla::Fail => "FAIL",
                Sla::None => "",
            }),
        ]);
    }
    g
}

/// olap beside the plain engine (`--against-plain`): both p50s and olap /
/// plain per round, its median and spread; `None` when it did not run.
fn plain_grid(res: &BenchResult, f: OutputFormat) -> Option<Grid> {
    let rows: Vec<_> = res
        .queries
        .iter()
        .filter_map(|q| q.plain.as_ref().map(|p| (q, p)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut g = grid(f);
    g.set_header(vec![
        "query",
        "variant",
        "olap p50",
        "plain p50",
        "olap / plain",
        "per round (min … max)",
        "",
    ]);
    for (q, p) in rows {
        let r = &p.ratios;
        g.add_row(vec![
            Cell::new(&q.id),
            Cell::new(&q.variant),
            right(ms(q.stats.p50)),
            right(ms(p.stats.p50)),
            right(format!("{:.2}×", r.p50)),
            right(format!("{:.2} … {:.2}", r.min, r.max)),
            // Slower than plain in most rounds, and by more than the spread
            // of one round to the next could explain.
            Cell::new(if r.p50 > 1.05 && r.min > 1.0 {
                "SLOWER"
            } else {
                ""
            }),
        ]);
    }
    Some(g)
}

/// Outlier warnings and the percentiles left out, under the table.
fn sample_notes(res: &BenchResult) -> String {
    let mut s = String::new();
    for q in &res.queries {
        let (lo, hi) = outliers(&q.samples_ms);
        if lo + hi > 0 {
            s.push_str(&format!(
                "warning: {}: {} of {} rounds are statistical outliers ({} slow, {} fast): another process may have interfered; rerun on an idle machine\n",
                q.key(),
                lo + hi,
                q.stats.n,
                hi,
                lo
            ));
        }
    }
    if res.queries.iter().any(|q| q.stats.p95_shown().is_none()) {
        s.push_str(&format!(
            "–: not shown for fewer than {MIN_SAMPLES_P95} rounds (p95) or {MIN_SAMPLES_P99} (p99); the SLA still uses p95.\n"
        ));
    }
    s
}

fn comparison_grid(c: &[Comparison], f: OutputFormat) -> Grid {
    let mut g = grid(f);
    let plans = c.iter().any(|x| x.plan_change.is_some());
    let mut header = vec![
        "query",
        "baseline p50",
        "p50",
        "change",
        "p (Mann-Whitney)",
        "verdict",
    ];
    if plans {
        header.push("ran differently");
    }
    g.set_header(header);
    for x in c {
        let mut row = vec![
            Cell::new(&x.key),
            right(x.baseline_p50_ms.map(ms).unwrap_or_default()),
            right(x.current_p50_ms.map(ms).unwrap_or_default()),
            right(
                x.ratio
                    .map(|v| format!("{:+.1}%", (v - 1.0) * 100.0))
                    .unwrap_or_default(),
            ),
            right(x.p_value.map(|p| format!("{p:.3}")).unwrap_or_default()),
            Cell::new(match x.verdict {
                Verdict::Regression => "REGRESSION",
                Verdict::Improvement => "improvement",
                Verdict::Unchanged => "unchanged",
                Verdict::New => "new",
                Verdict::Missing => "missing",
            }),
        ];
        if plans {
            row.push(Cell::new(x.plan_change.as_deref().unwrap_or("")));
        }
        g.add_row(row);
    }
    g
}

/// The verdicts, each kind apart.
fn verdicts(o: &BenchOutcome, f: OutputFormat) -> String {
    let v = &o.verdicts;
    let mut s = String::new();
    if !v.targets.is_empty() {
        let mut g = grid(f);
        g.set_header(vec!["target", "", "measured"]);
        for c in &v.targets {
            g.add_row(vec![
                Cell::new(&c.name),
                Cell::new(if c.passed { "met" } else { "NOT met" }),
                Cell::new(&c.detail),
            ]);
        }
        s.push_str(&format!("\nTargets\n\n{g}\n\n"));
    }
    for n in &v.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    s.push_str(&format!(
        "SLA misses: {} · regressions: {} · targets missed: {}\n",
        list(&v.sla_misses),
        if o.comparisons.is_empty() {
            "no baseline".to_string()
        } else {
            list(&v.regressions)
        },
        list(
            &v.failed_targets()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        )
    ));
    s
}

/// The studies' tables and verdicts (also used by `olap demo`).
pub fn studies(
    storage: Option<&StorageStudy>,
    scaling: Option<&ScalingStudy>,
    conc: Option<&[ConcurrencyCase]>,
    f: OutputFormat,
) -> String {
    let mut s = String::new();
    // Markdown needs blank lines around tables and a heading per study.
    let md = f == OutputFormat::Markdown;
    let gap = if md { "\n" } else { "" };
    let title = |t: &str| {
        if md {
            format!("\n### {t}\n\n")
        } else {
            format!("\n{t}\n")
        }
    };
    if let Some(st) = storage {
        s.push_str(&title("Storage: Parquet vs CSV"));
        let mut g = grid(f);
        g.set_header(vec!["table", "parquet", "csv", "csv : parquet"]);
        for t in &st.tables {
            g.add_row(vec![
                Cell::new(&t.table),
                right(human_bytes(t.parquet_bytes)),
                right(human_bytes(t.csv_bytes)),
                right(format!("{:.1} : 1", t.ratio)),
            ]);
        }
        s.push_str(&format!(
            "{g}\n{gap}size ratio {:.1} : 1 (target ≥ {} : 1: {})\n",
            st.total_ratio,
            targets::MIN_COMPRESSION_RATIO,
            met(st.size_target_met)
        ));
        let mut g = grid(f);
        g.set_header(vec![
            "query",
            "parquet p50",
            "csv p50",
            "speedup",
            "parquet read",
            "csv read",
            "share",
        ]);
        for q in &st.queries {
            g.add_row(vec![
                Cell::new(&q.id),
                right(ms(q.parquet_p50_ms)),
                right(ms(q.csv_p50_ms)),
                right(format!("{:.1}x", q.speedup)),
                right(q.parquet_bytes_read.map(human_bytes).unwrap_or_default()),
                right(q.csv_bytes_read.map(human_bytes).unwrap_or_default()),
                right(
                    q.bytes_share
                        .map(|x| format!("{:.1}%", x * 100.0))
                        .unwrap_or_default(),
                ),
            ]);
        }
        s.push_str(&format!(
            "{g}\n{gap}speedup ≥ {}x on every query: {} · Parquet reads < {}% of CSV's bytes: {}\n",
            targets::MIN_PARQUET_SPEEDUP,
            met(st.speedup_target_met),
            targets::MAX_PARQUET_BYTES_SHARE * 100.0,
            met(st.bytes_target_met)
        ));
        if let Some(c) = &st.chart {
            s.push_str(&format!("chart: {c}\n"));
        }
    }
    if let Some(sc) = scaling {
        s.push_str(&title("Scaling"));
        let mut g = grid(f);
        g.set_header(vec!["query", "rows", "partitions", "p50", "p95"]);
        for p in &sc.points {
            g.add_row(vec![
                Cell::new(&p.query),
                right(human_count(p.rows)),
                right(p.partitions.to_string()),
                right(ms(p.stats.p50)),
                right(ms(p.stats.p95)),
            ]);
        }
        s.push_str(&format!("{g}\n{gap}"));
        for gr in &sc.growth {
            s.push_str(&format!(
                "{}: latency x{:.2} per doubling of the data (target < {}: {})\n",
                gr.query,
                gr.per_doubling,
                targets::MAX_GROWTH_PER_DOUBLING,
                met(gr.target_met)
            ));
        }
        if let Some(pg) = &sc.partition_growth {
            s.push_str(&format!(
                "partition-filtered query on {} vs {} partitions ({} vs {} rows): {} vs {} p50, x{:.2} (constant: < x{}: {})\n",
                pg.partitions.0,
                pg.partitions.1,
                human_count(pg.rows.0),
                human_count(pg.rows.1),
                ms(pg.p50_ms.0),
                ms(pg.p50_ms.1),
                pg.ratio,
                targets::MAX_PARTITION_GROWTH,
                met(pg.target_met)
            ));
        }
        if let (Some(c), Some(v)) = (&sc.csv, &sc.chart) {
            s.push_str(&format!("curve: {c} · chart: {v}\n"));
        }
    }
    if let Some(cases) = conc {
        s.push_str(&title("Concurrency"));
        let mut g = grid(f);
        g.set_header(vec![
            "query",
            "variant",
            "clients",
            "via",
            "alone p50",
            "together p50",
            "together p95",
            "slowdown",
            "qps alone",
            "qps together",
            "target",
        ]);
        for c in cases {
            g.add_row(vec![
                Cell::new(&c.query),
                Cell::new(&c.variant),
                right(c.clients.to_string()),
                Cell::new(c.via.name()),
                right(ms(c.single.p50)),
                right(ms(c.concurrent.p50)),
                right(ms(c.concurrent.p95)),
                right(format!("{:.2}x", c.slowdown)),
                right(format!("{:.1}", c.single_qps)),
                right(format!("{:.1}", c.concurrent_qps)),
                Cell::new(match (c.target, c.target_met) {
                    (Some(t), Some(m)) => format!("< {t:.0}x: {}", met(m)),
                    _ => "throughput only".into(),
                }),
            ]);
        }
        s.push_str(&format!("{g}\n{gap}"));
        s.push_str("Full scans are CPU-bound: N at once share the same cores, so each takes about N times as long; throughput is the honest measure.\n");
    }
    s
}

fn header(res: &BenchResult) -> String {
    format!(
        "olap {}{} · DuckDB {} · {} cores, {} · {} fact rows ({}) · {} rounds after {} warm-up · {} threads\n",
        res.olap_version,
        res.build
            .as_deref()
            .filter(|b| *b != "plain")
            .map(|b| format!(" ({b} build)"))
            .unwrap_or_default(),
        res.duckdb_version,
        res.machine.cores,
        human_bytes(res.machine.memory_bytes),
        human_count(res.data_set.rows),
        if res.data_set.partition_by.is_empty() {
            "unpartitioned".into()
        } else {
            res.data_set.partition_by.join(",")
        },
        res.settings.rounds,
        res.settings.warmup,
        res.settings.threads
    )
}

/// The benchmark outcome in `format`.
pub fn render(o: &BenchOutcome, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => json(o) + "\n",
        OutputFormat::Markdown => markdown(o),
        OutputFormat::Table | OutputFormat::Csv => table(o),
    }
}

/// Which baseline, how it differs, where this run was saved.
fn provenance(o: &BenchOutcome) -> String {
    let mut s = String::new();
    if let Some(b) = &o.baseline {
        s.push_str(&format!("baseline: {b}\n"));
        if !o.baseline_differences.is_empty() {
            s.push_str(&format!(
                "warning: compared across differences (--allow-different-env): {}\n",
                o.baseline_differences.join("; ")
            ));
        }
    }
    if let Some(p) = &o.saved_to {
        s.push_str(&format!("run saved to {p}\n"));
    }
    s
}

fn table(o: &BenchOutcome) -> String {
    let res = &o.result;
    let f = OutputFormat::Table;
    let mut s = header(res);
    s.push_str(&format!("{}\n", queries_grid(res, f)));
    s.push_str(&sample_notes(res));
    if let Some(rule) = targets::scaling_rule(res.data_set.rows) {
        s.push_str(&format!("{rule}\n"));
    }
    if let Some(g) = plain_grid(res, f) {
        s.push_str(&format!(
            "\nAgainst the plain engine (same DuckDB, plain read_parquet views; alternate rounds)\n{g}\n"
        ));
    }
    if !o.comparisons.is_empty() {
        s.push_str(&format!(
            "\nAgainst the baseline\n{}\n",
            comparison_grid(&o.comparisons, f)
        ));
    }
    s.push_str(&studies(
        o.storage.as_ref(),
        o.scaling.as_ref(),
        o.concurrency.as_deref(),
        f,
    ));
    if !o.skipped.is_empty() {
        s.push_str(&format!(
            "skipped (need CSV: generate with --format both): {}\n",
            o.skipped.join(", ")
        ));
    }
    s.push_str(&verdicts(o, f));
    s.push_str(&provenance(o));
    s
}

/// The Markdown report.
fn markdown(o: &BenchOutcome) -> String {
    let res = &o.result;
    let f = OutputFormat::Markdown;
    let mut s = format!(
        "# olap benchmark\n\n{}\n{}\n\n{}",
        header(res),
        queries_grid(res, f),
        sample_notes(res)
    );
    if let Some(rule) = targets::scaling_rule(res.data_set.rows) {
        s.push_str(&format!("\n{rule}\n"));
    }
    if let Some(g) = plain_grid(res, f) {
        s.push_str(&format!(
            "\n## Against the plain engine\n\nThe same DuckDB over plain `read_parquet` views, in alternate rounds.\n\n{g}\n"
        ));
    }
    if !o.comparisons.is_empty() {
        s.push_str(&format!(
            "\n## Against the baseline\n\n{}\n",
            comparison_grid(&o.comparisons, f)
        ));
    }
    let text = studies(
        o.storage.as_ref(),
        o.scaling.as_ref(),
        o.concurrency.as_deref(),
        f,
    );
    if !text.is_empty() {
        s.push_str(&format!("\n## Studies\n{text}"));
    }
    if let Some(sc) = &o.scaling
        && let Some(chart) = &sc.chart
    {
        let name = Path::new(chart)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        s.push_str(&format!("\n![p50 latency against data size]({name})\n"));
    }
    s.push_str(&format!("\n## Verdicts\n{}", verdicts(o, f)));
    s.push_str(&format!("\n{}", provenance(o)));
    s
}

//! One self-contained HTML page per benchmark run (and for the demo):
//! inline CSS and SVG, no script, no network, opens from disk. Per query:
//! every round's latency with p50, p95 and the target, the baseline beside
//! it, the plan as an icicle chart and the partitions read; then the
//! studies and the run's environment.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bench::BenchOutcome;
use crate::bench::chart::{self, Icicle};
use crate::bench::compare::Verdict;
use crate::bench::result::{QueryResult, Sla};
use crate::query::profile::{Operator, Profile};
use crate::storage::layout::partition_values;
use crate::targets;
use crate::util::{human_bytes, human_count};

/// An SVG for inline use: HTML needs no namespace attribute, and the page
/// then names no URL at all.
pub(crate) fn inline(svg: String) -> String {
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "")
}

/// The page's file name inside the report directory.
pub const INDEX: &str = "index.html";

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:980px;padding:24px;color:#222}
h1{font-size:26px;margin:0 0 4px}h2{margin-top:40px;border-bottom:2px solid #eee;padding-bottom:4px}h3{margin:28px 0 6px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#2c7a2c;font-weight:600}.fail{color:#c62828;font-weight:700}
.muted{color:#777}section.query{border:1px solid #eee;border-radius:8px;padding:4px 16px 12px;margin:18px 0}
svg{max-width:100%;height:auto;display:block;margin:6px 0}code{background:#f5f5f5;padding:1px 4px;border-radius:3px}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}";

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An id for an anchor: letters, digits and dashes.
fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1e3)
    } else {
        format!("{v:.1} ms")
    }
}

/// Index into the chart palette by operator kind.
fn kind(op: &Operator) -> usize {
    let n = op.name.as_str();
    if op.is_scan() {
        2
    } else if op.is_window() {
        3
    } else if n.contains("JOIN") {
        0
    } else if n.contains("GROUP") || n.contains("AGGREGATE") {
        4
    } else if n == "ORDER_BY" || n == "TOP_N" {
        1
    } else {
        5
    }
}

fn subtree_ms(op: &Operator) -> f64 {
    op.timing_ms + op.children.iter().map(subtree_ms).sum::<f64>()
}

/// Lays out `op`'s subtree in `start..end`; pass-through projections are
/// drawn as their input, as in the text tree.
fn lay_out(
    mut op: &Operator,
    start: f64,
    end: f64,
    depth: usize,
    total_ms: f64,
    out: &mut Vec<Icicle>,
) {
    while op.is_pass_through(total_ms) {
        op = &op.children[0];
    }
    let rows_in: u64 = op.children.iter().map(|c| c.rows).sum();
    let mut label = format!(
        "{} {:.1} ms · {} rows",
        op.name,
        op.timing_ms,
        human_count(op.rows)
    );
    if !op.children.is_empty() && op.name != "UNION" {
        let _ = write!(label, " (in {})", human_count(rows_in));
    }
    if let Some(p) = op.scan_partition() {
        let _ = write!(label, " · {p}");
    } else if let Some(t) = op.scan_table() {
        let _ = write!(label, " · {t}");
    }
    if let Some(f) = op.scan_files() {
        let _ = write!(label, " · files {f}");
    }
    out.push(Icicle {
        start,
        end,
        depth,
        label,
        kind: kind(op),
    });
    let total: f64 = op.children.iter().map(subtree_ms).sum();
    let mut at = start;
    for c in &op.children {
        let share = if total > 0.0 {
            subtree_ms(c) / total
        } else {
            1.0 / op.children.len() as f64
        };
        let next = at + (end - start) * share;
        lay_out(c, at, next, depth + 1, total_ms, out);
        at = next;
    }
}

/// The plan as icicle boxes, the roots side by side.
pub fn icicle(p: &Profile) -> Vec<Icicle> {
    let mut out = Vec::new();
    let total: f64 = p.operators.iter().map(subtree_ms).sum();
    let mut at = 0.0;
    for op in &p.operators {
        let share = if total > 0.0 {
            subtree_ms(op) / total
        } else {
            1.0 / p.operators.len() as f64
        };
        lay_out(op, at, at + share, 0, total, &mut out);
        at += share;
    }
    out
}

/// The data set's partitions with those `p` read: (row, column, read).
fn partition_cells(all: &[String], p: &Profile) -> Vec<(String, String, bool)> {
    all.iter()
        .map(|dir| {
            let keys = partition_values(dir);
            let row = keys.first().map(|k| k.1.to_string()).unwrap_or_default();
            let col = keys
                .iter()
                .skip(1)
                .map(|(k, v)| format!("{}{v}", &k.name()[..1].to_uppercase()))
                .collect::<Vec<_>>()
                .join(" ");
            let read = p.scanned_partitions.iter().any(|s| s == dir);
            (row, if col.is_empty() { "all".into() } else { col }, read)
        })
        .collect()
}

fn legend(out: &mut String) {
    let items = [
        (0, "join"),
        (4, "aggregate"),
        (2, "scan"),
        (3, "window"),
        (1, "sort / top-N"),
        (5, "other"),
    ];
    out.push_str("<p class=\"legend muted\">");
    for (i, name) in items {
        let c = chart::PALETTE[i];
        let _ = write!(
            out,
            "<span><i class=\"sw\" style=\"background:rgba({},{},{},.55)\"></i>{name}</span>",
            c.0, c.1, c.2
        );
    }
    out.push_str("</p>");
}

fn query_section(o: &BenchOutcome, q: &QueryResult, out: &mut String) -> Result<()> {
    let key = q.key();
    let _ = write!(
        out,
        "<section class=\"query\" id=\"{}\"><h3>{}</h3>",
        anchor(&key),
        esc(&key)
    );
    let verdict = match q.sla {
        Sla::Pass => "<span class=\"pass\">SLA pass</span>".to_string(),
        Sla::Fail => "<span class=\"fail\">SLA FAIL</span>".to_string(),
        Sla::None => "<span class=\"muted\">no latency target</span>".to_string(),
    };
    let s = &q.stats;
    let _ = write!(
        out,
        "<p>{verdict} · n {} · p50 {} · p95 {} · mean {} ± {} · min … max {} … {}{}</p>",
        s.n,
        ms(s.p50),
        s.p95_shown()
            .map(ms)
            .unwrap_or_else(|| "– (too few rounds)".into()),
        ms(s.mean),
        ms(s.stddev),
        ms(s.min),
        ms(s.max),
        q.scaled_target_p95_ms
            .map(|t| format!(" · p95 target {}", ms(t)))
            .unwrap_or_default()
    );
    let base = o
        .baseline_result
        .as_ref()
        .and_then(|b| b.queries.iter().find(|b| b.key() == key));
    let mut runs: Vec<(&str, &[f64])> = vec![("this run", &q.samples_ms)];
    if let Some(b) = base {
        runs.push(("baseline", &b.samples_ms));
    }
    out.push_str(&inline(chart::strip_svg(
        &runs,
        s.p50,
        s.p95_shown(),
        q.scaled_target_p95_ms,
    )?));
    if let Some(c) = o.comparisons.iter().find(|c| c.key == key) {
        let cls = match c.verdict {
            Verdict::Regression => "fail",
            Verdict::Improvement => "pass",
            _ => "muted",
        };
        let _ = write!(
            out,
            "<p>Against the baseline: <span class=\"{cls}\">{:?}</span>{}{}{}</p>",
            c.verdict,
            c.ratio
                .map(|r| format!(" · median {:+.1}%", (r - 1.0) * 100.0))
                .unwrap_or_default(),
            c.p_value
                .map(|p| format!(
                    " · Mann-Whitney p = {p:.3} (confidence {:.1}%)",
                    (1.0 - p) * 100.0
                ))
                .unwrap_or_default(),
            c.plan_change
                .as_deref()
                .map(|p| format!(" · ran differently: {}", esc(p)))
                .unwrap_or_default()
        );
    }
    if let Some((_, p)) = o.profiles.iter().find(|(k, _)| *k == key) {
        let mut read = Vec::new();
        if let (Some(a), Some(b)) = (p.fact_files_scanned, Some(p.fact_files_total)) {
            read.push(format!("fact files {a}/{b}"));
        }
        if let (Some(a), Some(b)) = (p.row_groups_scanned, p.row_groups_to_scan) {
            read.push(format!("row groups {a}/{b}"));
        }
        if let Some(r) = p.rows_scanned {
            read.push(format!("rows scanned {}", human_count(r)));
        }
        if let Some(b) = p.bytes_read {
            read.push(format!("read {}", human_bytes(b)));
        }
        let _ = write!(
            out,
            "<p><b>Plan</b> <span class=\"muted\">(one profiled execution: {} · {} · each box as wide as its share of the time, children below their parent)</span></p>",
            ms(p.total_ms),
            read.join(" · ")
        );
        out.push_str(&inline(chart::icicle_svg(&icicle(p))?));
        if p.partitions_total > 0 && !o.partitions.is_empty() {
            let _ = write!(
                out,
                "<p><b>Partitions read</b>: {}</p>",
                esc(&p.pruning_line().unwrap_or_default())
            );
            out.push_str(&inline(chart::partition_grid_svg(&partition_cells(
                &o.partitions,
                p,
            ))?));
        }
    }
    out.push_str("</section>");
    Ok(())
}

fn studies(o: &BenchOutcome, out: &mut String) -> Result<()> {
    if let Some(st) = &o.storage {
        out.push_str("<h2 id=\"storage\">Storage: Parquet vs CSV</h2><table><tr><th>table</th><th class=n>Parquet</th><th class=n>CSV</th><th class=n>CSV : Parquet</th></tr>");
        for t in &st.tables {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:.1} : 1</td></tr>",
                esc(&t.table),
                human_bytes(t.parquet_bytes),
                human_bytes(t.csv_bytes),
                t.ratio
            );
        }
        out.push_str("</table>");
        let sizes: Vec<(String, f64)> = st
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.ratio))
            .collect();
        out.push_str(&inline(chart::bar_svg(
            "CSV bytes per Parquet byte",
            "CSV : Parquet",
            &sizes,
            Some((
                targets::MIN_COMPRESSION_RATIO,
                "target ≥ 5 : 1 (whole data set)",
            )),
        )?));
        let speed: Vec<(String, f64)> = st
            .queries
            .iter()
            .map(|q| (q.id.replace('_', " "), q.speedup))
            .collect();
        out.push_str(&inline(chart::bar_svg(
            "Parquet speed-up over CSV (p50, same query)",
            "times faster",
            &speed,
            Some((targets::MIN_PARQUET_SPEEDUP, "target ≥ 10x")),
        )?));
        let share: Vec<(String, f64)> = st
            .queries
            .iter()
            .filter_map(|q| Some((q.id.replace('_', " "), q.bytes_share? * 100.0)))
            .collect();
        if !share.is_empty() {
            out.push_str(&inline(chart::bar_svg(
                "Bytes read from Parquet, % of CSV's",
                "% of CSV's bytes",
                &share,
                Some((targets::MAX_PARQUET_BYTES_SHARE * 100.0, "target < 20%")),
            )?));
        }
    }
    if let Some(sc) = &o.scaling {
        out.push_str("<h2 id=\"scaling\">Scaling</h2>");
        let mut series: Vec<(String, Vec<(u64, f64)>)> = Vec::new();
        for p in &sc.points {
            match series.iter_mut().find(|s| s.0 == p.query) {
                Some(s) => s.1.push((p.rows, p.stats.p50)),
                None => series.push((p.query.clone(), vec![(p.rows, p.stats.p50)])),
            }
        }
        out.push_str(&inline(chart::latency_svg(
            "p50 latency against data size",
            &series,
            targets::MAX_GROWTH_PER_DOUBLING,
        )?));
    }
    if let Some(cases) = &o.concurrency {
        out.push_str("<h2 id=\"concurrency\">Concurrency</h2>");
        let bars: Vec<(String, f64)> = cases
            .iter()
            .map(|c| {
                (
                    format!(
                        "{} x{} ({})",
                        c.query.replace('_', " "),
                        c.clients,
                        c.via.name()
                    ),
                    c.slowdown,
                )
            })
            .collect();
        out.push_str(&inline(chart::bar_svg(
            "Slowdown: N at once vs alone (p50)",
            "times slower",
            &bars,
            Some((
                targets::MAX_CONCURRENT_SLOWDOWN,
                "target < 2x (partition-filtered)",
            )),
        )?));
        out.push_str("<table><tr><th>query</th><th class=n>clients</th><th>via</th><th class=n>qps alone</th><th class=n>qps together</th></tr>");
        for c in cases {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{:.1}</td><td class=n>{:.1}</td></tr>",
                esc(&c.query),
                c.clients,
                c.via.name(),
                c.single_qps,
                c.concurrent_qps
            );
        }
        out.push_str("</table>");
    }
    Ok(())
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    )
}

/// A page of its own around `body` (HTML), with the report's style.
pub fn page_shell(title: &str, body: &str) -> String {
    format!(
        "{}<h1>{}</h1>{body}</body></html>\n",
        head(title),
        esc(title)
    )
}

/// The page for a benchmark outcome.
pub fn page(o: &BenchOutcome, title: &str) -> Result<String> {
    let r = &o.result;
    let mut out = head(title);
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"muted\">{} · olap {} ({} build) · DuckDB {}</p>",
        esc(title),
        esc(&r.created_at),
        esc(&r.olap_version),
        esc(r.build.as_deref().unwrap_or("unrecorded")),
        esc(&r.duckdb_version)
    );
    let v = &o.verdicts;
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            esc(&l.join(", "))
        }
    };
    let failed = v.failed_targets();
    let _ = write!(
        out,
        "<h2>Verdicts</h2><p>SLA misses: <b>{}</b> · regressions: <b>{}</b> · targets missed: <b>{}</b></p>",
        list(&v.sla_misses),
        if o.comparisons.is_empty() {
            "no baseline".to_string()
        } else {
            list(&v.regressions)
        },
        if failed.is_empty() {
            "none".to_string()
        } else {
            esc(&failed.join(", "))
        }
    );
    if !v.targets.is_empty() {
        out.push_str("<table><tr><th>target</th><th></th><th>measured</th></tr>");
        for c in &v.targets {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(&c.name),
                if c.passed { "pass" } else { "fail" },
                if c.passed { "met" } else { "NOT met" },
                esc(&c.detail)
            );
        }
        out.push_str("</table>");
    }
    for n in &v.notes {
        let _ = write!(out, "<p class=\"muted\">{}</p>", esc(n));
    }
    out.push_str("<h2>Queries</h2>");
    if !o.profiles.is_empty() {
        legend(&mut out);
    }
    for q in &r.queries {
        query_section(o, q, &mut out)?;
    }
    studies(o, &mut out)?;
    let m = &r.machine;
    let d = &r.data_set;
    let _ = write!(
        out,
        "<h2 id=\"environment\">Environment</h2><table>\
<tr><td>machine</td><td>{} · {} cores · {} · {} {}</td></tr>\
<tr><td>threads</td><td>{}</td></tr>\
<tr><td>data set</td><td>{} fact rows · seed {} · partitioned by {} · {} · {}-row groups · fact checksum <code>{}</code></td></tr>\
<tr><td>rounds</td><td>{} after {} warm-up</td></tr>\
<tr><td>baseline</td><td>{}</td></tr>\
<tr><td>saved as</td><td>{}</td></tr></table>",
        esc(&m.cpu),
        m.cores,
        human_bytes(m.memory_bytes),
        esc(&m.os),
        esc(&m.kernel),
        r.settings.threads,
        human_count(d.rows),
        d.seed,
        esc(&d.partition_by.join(",")),
        esc(&d.compression),
        d.row_group_size,
        esc(&d.fact_checksum),
        r.settings.rounds,
        r.settings.warmup,
        esc(o.baseline.as_deref().unwrap_or("none")),
        esc(o.saved_to.as_deref().unwrap_or("not saved"))
    );
    out.push_str("</body></html>\n");
    Ok(out)
}

/// Writes the page as `dir/index.html`.
pub fn write(dir: &Path, o: &BenchOutcome, title: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(INDEX);
    std::fs::write(&path, page(o, title)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

//! `olap analyze` output: the catalog list, results, the executed plan as
//! an operator tree with time and rows per operator, scan metrics, pruning
//! and window operators; as a table, Markdown or JSON.

use comfy_table::Cell;
use serde::Serialize;

use super::{OutputFormat, grid, json, plural, right};
use crate::query::analyze::{Report, RewriteExplanation};
use crate::query::catalog::{self, ADHOC_SUITE, CATALOG, Expectation, Params, Suite};
use crate::query::profile::{Operator, Profile};
use crate::query::run::{QueryRun, VariantRun};
use crate::util::{human_bytes, human_count, human_secs};

/// The report in `format`; `max_rows` result rows per query in tables.
pub fn render(r: &Report, format: OutputFormat, max_rows: usize) -> String {
    match format {
        OutputFormat::Json => json(r) + "\n",
        OutputFormat::Markdown => markdown(r),
        OutputFormat::Table => table(r, max_rows),
        OutputFormat::Csv => csv(r),
    }
}

/// How olap would run a SQL text (`--explain-rewrite`): JSON, or a
/// two-column grid (table and Markdown) followed by the SQL DuckDB runs.
pub fn render_rewrite(e: &RewriteExplanation, format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return json(e) + "\n";
    }
    let mut g = grid(format);
    g.set_header(vec!["", "how olap runs it"]);
    let rewrite = match (&e.rewrite, &e.refused) {
        (Some(r), _) => r.clone(),
        (None, Some(why)) => format!("none: the guard refused it ({why})"),
        (None, None) => "none applies: the SQL runs as written".to_string(),
    };
    g.add_row(vec!["rewrites".to_string(), rewrite]);
    if let Some(b) = e.budget_ms {
        g.add_row(vec![
            "guard".to_string(),
            format!("the rewrite may run {b:.0} ms, then the SQL as written runs instead"),
        ]);
    }
    if let (Some(v), Some(why)) = (&e.fact_view, &e.fact_view_reason) {
        g.add_row(vec!["fact view".to_string(), format!("{v} ({why})")]);
    }
    let sql = e.runs.trim();
    if format == OutputFormat::Markdown {
        format!("{g}\n\nDuckDB runs:\n\n```sql\n{sql}\n```\n")
    } else {
        format!("{g}\nDuckDB runs:\n  {sql}\n")
    }
}

/// The first query's result as CSV (one query: the command line checks).
fn csv(r: &Report) -> String {
    let quote = |v: &str| {
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    let Some(run) = r.queries.first().and_then(|q| q.runs.first()) else {
        return String::new();
    };
    let mut s = run
        .result
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for row in &run.result.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| quote(v.as_deref().unwrap_or("")))
            .collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

/// The catalog, in `format`.
pub fn list(format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Entry<'a> {
                id: &'a str,
                /// "catalog" or "adhoc".
                suite: &'a str,
                story: &'a str,
                title: &'a str,
                about: &'a str,
                parameters: Vec<(&'a str, &'a str)>,
                target: String,
                target_p95_ms: Option<u64>,
                variants: Vec<&'a str>,
                /// SQL of each variant with default parameters.
                sql: Vec<String>,
                storages: Vec<&'a str>,
            }
            let list: Vec<Entry> = Suite::All
                .specs()
                .into_iter()
                .map(|q| Entry {
                    id: q.id,
                    suite: if q.expect == Expectation::Peers {
                        "adhoc"
                    } else {
                        "catalog"
                    },
                    story: q.story,
                    title: q.title,
                    about: q.about,
                    parameters: q.params().iter().map(|p| (p.name, p.default)).collect(),
                    target: q.expect.describe(),
                    target_p95_ms: q.target_ms(),
                    variants: q.variants.iter().map(|v| v.name).collect(),
                    sql: (0..q.variants.len())
                        .map(|vi| catalog::render(q, vi, &Params::default()))
                        .collect(),
                    storages: q.storages.iter().map(|s| s.name()).collect(),
                })
                .collect();
            json(&list) + "\n"
        }
        OutputFormat::Markdown => catalog_markdown(),
        OutputFormat::Table | OutputFormat::Csv => {
            let mut g = grid(format);
            g.set_header(vec![
                "id",
                "story",
                "what",
                "parameters (default)",
                "target",
            ]);
            for q in &CATALOG {
                let params = q
                    .params()
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.default))
                    .collect::<Vec<_>>()
                    .join(" ");
                g.add_row(vec![
                    q.id.to_string(),
                    q.story.to_string(),
                    q.title.to_string(),
                    params,
                    q.expect.describe(),
                ]);
            }
            let mut a = grid(format);
            a.set_header(vec!["id", "question (written the obvious way)"]);
            for q in &ADHOC_SUITE {
                a.add_row(vec![q.id, q.title]);
            }
            format!(
                "{g}\nAd-hoc suite (--suite adhoc): questions as an analyst writes them, timed against other engines\n{a}\n"
            )
        }
    }
}

/// The catalog as Markdown: every entry with its SQL (default parameters).
/// docs/query-catalog.md starts with exactly this; a test keeps them equal.
pub fn catalog_markdown() -> String {
    let mut s = String::new();
    s.push_str("| id | story | what | target |\n|---|---|---|---|\n");
    for q in &CATALOG {
        s.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            q.id,
            q.id,
            q.story,
            q.title,
            q.expect.describe()
        ));
    }
    for q in &CATALOG {
        s.push_str(&format!(
            "\n## {}\n\n**{}** ({}). {}\n\n",
            q.id,
            q.title,
            q.story,
            q.about
                .replace("{window}", &Params::default().int("window").to_string())
        ));
        let params = q.params();
        if !params.is_empty() {
            s.push_str("Parameters: ");
            s.push_str(
                &params
                    .iter()
                    .map(|p| format!("`{}` ({}, default `{}`)", p.name, p.help, p.default))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            s.push_str(".\n\n");
        }
        s.push_str(&format!(
            "Target: {}. Runs on: {}.\n",
            q.expect.describe(),
            q.storages
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        for (vi, v) in q.variants.iter().enumerate() {
            if q.variants.len() > 1 {
                s.push_str(&format!("\nVariant *{}*:\n", v.name));
            }
            s.push_str(&format!(
                "\n```sql\n{}\n```\n",
                catalog::render(q, vi, &Params::default())
            ));
        }
    }
    s.push_str(
        "\n## Ad-hoc suite\n\nQuestions as an analyst writes them: join the dimensions, then filter and \
aggregate (`--suite adhoc`). No targets of their own: `scripts/peers.py` times them against other \
engines on the same files and checks every answer.\n",
    );
    for q in &ADHOC_SUITE {
        s.push_str(&format!(
            "\n### {}\n\n{}.\n\n```sql\n{}\n```\n",
            q.id,
            q.title,
            catalog::render(q, 0, &Params::default())
        ));
    }
    s
}

/// One line of an operator's most telling details.
fn summary(op: &Operator) -> String {
    let d = &op.details;
    let mut parts = Vec::new();
    if op.is_scan() {
        parts.extend(op.scan_table());
        if let Some(p) = op.scan_partition() {
            parts.push(p);
        }
        if let Some(f) = op.scan_files() {
            parts.push(format!("files {f}"));
        }
        for (label, v) in op.scan_filters() {
            parts.push(format!("{label}: {v}"));
        }
    }
    for k in [
        "Join Type",
        "Conditions",
        "Groups",
        "Aggregates",
        "Function",
    ] {
        if let Some(v) = d.get(k).filter(|_| !op.is_scan() || k != "Function") {
            parts.push(v.clone());
        }
    }
    let s = parts.join("  ");
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(89).collect::<String>())
    } else {
        s
    }
}

/// A union's branches the optimizer proved empty (partitions a filter
/// excludes by their statistics) are one line, not one each.
fn is_pruned(op: &Operator) -> bool {
    op.name == "EMPTY_RESULT" && op.children.is_empty()
}

/// A projection that only passes rows on (one input, no measurable time)
/// says nothing: the tree shows its input in its place.
fn skip_pass_through<'a>(mut op: &'a Operator, total_ms: f64, hidden: &mut usize) -> &'a Operator {
    while op.is_pass_through(total_ms) {
        *hidden += 1;
        op = &op.children[0];
    }
    op
}

fn tree(
    ops: &[Operator],
    total_ms: f64,
    prefix: &str,
    out: &mut Vec<[String; 5]>,
    hidden: &mut usize,
) {
    let ops: Vec<&Operator> = ops
        .iter()
        .map(|o| skip_pass_through(o, total_ms, hidden))
        .collect();
    let pruned = ops.iter().filter(|o| is_pruned(o)).count();
    let shown: Vec<&Operator> = ops.into_iter().filter(|o| !is_pruned(o)).collect();
    let lines = shown.len() + usize::from(pruned > 0);
    let root = prefix.is_empty() && lines == 1;
    let branch = |i: usize| {
        if root {
            ""
        } else if i + 1 == lines {
            "└─ "
        } else {
            "├─ "
        }
    };
    for (i, op) in shown.iter().enumerate() {
        let star = if op.is_window() { "★ " } else { "" };
        let share = if total_ms > 0.0 {
            format!("{:.0}%", 100.0 * op.timing_ms / total_ms)
        } else {
            String::new()
        };
        out.push([
            format!("{prefix}{}{star}{}", branch(i), op.name),
            format!("{:.1} ms", op.timing_ms),
            share,
            human_count(op.rows),
            summary(op),
        ]);
        let child_prefix = if root {
            String::new()
        } else {
            format!("{prefix}{}", if i + 1 == lines { "   " } else { "│  " })
        };
        tree(&op.children, total_ms, &child_prefix, out, hidden);
    }
    if pruned > 0 {
        out.push([
            format!("{prefix}{}{pruned} × EMPTY_RESULT", branch(lines - 1)),
            String::new(),
            String::new(),
            String::new(),
            format!(
                "{pruned} {} pruned by statistics",
                plural(pruned, "partition")
            ),
        ]);
    }
}

pub fn plan_tree(p: &Profile) -> String {
    let mut rows = Vec::new();
    let total: f64 = p
        .operators
        .iter()
        .flat_map(|o| o.walk())
        .map(|o| o.timing_ms)
        .sum();
    let mut hidden = 0;
    tree(&p.operators, total, "", &mut rows, &mut hidden);
    let w0 = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    let w3 = rows.iter().map(|r| r[3].len()).max().unwrap_or(0);
    let mut s = format!(
        "{:w0$}  {:>w1$}  {:>4}  {:>w3$}  {}\n",
        "operator",
        "time",
        "",
        "rows",
        "details",
        w0 = w0,
        w1 = w1,
        w3 = w3.max(4)
    );
    for r in rows {
        let pad = w0 - r[0].chars().count();
        s.push_str(&format!(
            "{}{}  {:>w1$}  {:>4}  {:>w3$}  {}\n",
            r[0],
            " ".repeat(pad),
            r[1],
            r[2],
            r[3],
            r[4],
            w1 = w1,
            w3 = w3.max(4)
        ));
    }
    if hidden > 0 {
        s.push_str(&format!(
            "({hidden} pass-through {} not shown; --format json has every operator)\n",
            plural(hidden, "projection")
        ));
    }
    s
}

pub fn metrics_line(run: &VariantRun) -> String {
    let mut parts = Vec::new();
    if let Some(ms) = run.latency_ms {
        let what = if run.complete {
            "latency"
        } else {
            "first rows in"
        };
        parts.push(format!("{what} {}", human_secs(ms / 1e3)));
    }
    if let Some(p) = &run.profile {
        parts.push(format!("DuckDB {}", human_secs(p.total_ms / 1e3)));
        if let Some(c) = p.cpu_ms {
            parts.push(format!("CPU {}", human_secs(c / 1e3)));
        }
        if let Some(r) = p.rows_scanned {
            parts.push(format!("rows scanned {}", human_count(r)));
        }
        if let Some(b) = p.bytes_read {
            parts.push(format!("read {}", human_bytes(b)));
        }
        if let (Some(a), Some(b)) = (
            p.row_groups_scanned,
            p.row_groups_to_scan.filter(|&b| b > 0),
        ) {
            parts.push(format!("row groups {a}/{b}"));
        }
        if let Some(m) = p.peak_memory_bytes {
            parts.push(format!("peak memory {}", human_bytes(m)));
        }
    }
    parts.join(" · ")
}

fn variants_table(q: &QueryRun, format: OutputFormat) -> String {
    let mut g = grid(format);
    g.set_header(vec![
        "variant",
        "storage",
        "latency",
        "partitions",
        "fact files",
        "rows scanned",
        "bytes read",
    ]);
    for r in &q.runs {
        let p = r.profile.as_ref();
        g.add_row(vec![
            Cell::new(&r.variant),
            Cell::new(r.storage.name()),
            right(
                r.latency_ms
                    .map(|m| human_secs(m / 1e3))
                    .unwrap_or_default(),
            ),
            right(
                p.and_then(|p| {
                    p.partitions_scanned
                        .map(|s| format!("{s}/{}", p.partitions_total))
                })
                .unwrap_or_else(|| "-".into()),
            ),
            right(
                p.and_then(|p| {
                    p.fact_files_scanned
                        .map(|s| format!("{s}/{}", p.fact_files_total))
                })
                .unwrap_or_else(|| "-".into()),
            ),
            right(
                p.and_then(|p| p.rows_scanned)
                    .map(human_count)
                    .unwrap_or_default(),
            ),
            right(
                p.and_then(|p| p.bytes_read)
                    .map(human_bytes)
                    .unwrap_or_default(),
            ),
        ]);
    }
    g.to_string()
}

fn result_table(run: &VariantRun, max_rows: usize) -> String {
    let mut g = grid(OutputFormat::Table);
    let r = &run.result;
    g.set_header(r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
    for row in r.text().take(max_rows) {
        g.add_row(
            row.iter()
                .zip(&r.columns)
                .map(|(v, c)| if c.numeric { right(*v) } else { Cell::new(v) })
                .collect::<Vec<_>>(),
        );
    }
    let mut s = g.to_string();
    if r.len() > max_rows {
        let more = r.len() - max_rows;
        s.push_str(&format!(
            "\n… {more} more {} (--rows N shows more)",
            plural(more, "row")
        ));
    }
    s
}

/// The report's first line: engine, threads, data set (with its place).
fn header(r: &Report, with_dir: bool) -> String {
    let place = if with_dir {
        format!(" in {}", r.data_dir)
    } else {
        String::new()
    };
    let by = if r.partition_by.is_empty() {
        "nothing".to_string()
    } else {
        r.partition_by.join(",")
    };
    format!(
        "DuckDB {} · {} threads · {} fact rows{place} · partitioned by {by}\n",
        r.duckdb_version,
        r.threads,
        human_count(r.fact_rows),
    )
}

/// The human-readable report (also used by `olap demo`).
pub fn table(r: &Report, max_rows: usize) -> String {
    let mut s = header(r, true);
    for q in &r.queries {
        s.push_str(&format!("\n━━ {} ({}) — {}\n", q.id, q.story, q.title));
        if !q.about.is_empty() {
            s.push_str(&format!("{}\n", q.about));
        }
        if !q.parameters.is_empty() {
            s.push_str(&format!(
                "parameters: {}\n",
                q.parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if let Some(why) = &q.skipped {
            s.push_str(&format!("skipped: {why}\n"));
            continue;
        }
        let first = &q.runs[0];
        if first.latency_ms.is_none() {
            for run in &q.runs {
                s.push_str(&format!(
                    "\n{} ({}):\n{}\n",
                    run.variant,
                    run.storage.name(),
                    run.sql
                ));
                if let (Some(note), Some(sql)) = (&run.rewrite, &run.rewritten_sql) {
                    s.push_str(&format!(
                        "\nrewritten: {note} (--rewrite off runs it as written):\n{sql}\n"
                    ));
                }
                s.push_str(&format!(
                    "\nplan:\n{}\n",
                    run.plan.clone().unwrap_or_default()
                ));
            }
            continue;
        }
        let size = if first.complete {
            format!(
                "{} {}",
                first.result_rows,
                plural(first.result_rows as usize, "row")
            )
        } else {
            "the first rows (the query was stopped there: --format csv or json streams every row)"
                .to_string()
        };
        s.push_str(&format!(
            "\nresult: {size}\n{}\n",
            result_table(first, max_rows)
        ));
        if q.runs.len() > 1 {
            s.push('\n');
            s.push_str(&variants_table(q, OutputFormat::Table));
            s.push('\n');
        }
        for run in &q.runs {
            if q.runs.len() > 1 {
                s.push_str(&format!("\n[{} · {}]\n", run.variant, run.storage.name()));
            } else {
                s.push('\n');
            }
            if let Some(p) = &run.profile {
                s.push_str(&plan_tree(p));
                if let Some(line) = p.pruning_line() {
                    s.push_str(&format!("partitions: {line}\n"));
                }
                if let Some(line) = fact_view_line(run) {
                    s.push_str(&format!("fact view: {line}\n"));
                }
                for (name, ms, rows) in &p.window_operators {
                    s.push_str(&format!(
                        "★ window operator {name}: {ms:.1} ms, {} rows\n",
                        human_count(*rows)
                    ));
                }
            }
            if let Some(note) = &run.rewrite {
                s.push_str(&format!(
                    "rewritten: {note} (--rewrite off runs it as written)\n"
                ));
            }
            s.push_str(&format!("{}\n", metrics_line(run)));
        }
        if !q.target.is_empty() {
            s.push_str(&format!("target: {}\n", q.target));
        }
        for c in &q.checks {
            s.push_str(&format!(
                "{} {}: {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
    }
    s
}

/// How the fact view read the files, and why (see `Engine::prepare`).
fn fact_view_line(run: &VariantRun) -> Option<String> {
    Some(format!(
        "{} ({})",
        run.fact_view?.describe(),
        run.fact_view_reason.as_deref()?
    ))
}

/// The Markdown report (also used by `olap demo`).
pub fn markdown(r: &Report) -> String {
    let mut s = header(r, false);
    for q in &r.queries {
        s.push_str(&format!("\n### {} ({})\n\n{}\n", q.id, q.story, q.title));
        if let Some(why) = &q.skipped {
            s.push_str(&format!("\nskipped: {why}\n"));
            continue;
        }
        if q.runs.len() > 1 && q.runs[0].latency_ms.is_some() {
            s.push_str(&format!(
                "\n{}\n",
                variants_table(q, OutputFormat::Markdown)
            ));
        }
        for run in &q.runs {
            if q.runs.len() > 1 {
                s.push_str(&format!("\n*{} · {}*\n", run.variant, run.storage.name()));
            }
            if let Some(p) = &run.profile {
                s.push_str(&format!("\n```text\n{}", plan_tree(p)));
                if let Some(line) = p.pruning_line() {
                    s.push_str(&format!("partitions: {line}\n"));
                }
                if let Some(line) = fact_view_line(run) {
                    s.push_str(&format!("fact view: {line}\n"));
                }
                if let Some(note) = &run.rewrite {
                    s.push_str(&format!("rewritten: {note}\n"));
                }
                s.push_str("```\n");
            } else if let Some(plan) = &run.plan {
                s.push_str(&format!("\n```text\n{plan}\n```\n"));
            }
            let m = metrics_line(run);
            if !m.is_empty() {
                s.push_str(&format!("\n{m}\n"));
            }
        }
        for c in &q.checks {
            s.push_str(&format!(
                "\n**{}** {}: {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_query_catalog_is_generated_from_the_catalog() {
        // The checkout being tested, read when the test runs: the compiled
        // test may come from another checkout sharing the target directory.
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let doc = std::fs::read_to_string(format!("{root}/docs/query-catalog.md"))
            .expect("docs/query-catalog.md");
        let begin = doc
            .find("-->\n")
            .map(|i| i + 4)
            .expect("catalog:begin marker");
        let end = doc
            .find("<!-- catalog:end -->")
            .expect("catalog:end marker");
        assert_eq!(
            &doc[begin..end],
            super::catalog_markdown(),
            "docs/query-catalog.md is stale: regenerate its catalog section with `olap analyze --list --format markdown`"
        );
    }
}

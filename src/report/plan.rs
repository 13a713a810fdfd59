//! A profiled plan in the forms people and tools read: the text tree,
//! JSON, a self-contained HTML page (icicle chart and tree), Graphviz dot
//! and Mermaid. All come from the same execution's profile.

use std::fmt::Write as _;

use anyhow::Result;

use super::analyze::plan_tree;
use super::html::{icicle, page_shell};
use crate::bench::chart;
use crate::query::profile::{Operator, Profile};
use crate::util::human_count;

/// `--plan-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Json,
    Html,
    Dot,
    Mermaid,
}

impl PlanFormat {
    pub const NAMES: [&'static str; 5] = ["text", "json", "html", "dot", "mermaid"];

    pub fn parse(s: &str) -> Option<PlanFormat> {
        Some(match s {
            "text" => PlanFormat::Text,
            "json" => PlanFormat::Json,
            "html" => PlanFormat::Html,
            "dot" => PlanFormat::Dot,
            "mermaid" => PlanFormat::Mermaid,
            _ => return None,
        })
    }
}

fn label(op: &Operator) -> String {
    let mut s = format!(
        "{}\\n{:.1} ms · {} rows",
        op.name,
        op.timing_ms,
        human_count(op.rows)
    );
    if let Some(p) = op.scan_partition().or_else(|| op.scan_table()) {
        let _ = write!(s, "\\n{p}");
    }
    if let Some(f) = op.scan_files() {
        let _ = write!(s, " · files {f}");
    }
    s
}

/// Numbers the operators depth first: (id, parent id, operator).
fn nodes(ops: &[Operator]) -> Vec<(usize, Option<usize>, &Operator)> {
    fn walk<'a>(
        op: &'a Operator,
        parent: Option<usize>,
        out: &mut Vec<(usize, Option<usize>, &'a Operator)>,
    ) {
        let id = out.len();
        out.push((id, parent, op));
        for c in &op.children {
            walk(c, Some(id), out);
        }
    }
    let mut out = Vec::new();
    for op in ops {
        walk(op, None, &mut out);
    }
    out
}

fn dot(p: &Profile, name: &str) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"sans-serif\"];\n",
        name.replace('"', "'")
    );
    for (id, parent, op) in nodes(&p.operators) {
        let _ = writeln!(s, "  n{id} [label=\"{}\"];", label(op).replace('"', "'"));
        if let Some(parent) = parent {
            let _ = writeln!(s, "  n{id} -> n{parent};");
        }
    }
    s.push_str("}\n");
    s
}

fn mermaid(p: &Profile) -> String {
    let mut s = String::from("flowchart BT\n");
    for (id, parent, op) in nodes(&p.operators) {
        let text = label(op).replace("\\n", "<br/>").replace('"', "'");
        let _ = writeln!(s, "  n{id}[\"{text}\"]");
        if let Some(parent) = parent {
            let _ = writeln!(s, "  n{id} --> n{parent}");
        }
    }
    s
}

/// The plans of `runs` (name, profile) in `format`, one document.
pub fn render(runs: &[(String, &Profile)], format: PlanFormat) -> Result<String> {
    Ok(match format {
        PlanFormat::Text => runs
            .iter()
            .map(|(name, p)| {
                let mut s = format!("── {name}\n{}", plan_tree(p));
                if let Some(line) = p.pruning_line() {
                    let _ = writeln!(s, "partitions: {line}");
                }
                s
            })
            .collect::<Vec<_>>()
            .join("\n"),
        PlanFormat::Json => {
            let v: Vec<serde_json::Value> = runs
                .iter()
                .map(|(name, p)| serde_json::json!({"query": name, "profile": p}))
                .collect();
            serde_json::to_string_pretty(&v)? + "\n"
        }
        PlanFormat::Dot => runs.iter().map(|(name, p)| dot(p, name)).collect(),
        PlanFormat::Mermaid => runs
            .iter()
            .map(|(name, p)| format!("%% {name}\n{}", mermaid(p)))
            .collect::<Vec<_>>()
            .join("\n"),
        PlanFormat::Html => {
            let mut body = String::new();
            for (name, p) in runs {
                let _ = write!(
                    body,
                    "<section class=\"query\"><h3>{}</h3>{}<pre>{}</pre></section>",
                    super::html::esc(name),
                    super::html::inline(chart::icicle_svg(&icicle(p))?),
                    super::html::esc(&plan_tree(p))
                );
            }
            page_shell("olap plan", &body)
        }
    })
}

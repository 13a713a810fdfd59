//! The HTML report of a benchmark run and the plan formats of `analyze`.

use scraper::{Html, Selector};

use crate::common::*;

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

#[test]
fn the_benchmark_writes_one_self_contained_page_with_every_query() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    generate(&data, 40_000, &["--format", "both"]);
    let report = t.path().join("report");
    let o = olap()
        .args([
            "benchmark",
            "--quick",
            "--storage-comparison",
            "--concurrency",
            "2",
        ])
        .args(["--output", t.path().join("r.json").to_str().unwrap()])
        .arg("--report")
        .arg(&report)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("report: "), "{}", stdout(&o));
    let text = std::fs::read_to_string(report.join("index.html")).unwrap();
    let page = Html::parse_document(&text);
    assert!(
        page.errors.is_empty(),
        "HTML parse errors: {:?}",
        page.errors
    );
    let result = olap::bench::result::BenchResult::load(&t.path().join("r.json")).unwrap();
    let sections: Vec<_> = page.select(&sel("section.query")).collect();
    assert_eq!(
        sections.len(),
        result.queries.len(),
        "one section per query"
    );
    for (s, q) in sections.iter().zip(&result.queries) {
        let html = s.html();
        assert!(html.contains(&q.id), "{}", q.key());
        // The rounds' strip (with its axis) and, for Parquet runs, the plan.
        assert!(html.contains("latency (ms)"), "samples of {}", q.key());
        assert!(html.contains("p50 "), "p50 of {}", q.key());
        if q.storage == "parquet" {
            assert!(
                html.contains("<b>Plan</b>") && html.contains("TABLE_SCAN"),
                "plan of {}",
                q.key()
            );
        }
    }
    // Pruning drawn as the partition grid; the studies as charts.
    assert!(text.contains("Partitions read"), "partition grid");
    for h in ["Storage: Parquet vs CSV", "Concurrency", "Environment"] {
        assert!(text.contains(h), "{h}");
    }
    assert!(
        text.contains("target ≥ 10x"),
        "the speed-up chart carries its target"
    );
    // Self-contained: no URL, no script, nothing fetched.
    for bad in ["http://", "https://", "<script", "src=", "<link"] {
        assert!(!text.contains(bad), "the page must not contain {bad:?}");
    }
}

#[test]
fn analyze_writes_the_plan_in_five_forms() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    generate(&data, 20_000, &[]);
    let plan = |format: &str| {
        let out = t.path().join(format!("plan.{format}"));
        let o = olap()
            .args([
                "analyze",
                "category_by_quarter",
                "--plan-format",
                format,
                "--plan-output",
            ])
            .arg(&out)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        assert!(stdout(&o).contains("1 plan written"), "{}", stdout(&o));
        std::fs::read_to_string(out).unwrap()
    };
    let text = plan("text");
    assert!(
        text.contains("operator")
            && text.contains("TABLE_SCAN")
            && text.contains("partitions: scanned 4 of 12"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&plan("json")).unwrap();
    assert!(
        json[0]["profile"]["operators"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
    );
    assert_eq!(json[0]["profile"]["partitions_scanned"], 4);
    let html = plan("html");
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    assert_eq!(doc.select(&sel("svg")).count(), 1);
    let dot = plan("dot");
    let nodes = dot.matches(" [label=").count();
    assert!(dot.starts_with("digraph") && nodes > 3, "{dot}");
    assert_eq!(
        dot.matches(" -> ").count(),
        nodes - 1,
        "a tree: one edge per node but the root"
    );
    let mermaid = plan("mermaid");
    assert!(mermaid.contains("flowchart BT"), "{mermaid}");
    assert_eq!(
        mermaid.matches(" --> ").count(),
        mermaid.matches("[\"").count() - 1
    );
    // Without --plan-output the plan goes to stdout.
    let o = olap()
        .args([
            "analyze",
            "category_by_quarter",
            "--plan-format",
            "mermaid",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        stdout(&o).starts_with("%% category_by_quarter"),
        "{}",
        stdout(&o)
    );
}

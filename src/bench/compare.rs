//! Comparing a run with a baseline, query by query.
//!
//! A change is decided on its confidence, not on one ratio: a query
//! regresses when the one-sided Mann-Whitney test says its samples are
//! larger than the baseline's (p < [`ALPHA`]) *and* its median grew by more
//! than the threshold (the minimum effect worth reporting). A noisy query
//! whose medians differ by 12% with overlapping samples is not flagged; a
//! steady one 15% slower in every round is. Improvements are the mirror image.

use serde::Serialize;

use super::result::{BenchResult, QueryResult};
use super::stats::mann_whitney_greater;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// In one run only.
    New,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub key: String,
    pub baseline_p50_ms: Option<f64>,
    pub current_p50_ms: Option<f64>,
    pub baseline_p95_ms: Option<f64>,
    pub current_p95_ms: Option<f64>,
    /// Median ratio, current / baseline.
    pub ratio: Option<f64>,
    /// One-sided Mann-Whitney p-value in the direction of the change.
    pub p_value: Option<f64>,
    /// The minimum effect (relative) for a verdict other than unchanged.
    pub threshold: f64,
    pub verdict: Verdict,
    /// What olap ran differently for this query than in the baseline (a
    /// rewrite taken or dropped, another fact view): a change in time may
    /// be the plan's, not the engine's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_change: Option<String>,
}

/// How `cur` ran differently from `base`, in words.
fn plan_change(base: &QueryResult, cur: &QueryResult) -> Option<String> {
    let mut what = Vec::new();
    match (&base.rewrite, &cur.rewrite) {
        (None, Some(now)) => what.push(format!("rewritten now ({now})")),
        (Some(_), None) => what.push("no longer rewritten".to_string()),
        (Some(a), Some(b)) if a != b => what.push(format!("rewritten otherwise ({b})")),
        _ => {}
    }
    if let (Some(a), Some(b)) = (&base.fact_view, &cur.fact_view)
        && a != b
    {
        what.push(format!("fact view {a} → {b}"));
    }
    (!what.is_empty()).then(|| what.join("; "))
}

/// Significance level of the Mann-Whitney test.
pub const ALPHA: f64 = 0.05;

fn judge(base: &QueryResult, cur: &QueryResult, threshold: f64) -> (f64, f64, Verdict) {
    let ratio = cur.stats.p50 / base.stats.p50.max(1e-9);
    if ratio >= 1.0 {
        let p = mann_whitney_greater(&base.samples_ms, &cur.samples_ms);
        let v = if ratio > 1.0 + threshold && p < ALPHA {
            Verdict::Regression
        } else {
            Verdict::Unchanged
        };
        (ratio, p, v)
    } else {
        let p = mann_whitney_greater(&cur.samples_ms, &base.samples_ms);
        let v = if ratio < 1.0 / (1.0 + threshold) && p < ALPHA {
            Verdict::Improvement
        } else {
            Verdict::Unchanged
        };
        (ratio, p, v)
    }
}

pub fn compare(baseline: &BenchResult, current: &BenchResult, threshold: f64) -> Vec<Comparison> {
    let mut out = Vec::new();
    for cur in &current.queries {
        let key = cur.key();
        match baseline.queries.iter().find(|b| b.key() == key) {
            Some(base) => {
                let (ratio, p, verdict) = judge(base, cur, threshold);
                out.push(Comparison {
                    key,
                    baseline_p50_ms: Some(base.stats.p50),
                    current_p50_ms: Some(cur.stats.p50),
                    baseline_p95_ms: Some(base.stats.p95),
                    current_p95_ms: Some(cur.stats.p95),
                    ratio: Some(ratio),
                    p_value: Some(p),
                    threshold,
                    verdict,
                    plan_change: plan_change(base, cur),
                });
            }
            None => out.push(Comparison {
                key,
                baseline_p50_ms: None,
                current_p50_ms: Some(cur.stats.p50),
                baseline_p95_ms: None,
                current_p95_ms: Some(cur.stats.p95),
                ratio: None,
                p_value: None,
                threshold,
                verdict: Verdict::New,
                plan_change: None,
            }),
        }
    }
    for base in &baseline.queries {
        if !current.queries.iter().any(|c| c.key() == base.key()) {
            out.push(Comparison {
                key: base.key(),
                baseline_p50_ms: Some(base.stats.p50),
                current_p50_ms: None,
                baseline_p95_ms: Some(base.stats.p95),
                current_p95_ms: None,
                ratio: None,
                p_value: None,
                threshold,
                verdict: Verdict::Missing,
                plan_change: None,
            });
        }
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::bench::result::*;
    use crate::bench::stats::Stats;

    pub fn fabricated(samples: &[(&str, &[f64])]) -> BenchResult {
        BenchResult {
            schema_version: SCHEMA_VERSION,
            created_at: "2026-11-23T00:00:00Z".into(),
            olap_version: "0.1.0".into(),
            build: Some("plain".into()),
            duckdb_version: "v2.0.0".into(),
            git_commit: None,
            machine: Machine {
                cores: 2,
                memory_bytes: 1 << 34,
                os: "linux".into(),
                kernel: "6".into(),
                cpu: "test".into(),
            },
            data_set: DataSetIdentity {
                dir: "data".into(),
                seed: 42,
                rows: 1000,
                partition_by: vec!["year".into()],
                formats: vec!["parquet".into()],
                compression: "snappy".into(),
                row_group_size: 1024,
                fact_checksum: "00".into(),
            },
            settings: Settings {
                rounds: 3,
                warmup: 0,
                threads: 2,
                storage: "parquet".into(),
                params: Default::default(),
                rewrite: Some("auto".into()),
                fact_view: Some("auto".into()),
            },
            queries: samples
                .iter()
                .map(|(id, s)| QueryResult {
                    id: id.to_string(),
                    variant: "default".into(),
                    storage: "parquet".into(),
                    samples_ms: s.to_vec(),
                    stats: Stats::of(s),
                    target_p95_ms: None,
                    scaled_target_p95_ms: None,
                    sla: Sla::None,
                    result_rows: 1,
                    rewrite: None,
                    fact_view: None,
                    plain: None,
                })
                .collect(),
            studies: serde_json::Value::Null,
        }
    }

    /// `n` samples around `mean`, spread by `jitter` (deterministic).
    fn around(mean: f64, jitter: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| mean + jitter * (((i * 7) % n) as f64 / (n - 1) as f64 - 0.5))
            .collect()
    }

    #[test]
    fn regressions_need_both_confidence_and_effect() {
        let steady = around(100.0, 4.0, 10);
        let noisy = around(100.0, 60.0, 10);
        let base = fabricated(&[("steady", &steady), ("noisy", &noisy), ("gone", &[5.0])]);
        let slower = around(115.0, 4.0, 10);
        let noisy_slower = around(112.0, 60.0, 10);
        let cur = fabricated(&[
            ("steady", &slower),
            ("noisy", &noisy_slower),
            ("fresh", &[1.0]),
        ]);
        let c = compare(&base, &cur, 0.10);
        let get = |k: &str| c.iter().find(|x| x.key.starts_with(k)).unwrap();
        assert_eq!(
            get("steady").verdict,
            Verdict::Regression,
            "15% slower every round"
        );
        assert!(get("steady").p_value.unwrap() < 0.001);
        assert_eq!(
            get("noisy").verdict,
            Verdict::Unchanged,
            "a 12% larger median inside 60% noise is not evidence: p = {:?}",
            get("noisy").p_value
        );
        assert_eq!(get("fresh").verdict, Verdict::New);
        assert_eq!(get("gone").verdict, Verdict::Missing);
        // Significant but below the minimum effect: unchanged.
        let slight = around(104.0, 2.0, 10);
        let c = compare(&base, &fabricated(&[("steady", &slight)]), 0.10);
        assert_eq!(c[0].verdict, Verdict::Unchanged);
        // Faster in every round: an improvement.
        let faster = around(80.0, 4.0, 10);
        let c = compare(&base, &fabricated(&[("steady", &faster)]), 0.10);
        assert_eq!(c[0].verdict, Verdict::Improvement);
        assert!(c[0].ratio.unwrap() < 0.85);
        assert_eq!(c[0].plan_change, None);
    }

    /// A query that ran rewritten, or on another fact view, says so.
    #[test]
    fn plan_changes_are_named() {
        let s = [10.0, 11.0, 12.0];
        let mut base = fabricated(&[("a", &s), ("b", &s), ("c", &s)]);
        let mut cur = base.clone();
        cur.queries[0].rewrite = Some("grouped by codes: …".into());
        base.queries[1].rewrite = Some("eager aggregation: …".into());
        base.queries[2].fact_view = Some("files".into());
        cur.queries[2].fact_view = Some("partitions".into());
        cur.queries[2].rewrite = Some("x".into());
        base.queries[2].rewrite = Some("y".into());
        let c = compare(&base, &cur, 0.1);
        let changes: Vec<Option<&str>> = c.iter().map(|x| x.plan_change.as_deref()).collect();
        assert_eq!(
            changes,
            [
                Some("rewritten now (grouped by codes: …)"),
                Some("no longer rewritten"),
                Some("rewritten otherwise (x); fact view files → partitions"),
            ]
        );
        let json = serde_json::to_value(&c[0]).unwrap();
        assert_eq!(json["plan_change"], "rewritten now (grouped by codes: …)");
    }
}

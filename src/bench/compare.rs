//! Comparing a run with a baseline, query by query.
//!
//! The threshold is noise-aware: a query regresses when its p95 grew by more
//! than max(threshold, the baseline's own spread (p95 - p50) / p50). A query
//! whose latency naturally swings 30% between its median and its p95 is not
//! flagged for 12%; a steady one is flagged at the threshold. Improvements are
//! the mirror image.

use serde::Serialize;

use super::result::{BenchResult, QueryResult};

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
    pub baseline_p95_ms: Option<f64>,
    pub current_p95_ms: Option<f64>,
    /// current / baseline.
    pub ratio: Option<f64>,
    /// The threshold used for this query (relative).
    pub threshold: f64,
    pub verdict: Verdict,
}

pub fn effective_threshold(base: &QueryResult, threshold: f64) -> f64 {
    let spread = if base.stats.p50 > 0.0 {
        (base.stats.p95 - base.stats.p50) / base.stats.p50
    } else {
        0.0
    };
    threshold.max(spread)
}

pub fn compare(baseline: &BenchResult, current: &BenchResult, threshold: f64) -> Vec<Comparison> {
    let mut out = Vec::new();
    for cur in &current.queries {
        let key = cur.key();
        match baseline.queries.iter().find(|b| b.key() == key) {
            Some(base) => {
                let t = effective_threshold(base, threshold);
                let ratio = cur.stats.p95 / base.stats.p95.max(1e-9);
                let verdict = if ratio > 1.0 + t {
                    Verdict::Regression
                } else if ratio < 1.0 / (1.0 + t) {
                    Verdict::Improvement
                } else {
                    Verdict::Unchanged
                };
                out.push(Comparison {
                    key,
                    baseline_p95_ms: Some(base.stats.p95),
                    current_p95_ms: Some(cur.stats.p95),
                    ratio: Some(ratio),
                    threshold: t,
                    verdict,
                });
            }
            None => out.push(Comparison {
                key,
                baseline_p95_ms: None,
                current_p95_ms: Some(cur.stats.p95),
                ratio: None,
                threshold,
                verdict: Verdict::New,
            }),
        }
    }
    for base in &baseline.queries {
        if !current.queries.iter().any(|c| c.key() == base.key()) {
            out.push(Comparison {
                key: base.key(),
                baseline_p95_ms: Some(base.stats.p95),
                current_p95_ms: None,
                ratio: None,
                threshold,
                verdict: Verdict::Missing,
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
                })
                .collect(),
            studies: serde_json::Value::Null,
        }
    }

    #[test]
    fn regressions_respect_the_threshold_and_the_noise() {
        let base = fabricated(&[
            ("steady", &[100.0; 10]),
            (
                "noisy",
                &[
                    100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 140.0,
                ],
            ),
            ("gone", &[5.0]),
        ]);
        let cur = fabricated(&[
            ("steady", &[115.0; 10]),
            ("noisy", &[125.0; 10]),
            ("fresh", &[1.0]),
        ]);
        let c = compare(&base, &cur, 0.10);
        let v = |k: &str| c.iter().find(|x| x.key.starts_with(k)).unwrap().verdict;
        assert_eq!(v("steady"), Verdict::Regression, "15% over a steady 100 ms");
        assert_eq!(
            v("noisy"),
            Verdict::Unchanged,
            "p95 125 vs a baseline p95 of 122 whose own spread is 22%: noise"
        );
        assert!(
            (c.iter()
                .find(|x| x.key.starts_with("noisy"))
                .unwrap()
                .threshold
                - 0.22)
                .abs()
                < 1e-9
        );
        let worse = fabricated(&[("noisy", &[160.0; 10])]);
        assert_eq!(compare(&base, &worse, 0.10)[0].verdict, Verdict::Regression);
        assert_eq!(v("fresh"), Verdict::New);
        assert_eq!(v("gone"), Verdict::Missing);
        let faster = fabricated(&[("steady", &[80.0; 10])]);
        assert_eq!(
            compare(&base, &faster, 0.10)[0].verdict,
            Verdict::Improvement
        );
        let same = fabricated(&[("steady", &[105.0; 10])]);
        assert_eq!(compare(&base, &same, 0.10)[0].verdict, Verdict::Unchanged);
    }
}

//! The benchmark result file: versioned JSON with the machine, the versions,
//! the data set's identity, the settings and every sample.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::stats::Stats;
use crate::bail_user;

/// Bumped when the file's meaning changes; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    pub cpu: String,
}

impl Machine {
    pub fn current() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let memory_kb: u64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("")
            .trim()
            .to_string();
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_bytes: memory_kb * 1024,
            os: std::env::consts::OS.to_string(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu,
        }
    }
}

/// What data the benchmark ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSetIdentity {
    pub dir: String,
    pub seed: u64,
    pub rows: u64,
    pub partition_by: Vec<String>,
    pub formats: Vec<String>,
    pub compression: String,
    pub row_group_size: u64,
    /// Content checksum of the fact table.
    pub fact_checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub rounds: usize,
    pub warmup: usize,
    pub threads: usize,
    pub storage: String,
    pub params: BTreeMap<String, String>,
}

/// SLA verdict of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sla {
    Pass,
    Fail,
    /// No latency target (comparisons, pruning).
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub id: String,
    pub variant: String,
    pub storage: String,
    pub samples_ms: Vec<f64>,
    pub stats: Stats,
    /// The catalog's p95 target at 100M rows.
    pub target_p95_ms: Option<f64>,
    /// That target scaled to this data set's size (see `scaled_target`).
    pub scaled_target_p95_ms: Option<f64>,
    pub sla: Sla,
    pub result_rows: u64,
}

impl QueryResult {
    pub fn key(&self) -> String {
        format!("{} [{} · {}]", self.id, self.variant, self.storage)
    }
}

/// Rows at which the catalog's targets are defined.
pub const TARGET_ROWS: u64 = 100_000_000;
/// The fixed part of a scaled target: planning, opening files and scanning
/// the dimensions cost about this much whatever the fact table's size.
pub const TARGET_FLOOR_MS: f64 = 25.0;

/// A p95 target defined at 100M rows, for a data set of `rows`. Below 100M a
/// query's latency is a fixed cost plus a part that grows with the rows, so
/// the target is [`TARGET_FLOOR_MS`] plus the rest of it in proportion to the
/// rows (at 2M rows a 1 s target becomes 44.5 ms, not 20 ms, which the fixed
/// cost alone exceeds). Above 100M it grows in proportion (200M: twice).
pub fn scaled_target(target_ms: f64, rows: u64) -> f64 {
    let share = rows as f64 / TARGET_ROWS as f64;
    if share >= 1.0 {
        return target_ms * share;
    }
    let floor = TARGET_FLOOR_MS.min(target_ms);
    floor + (target_ms - floor) * share
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub schema_version: u32,
    pub created_at: String,
    pub olap_version: String,
    pub duckdb_version: String,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub data_set: DataSetIdentity,
    pub settings: Settings,
    pub queries: Vec<QueryResult>,
    #[serde(default)]
    pub studies: serde_json::Value,
}

impl BenchResult {
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::storage::manifest::write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    pub fn load(path: &Path) -> Result<BenchResult> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => bail_user!("cannot read baseline {}: {e}", path.display()),
        };
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => bail_user!("{} is not JSON: {e}", path.display()),
        };
        match v.get("schema_version").and_then(|s| s.as_u64()) {
            Some(n) if n == SCHEMA_VERSION as u64 => {}
            Some(n) => bail_user!(
                "{} has schema version {n}; this olap reads version {SCHEMA_VERSION}",
                path.display()
            ),
            None => bail_user!(
                "{} is not an olap benchmark result (no schema_version)",
                path.display()
            ),
        }
        match serde_json::from_value(v) {
            Ok(r) => Ok(r),
            Err(e) => bail_user!(
                "{} is not a valid olap benchmark result: {e}",
                path.display()
            ),
        }
    }
}

/// The git commit of the working directory, when there is one.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_scale_with_rows_and_have_a_floor() {
        assert_eq!(scaled_target(2_000.0, 100_000_000), 2_000.0);
        assert_eq!(scaled_target(2_000.0, 10_000_000), 222.5);
        assert_eq!(scaled_target(1_000.0, 2_000_000), 44.5);
        assert_eq!(scaled_target(2_000.0, 200_000_000), 4_000.0);
        assert!((scaled_target(1_000.0, 10_000) - TARGET_FLOOR_MS).abs() < 0.1);
        assert_eq!(scaled_target(10.0, 0), 10.0);
    }
}

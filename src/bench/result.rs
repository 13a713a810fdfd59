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
        use sysinfo::{CpuRefreshKind, RefreshKind, System};
        let sys =
            System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()));
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_bytes: crate::util::memory_bytes(),
            os: std::env::consts::OS.to_string(),
            kernel: System::kernel_version().unwrap_or_default(),
            cpu: sys
                .cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .unwrap_or_default(),
        }
    }
}

impl Machine {
    /// The store's key for this machine: CPU model, cores and memory
    /// ("intel-r-xeon-r-processor-2c-24g"). Runs compare only within a key.
    pub fn key(&self) -> String {
        let mut slug = String::new();
        for c in self.cpu.to_ascii_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let gib = (self.memory_bytes as f64 / (1u64 << 30) as f64).round() as u64;
        format!(
            "{}-{}c-{gib}g",
            if slug.is_empty() { "cpu" } else { slug },
            self.cores
        )
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
    /// `--rewrite` (auto or off); absent in results from before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    /// `--fact-view` (auto, partitions or files); absent as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact_view: Option<String>,
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
    /// That target scaled to this data set's size (see `targets::scaled_p95_ms`).
    pub scaled_target_p95_ms: Option<f64>,
    pub sla: Sla,
    pub result_rows: u64,
    /// What olap changed in the SQL before timing it (see `query::rewrite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    /// The fact view the rounds ran on (partitions or files; see
    /// `query::engine::FactView`), when the data set has one to choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact_view: Option<String>,
    /// The same SQL on the plain engine, timed in the same rounds
    /// (`--against-plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<PlainTimes>,
}

/// The plain engine beside olap (see `query::plain`): its rounds, run
/// alternately with olap's, and olap's time over its time round by round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainTimes {
    pub samples_ms: Vec<f64>,
    pub stats: Stats,
    /// olap / plain per round: its median is the verdict, its min and max
    /// the spread (a ratio near 1.0 with a wide spread is noise).
    pub ratios: Stats,
}

impl PlainTimes {
    pub fn of(olap_ms: &[f64], plain_ms: Vec<f64>) -> PlainTimes {
        let ratios: Vec<f64> = olap_ms
            .iter()
            .zip(&plain_ms)
            .map(|(o, p)| o / p.max(1e-3))
            .collect();
        PlainTimes {
            stats: Stats::of(&plain_ms),
            ratios: Stats::of(&ratios),
            samples_ms: plain_ms,
        }
    }
}

impl QueryResult {
    pub fn key(&self) -> String {
        format!("{} [{} · {}]", self.id, self.variant, self.storage)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub schema_version: u32,
    pub created_at: String,
    pub olap_version: String,
    /// How the binary's DuckDB was compiled (`thinlto`, `pgo` or `plain`,
    /// see `crate::BUILD`); absent in results from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
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

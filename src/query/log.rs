//! The query log: one JSON line per execution, appended.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::Serialize;

/// Default log file name inside the data set directory.
pub const DEFAULT_LOG: &str = "queries.log.jsonl";

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub timestamp: String,
    pub query_id: String,
    pub variant: String,
    pub storage: String,
    pub parameters: std::collections::BTreeMap<String, String>,
    pub duration_ms: f64,
    pub result_rows: u64,
    pub threads: usize,
    pub rows_scanned: Option<u64>,
    pub bytes_read: Option<u64>,
    pub partitions_scanned: Option<u64>,
    pub partitions_total: Option<u64>,
    pub status: String,
    pub error: Option<String>,
}

pub struct QueryLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl QueryLog {
    pub fn open(path: &Path) -> Result<QueryLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening query log {}", path.display()))?;
        Ok(QueryLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, entry: &LogEntry) -> Result<()> {
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        let mut f = self.file.lock().expect("log lock");
        f.write_all(line.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

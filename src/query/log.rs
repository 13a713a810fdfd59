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

    /// `explicit` (`--log`) when given, else the data set's own log.
    pub fn open_for(explicit: Option<&Path>, data_dir: &Path) -> Result<QueryLog> {
        match explicit {
            Some(p) => QueryLog::open(p),
            None => QueryLog::for_data_set(data_dir),
        }
    }

    /// The log of the data set at `dir`: `dir/queries.log.jsonl`, or, when
    /// the data set is read-only (a shared mount), a file in olap's cache
    /// named for it. A log past [`MAX_LOG_BYTES`] is rotated to `.1` first.
    pub fn for_data_set(dir: &Path) -> Result<QueryLog> {
        let own = dir.join(DEFAULT_LOG);
        rotate(&own);
        match QueryLog::open(&own) {
            Ok(log) => Ok(log),
            Err(e) => {
                let Some(other) = crate::util::cache_file("logs", dir, "jsonl") else {
                    return Err(e);
                };
                if let Some(p) = other.parent() {
                    std::fs::create_dir_all(p).ok();
                }
                rotate(&other);
                tracing::info!(
                    "olap: {} is not writable; the query log goes to {}",
                    dir.display(),
                    other.display()
                );
                QueryLog::open(&other)
            }
        }
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

/// A query log larger than this is moved to `<log>.1` (one generation kept).
pub const MAX_LOG_BYTES: u64 = 64 << 20;

fn rotate(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        let _ = std::fs::rename(path, old);
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

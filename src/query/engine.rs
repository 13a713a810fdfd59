//! The DuckDB engine over a data set.
//!
//! Tables are registered as views over the exact files the manifest lists
//! (never a glob: a stray file is not silently read, a missing one is an
//! error). The fact view exposes the partition columns as INTEGERs (one
//! scan per partition with its keys as constants, or one Hive scan of all
//! files, chosen per query: see [`FactView`] and [`Engine::prepare`]) and
//! derives the ones the layout does not have from `date`, so every query can
//! use year, quarter and month whatever the partitioning.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use duckdb::Connection;
use serde_json::Value;

use super::explain::{any_node, count_operators, explain, name, operators, strings};
use super::key_ranges::KeyRanges;
use super::rewrite::{self, Outcome, Stats, guard};
use super::sql::{query, quote};
use crate::model::{PartitionKey, Table, sql_type};
use crate::storage::FileFormat;
use crate::storage::dataset::{DataSet, HiveKeys};
use crate::storage::manifest::Manifest;

/// How to open the engine on a data set.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub storage: FileFormat,
    pub threads: usize,
    /// DuckDB memory limit, e.g. "4GB".
    pub memory_limit: Option<String>,
    /// A database file to load the tables into as native DuckDB tables.
    pub load_into: Option<PathBuf>,
    /// How the fact view reads a partitioned data set.
    pub fact_view: FactViewMode,
    /// When SQL is rewritten into a cheaper form (see `query::rewrite`).
    pub rewrite: RewriteMode,
}

/// When olap rewrites a question (`--rewrite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteMode {
    /// When the guard lets it and the question reads enough fact rows for
    /// a rewrite to pay for deciding it ([`REWRITE_MIN_FACT_ROWS`]).
    Auto,
    /// Whenever the guard lets it, however few rows the question reads:
    /// for testing rewrites on small data sets.
    Always,
    /// Never: the SQL runs as written.
    Off,
}

impl RewriteMode {
    pub const NAMES: [&'static str; 3] = ["auto", "always", "off"];

    pub fn name(self) -> &'static str {
        match self {
            RewriteMode::Auto => "auto",
            RewriteMode::Always => "always",
            RewriteMode::Off => "off",
        }
    }

    pub fn parse(name: &str) -> Option<RewriteMode> {
        Some(match name {
            "auto" => RewriteMode::Auto,
            "always" => RewriteMode::Always,
            "off" => RewriteMode::Off,
            _ => return None,
        })
    }
}

/// Fewer fact rows than this, and a question is not rewritten by default:
/// deciding a rewrite costs 1–50 ms on the reference machine (DuckDB's
/// parse, the dimension look-ups of group codes ~15 ms, binding and
/// planning the rewritten SQL 10–20 ms), and the most it can save is a
/// share of scanning and aggregating those rows, under 20 ms for 2M rows at
/// [`guard::ROWS_PER_MS`]. Measured at 1M rows: a question over an empty
/// year took 78.7 ms rewritten against 17.3 ms as written.
pub const REWRITE_MIN_FACT_ROWS: u64 = 2_000_000;

impl EngineConfig {
    /// The defaults, in one place: views over the `storage` files, the
    /// fact view chosen per query, rewrites on, no memory limit.
    pub fn new(storage: FileFormat, threads: usize) -> EngineConfig {
        EngineConfig {
            storage,
            threads,
            memory_limit: None,
            load_into: None,
            fact_view: FactViewMode::Auto,
            rewrite: RewriteMode::Auto,
        }
    }

    pub fn with_rewrite(mut self, mode: RewriteMode) -> EngineConfig {
        self.rewrite = mode;
        self
    }

    pub fn with_fact_view(mut self, mode: FactViewMode) -> EngineConfig {
        self.fact_view = mode;
        self
    }

    pub fn with_memory_limit(mut self, limit: Option<String>) -> EngineConfig {
        self.memory_limit = limit;
        self
    }

    pub fn with_load_into(mut self, db: Option<PathBuf>) -> EngineConfig {
        self.load_into = db;
        self
    }
}

/// A SQL text made ready to run on a connection: the SQL that runs (the
/// user's, or its rewrite) and the fact view it runs on.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sql: String,
    /// What olap changed in the SQL, when it did (see `query::rewrite`).
    pub rewrite: Option<String>,
    /// `None` when the data set has one way to read the fact table.
    pub fact_view: Option<FactViewUse>,
    /// When `sql` is a rewrite: the SQL as written, ready to run, which runs
    /// instead if the rewrite is abandoned (see `query::rewrite::guard`).
    pub original: Option<Arc<Prepared>>,
    /// How long the rewrite may run before it is abandoned.
    pub budget: Option<Duration>,
    /// Why a rewrite that applied was refused by the guard, when it was.
    pub refused: Option<String>,
    /// Not rewritten because the question reads too few rows to repay a
    /// rewrite's decision once: the next run of the same SQL decides it
    /// (see [`REWRITE_MIN_FACT_ROWS`]).
    pub second_look: bool,
}

impl Prepared {
    fn as_written(sql: &str, fact_view: Option<FactViewUse>, refused: Option<String>) -> Prepared {
        Prepared {
            sql: sql.to_string(),
            rewrite: None,
            fact_view,
            original: None,
            budget: None,
            refused,
            second_look: false,
        }
    }
}

/// One run of a question (see [`Engine::run`]).
#[derive(Debug)]
pub struct Ran<T> {
    pub value: T,
    /// What ran: the rewrite, or the SQL as written (always so after the
    /// rewrite was abandoned).
    pub prepared: Arc<Prepared>,
    /// Milliseconds deciding how to run it (rewrite and fact view).
    pub prepare_ms: f64,
    /// Milliseconds in all: deciding, running, and any fallback.
    pub ms: f64,
    /// Why the rewrite was abandoned, when it was.
    pub abandoned: Option<String>,
}

/// Interrupts a rewritten query that runs past its budget, until the
/// query's first rows go to the user (a result half delivered cannot be
/// taken back, so from then on it runs to the end).
pub struct Watchdog {
    state: Option<Arc<(Mutex<DogState>, std::sync::Condvar)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct DogState {
    /// The query ended, or its output started: stand down.
    done: bool,
    output: bool,
    fired: bool,
}

impl Watchdog {
    /// A watchdog that never fires (the SQL as written has no budget).
    pub fn inert() -> Watchdog {
        Watchdog {
            state: None,
            thread: None,
        }
    }

    fn arm(conn: &Connection, budget: Duration) -> Watchdog {
        let state = Arc::new((Mutex::new(DogState::default()), std::sync::Condvar::new()));
        let handle = conn.interrupt_handle();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let (lock, cvar) = &*shared;
            let deadline = Instant::now() + budget;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !st.done && !st.output {
                let now = Instant::now();
                let wait = if now >= deadline {
                    // Again until the query returns: an interrupt that lands
                    // before DuckDB starts executing is forgotten.
                    st.fired = true;
                    handle.interrupt();
                    Duration::from_millis(5)
                } else {
                    deadline - now
                };
                st = cvar
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        });
        Watchdog {
            state: Some(state),
            thread: Some(thread),
        }
    }

    /// Called before the first rows go to the user: the query is no longer
    /// abandoned, whatever it costs.
    pub fn output_started(&self) {
        if let Some(state) = &self.state {
            let (lock, cvar) = &**state;
            lock.lock().unwrap_or_else(|e| e.into_inner()).output = true;
            cvar.notify_all();
        }
    }

    /// Stands the watchdog down: (whether it fired, whether output started).
    fn finish(mut self) -> (bool, bool) {
        let Some(state) = self.state.take() else {
            return (false, false);
        };
        {
            let (lock, cvar) = &*state;
            lock.lock().unwrap_or_else(|e| e.into_inner()).done = true;
            cvar.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let st = state.0.lock().unwrap_or_else(|e| e.into_inner());
        (st.fired, st.output)
    }
}

/// The fact view a query ran on, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FactViewUse {
    pub view: FactView,
    pub reason: &'static str,
}

/// `--fact-view`: chosen per query from its plan, or one way for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FactViewMode {
    #[default]
    Auto,
    Always(FactView),
}

impl FactViewMode {
    pub const NAMES: [&'static str; 3] = ["auto", "partitions", "files"];

    /// As `--fact-view` names it.
    pub fn name(self) -> &'static str {
        match self {
            FactViewMode::Auto => "auto",
            FactViewMode::Always(v) => v.name(),
        }
    }

    pub fn parse(name: &str) -> Option<FactViewMode> {
        Some(match name {
            "auto" => FactViewMode::Auto,
            "partitions" => FactViewMode::Always(FactView::Partitions),
            "files" => FactViewMode::Always(FactView::Files),
            _ => return None,
        })
    }
}

/// A DuckDB database over an opened data set, with its own connection.
/// What does not belong to a connection (the data set, the settings, the
/// fact views, each SQL text's decision) is its [`EngineCore`], which other
/// connections of the same database share (`olap serve`'s sessions).
pub struct Engine {
    conn: Connection,
    core: Arc<EngineCore>,
    /// The fact view in place on `conn`.
    current: Mutex<FactView>,
}

/// The part of an [`Engine`] every connection of its database shares
/// (`Send + Sync`): how each SQL text runs is decided once, for all.
pub struct EngineCore {
    /// The data set, held open (its lock keeps this version in place until
    /// the last holder goes; see `storage::dataset`).
    ds: Arc<DataSet>,
    pub config: EngineConfig,
    /// Where DuckDB spills: olap's own, removed when the engine goes.
    spill_dir: Option<PathBuf>,
    /// The fact table as one scan of all files (and that scan keyed), when
    /// `sales_fact` is one scan per partition (see [`FactView`]).
    files_view: Option<FactScans>,
    /// How each SQL text runs (its rewrite and fact view), decided once:
    /// the data set cannot change while the engine holds its snapshot.
    choices: Mutex<HashMap<String, Arc<Prepared>>>,
}

impl Drop for EngineCore {
    fn drop(&mut self) {
        if let Some(d) = &self.spill_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Spill space DuckDB may use at most: half the free space where it spills,
/// capped, so a runaway query cannot fill the disk.
const MAX_SPILL_BYTES: u64 = 100 << 30;

/// A fresh spill directory in olap's cache (or the system temp dir) for
/// this process, and the size DuckDB may fill there.
fn spill_dir() -> Option<(PathBuf, u64)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let base = crate::util::cache_dir()
        .map(|c| c.join("spill"))
        .unwrap_or_else(|| std::env::temp_dir().join("olap-spill"));
    let dir = base.join(format!(
        "{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let free = crate::util::free_bytes(&dir).unwrap_or(MAX_SPILL_BYTES * 2);
    Some((dir, (free / 2).min(MAX_SPILL_BYTES)))
}

/// Fact partitions up to which the fact view is one scan per partition;
/// past it (a century by month) planning a union that wide costs more than
/// it saves, and the view reads every file with Hive partitioning instead.
pub const MAX_UNION_PARTITIONS: usize = 256;

/// The two ways the fact view can read a partitioned data set.
///
/// `Partitions` is a `UNION ALL` of one scan per partition with the
/// partition keys as constants. DuckDB then knows each scan's row count
/// from its Parquet metadata (a Hive-partitioned scan of all files is
/// estimated at about one row once a partition filter prunes files, which
/// puts the fact table on the build side of joins), and the optimizer drops
/// the scans a filter on year/quarter/month excludes, so pruning stays
/// visible in the plan: the scans that remain name their files. Measured,
/// it also runs joins over the whole fact table faster (1.3–1.8× at 10M).
///
/// `Files` is one Hive-partitioned scan of every file: it plans faster and
/// runs as one pipeline where the union pays per partition, which is what
/// queries that aggregate the fact table before any join want (0.7–0.9×
/// the union's time at 10M), unless they group by year, quarter or month
/// into many groups (each partition fills a smaller hash table: see
/// [`SPLIT_GROUPS`]) or into few that the union's constants let DuckDB
/// index in a perfect hash table (a Hive column has no range). Which one a
/// query runs on is read from its plan: see [`Engine::prepare`].
///
/// `Keyed` is `Files` told the ranges of the fact's integer columns (from
/// the footers, see `query::key_ranges`), with DuckDB's perfect hash
/// threshold raised to the bits it holds, for one question that groups the
/// whole fact table by keys: see [`MAX_PERFECT_BITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactView {
    Partitions,
    Files,
    Keyed(u32),
}

impl serde::Serialize for FactView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FactView {
    /// As `--fact-view` names it (`keyed` is chosen, never asked for).
    pub fn name(self) -> &'static str {
        match self {
            FactView::Partitions => "partitions",
            FactView::Files => "files",
            FactView::Keyed(_) => "keyed",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FactView::Partitions => "one scan per partition",
            FactView::Files => "one scan of all files",
            FactView::Keyed(_) => "one scan of all files, told its key columns' ranges",
        }
    }
}

/// The most bits of a perfect hash table the keyed view is chosen for:
/// a million customers' keys (20 bits, a table of 2^20 slots per thread).
/// `GROUP BY customer_key` over the whole fact table, 2 threads: 371 → 225
/// ms at 10M rows, 3,151 → 1,420 ms at 100M (DuckDB 2.0, its files' ranges
/// given, docs/architecture.md "Many groups"); wider tables are unmeasured.
pub const MAX_PERFECT_BITS: u32 = 20;

/// DuckDB's default `perfect_ht_threshold`.
const DEFAULT_PERFECT_BITS: u32 = 12;

/// The SQL that reads `table` from its files; the fact table of a
/// partitioned data set as `view` asks (see [`FactView`]), and as one scan
/// of all files past [`MAX_UNION_PARTITIONS`] or without partitions.
pub fn scan_sql(ds: &DataSet, table: Table, format: FileFormat, view: FactView) -> Result<String> {
    scan_sql_with(ds, table, format, view, "")
}

/// [`scan_sql`], with `extra` options (`, name = value`) for the one scan of
/// all fact files.
fn scan_sql_with(
    ds: &DataSet,
    table: Table,
    format: FileFormat,
    view: FactView,
    extra: &str,
) -> Result<String> {
    let manifest = ds.manifest();
    let files = ds.files(table, format)?;
    for (f, _) in files {
        if !std::path::Path::new(f).exists() {
            crate::bail_user!(
                "{f} is listed in the manifest but missing: the data set is damaged; run `olap validate` or regenerate it"
            );
        }
    }
    let read = |files: &[&str], hive: &str| -> String {
        let list = format!(
            "[{}]",
            files
                .iter()
                .map(|f| quote(f))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match format {
            FileFormat::Parquet => format!("read_parquet({list}{hive})"),
            FileFormat::Csv => {
                let cols = table
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{}: {}", quote(f.name()), quote(&sql_type(f.data_type()))))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "read_csv({list}, header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', columns = {{{cols}}}{hive})"
                )
            }
        }
    };
    let all: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    if !table.is_fact() {
        return Ok(format!("SELECT * FROM {}", read(&all, "")));
    }
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let columns = columns.join(", ");
    let keys = &manifest.storage.partition_by;
    // Each partition key: a constant, the Hive column, or derived from the date.
    let select = |value: &dyn Fn(PartitionKey) -> Option<String>| -> String {
        let mut select = columns.clone();
        for k in PartitionKey::ALL {
            let expr = value(k).unwrap_or_else(|| format!("CAST({}(date) AS INTEGER)", k.name()));
            select.push_str(&format!(", {expr} AS {}", k.name()));
        }
        select
    };
    let mut partitions: Vec<(&HiveKeys, Vec<&str>)> = Vec::new();
    for (f, values) in files {
        match partitions.last_mut() {
            Some((v, list)) if *v == values => list.push(f),
            _ => partitions.push((values, vec![f])),
        }
    }
    if keys.is_empty() || partitions.len() > MAX_UNION_PARTITIONS || view != FactView::Partitions {
        let hive = if keys.is_empty() {
            ", hive_partitioning = false".to_string()
        } else {
            format!(
                ", hive_partitioning = true, hive_types = {{{}}}",
                keys.iter()
                    .map(|k| format!("'{}': INTEGER", k.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let sel = select(&|k| keys.contains(&k).then(|| k.name().to_string()));
        return Ok(format!(
            "SELECT {sel} FROM {}",
            read(&all, &format!("{hive}{extra}"))
        ));
    }
    Ok(partitions
        .iter()
        .map(|(values, list)| {
            let sel = select(&|k| {
                values
                    .iter()
                    .find(|(pk, _)| *pk == k)
                    .map(|(_, v)| format!("CAST({v} AS INTEGER)"))
            });
            format!(
                "SELECT {sel} FROM {}",
                read(list, ", hive_partitioning = false")
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n"))
}

impl Engine {
    /// An engine over the opened data set `ds`: its files of
    /// `config.storage` checked against the manifest, views created.
    pub fn open(ds: &Arc<DataSet>, config: EngineConfig) -> Result<Engine> {
        ds.verify(config.storage)?;
        let conn = match &config.load_into {
            Some(db) => Connection::open(db)
                .with_context(|| format!("opening database {}", db.display()))?,
            None => Connection::open_in_memory()?,
        };
        // Parquet footers are read once per process, not once per query:
        // the fact view binds one scan per partition. GLOBAL: a plain `SET`
        // of this extension setting holds for this connection only, and
        // the server's sessions and the concurrency study run on clones,
        // which re-read every footer per query (`drill_down_time` at 10M:
        // 36.6 ms over the wire against 31.3 ms in process).
        conn.execute_batch(&format!(
            "SET threads = {}; SET GLOBAL parquet_metadata_cache = true;",
            config.threads
        ))?;
        if config.load_into.is_none() && !ds.manifest().storage.partition_by.is_empty() {
            conn.execute_batch(HIVE_SAFE_OPTIMIZERS)?;
        }
        if let Some(m) = &config.memory_limit {
            conn.execute_batch(&format!("SET memory_limit = {};", quote(m)))
                .map_err(|e| crate::error::UserError::new(format!("--memory-limit {m:?}: {e}")))?;
        }
        // Spills (a tight --memory-limit, a huge join) go to a directory
        // olap owns and removes, never into the working directory.
        let spill = spill_dir();
        if let Some((dir, max)) = &spill {
            conn.execute_batch(&format!(
                "SET temp_directory = {}; SET max_temp_directory_size = '{}B';",
                quote(&dir.to_string_lossy()),
                max
            ))?;
        }
        // Both fact scans, built once: the per-partition one becomes the
        // view, the all-files one is kept when it differs (a layout with one
        // partition, or too many to union, has only the latter).
        let (fact_partitions, files_view) = if config.load_into.is_some() {
            (None, None)
        } else {
            let [partitions, files] = [FactView::Partitions, FactView::Files]
                .map(|v| scan_sql(ds, Table::SalesFact, config.storage, v));
            let (partitions, files) = (partitions?, files?);
            let files_view = (partitions != files).then_some(FactScans {
                files,
                keyed: OnceLock::new(),
            });
            (Some(partitions), files_view)
        };
        let engine = Engine {
            conn,
            core: Arc::new(EngineCore {
                ds: Arc::clone(ds),
                config,
                spill_dir: spill.map(|s| s.0),
                files_view,
                choices: Mutex::new(HashMap::new()),
            }),
            current: Mutex::new(FactView::Partitions),
        };
        match fact_partitions {
            None => engine.load_tables()?,
            Some(fact) => engine.create_views(&fact)?,
        }
        Ok(engine)
    }

    /// A view per table; the fact table's from `fact`, its per-partition scan.
    fn create_views(&self, fact: &str) -> Result<()> {
        for t in Table::ALL {
            match t {
                Table::SalesFact => self.create_as(t, "VIEW", fact)?,
                _ => self.create(t, "VIEW")?,
            }
        }
        Ok(())
    }

    /// `CREATE OR REPLACE {kind} table AS` its scan (a view, or a native table).
    fn create(&self, t: Table, kind: &str) -> Result<()> {
        let sql = scan_sql(
            &self.core.ds,
            t,
            self.core.config.storage,
            FactView::Partitions,
        )?;
        self.create_as(t, kind, &sql)
    }

    fn create_as(&self, t: Table, kind: &str, sql: &str) -> Result<()> {
        self.conn
            .execute_batch(&format!("CREATE OR REPLACE {kind} {} AS {sql}", t.name()))
            .with_context(|| format!("creating {} {}", kind.to_lowercase(), t.name()))
    }

    /// Identity of the data set's content: a database loaded from it is
    /// reused as long as this matches.
    fn data_set_identity(&self) -> String {
        let sums: Vec<String> = self
            .manifest()
            .tables
            .iter()
            .map(|t| format!("{}:{}:{}", t.name, t.rows, t.content_checksum))
            .collect();
        format!("{}|{}", self.core.config.storage.name(), sums.join(","))
    }

    /// Copies every table into native DuckDB tables (with a progress bar on
    /// a terminal), unless the database already holds this data set.
    fn load_tables(&self) -> Result<()> {
        let identity = self.data_set_identity();
        let loaded: Option<String> = self
            .conn
            .query_row("SELECT identity FROM olap_loaded", [], |r| r.get(0))
            .ok();
        if loaded.as_deref() == Some(identity.as_str()) {
            return Ok(());
        }
        let total: u64 = Table::ALL
            .iter()
            .filter_map(|t| self.manifest().table(*t))
            .map(|t| t.rows)
            .sum();
        let bar = crate::util::progress_bar(total, "loading", true);
        // One transaction: the identity is recorded with the tables it
        // describes, or neither is (an interrupted load leaves the old ones).
        self.conn.execute_batch("BEGIN TRANSACTION;")?;
        let loaded = (|| -> Result<()> {
            for t in Table::ALL {
                tracing::debug!("loading {}", t.name());
                self.create(t, "TABLE")?;
                bar.inc(self.manifest().table(t).map_or(0, |e| e.rows));
            }
            self.conn.execute_batch(&format!(
                "CREATE OR REPLACE TABLE olap_loaded AS SELECT {} AS identity; COMMIT;",
                quote(&identity)
            ))?;
            Ok(())
        })();
        if let Err(e) = loaded {
            let _ = self.conn.execute_batch("ROLLBACK;");
            return Err(e);
        }
        self.conn.execute_batch("CHECKPOINT;")?;
        bar.finish_and_clear();
        Ok(())
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The data set this engine reads.
    pub fn data_set(&self) -> &Arc<DataSet> {
        &self.core.ds
    }

    pub fn manifest(&self) -> &Manifest {
        self.core.ds.manifest()
    }

    /// Interrupts whatever runs on the engine's own connection.
    pub fn interrupt_handle(&self) -> Arc<duckdb::InterruptHandle> {
        self.conn.interrupt_handle()
    }

    /// Makes `sql` ready on the engine's connection: its rewrite (when olap
    /// makes one, see `query::rewrite`) and the fact view it runs on, put in
    /// place (`None` when the data set has one way: loaded tables, no
    /// partitions, past [`MAX_UNION_PARTITIONS`]). Under `--fact-view auto`
    /// the view is read from the plan over all files of the SQL that runs
    /// (see [`choose_from_plan`]). Both are decided once per SQL text (the
    /// data set cannot change while the engine holds its snapshot); the
    /// view is a connection-local `TEMP VIEW`, so other connections keep
    /// theirs.
    pub fn prepare(&self, sql: &str) -> Result<Arc<Prepared>> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.prepare_on(&self.conn, sql, &mut current)
    }

    /// Runs `sql` as a user's question on the engine's own connection: decided
    /// once (see [`Engine::prepare`]) and guarded (see [`Engine::run_on`]).
    pub fn run<T>(
        &self,
        sql: &str,
        exec: &mut dyn FnMut(&Connection, &str, &Watchdog) -> Result<T>,
    ) -> Result<Ran<T>> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.run_on(&self.conn, &mut current, sql, exec)
    }

    /// Runs `sql` as a user would and collects its answer.
    pub fn run_collect(&self, sql: &str) -> Result<Ran<Vec<RecordBatch>>> {
        self.run(sql, &mut |conn, sql, _| query(conn, sql))
    }

    /// A new connection to the same database (for concurrent queries).
    pub fn clone_connection(&self) -> Result<Connection> {
        Ok(self.conn.try_clone()?)
    }

    /// Runs `sql` and collects the result.
    pub fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        query(&self.conn, sql)
    }

    pub fn duckdb_version(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT version()", [], |r| r.get::<_, String>(0))?)
    }

    /// The part every connection of this database shares.
    pub fn core(&self) -> &Arc<EngineCore> {
        &self.core
    }

    pub fn config(&self) -> &EngineConfig {
        &self.core.config
    }

    /// [`EngineCore::prepare_on`] on another connection of this engine,
    /// whose fact view is `current` (a new connection has `Partitions`).
    pub fn prepare_on(
        &self,
        conn: &Connection,
        sql: &str,
        current: &mut FactView,
    ) -> Result<Arc<Prepared>> {
        self.core.prepare_on(conn, sql, current)
    }

    /// [`EngineCore::run_on`] on another connection of this engine.
    pub fn run_on<T>(
        &self,
        conn: &Connection,
        current: &mut FactView,
        sql: &str,
        exec: &mut dyn FnMut(&Connection, &str, &Watchdog) -> Result<T>,
    ) -> Result<Ran<T>> {
        self.core.run_on(conn, current, sql, exec)
    }

    /// Forgets how each SQL text runs, so the next run decides again, as a
    /// new process would (the fuzzer times olap as a user runs it).
    pub fn forget_decisions(&self) {
        self.core.forget_decisions()
    }
}

impl EngineCore {
    /// The data set this database reads.
    pub fn data_set(&self) -> &Arc<DataSet> {
        &self.ds
    }

    pub fn manifest(&self) -> &Manifest {
        self.ds.manifest()
    }

    /// Forgets how each SQL text runs, so the next run decides again, as a
    /// new process would (the fuzzer times olap as a user runs it).
    pub fn forget_decisions(&self) {
        self.choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// [`Engine::prepare`] on another connection of this engine, whose
    /// fact view is `current` (a new connection has `Partitions`).
    pub fn prepare_on(
        &self,
        conn: &Connection,
        sql: &str,
        current: &mut FactView,
    ) -> Result<Arc<Prepared>> {
        let known = self
            .choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        let prepared = match known {
            Some(p) if !p.second_look => p,
            // Asked again: the rewrite's decision is now spread over runs.
            Some(_) => {
                let p = Arc::new(self.decide(conn, sql, current, RewriteMode::Always)?);
                self.choices
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(sql.to_string(), Arc::clone(&p));
                p
            }
            None => {
                let p = Arc::new(self.decide(conn, sql, current, self.config.rewrite)?);
                self.choices
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(sql.to_string(), Arc::clone(&p));
                p
            }
        };
        if let (Some(files), Some(used)) = (&self.files_view, prepared.fact_view) {
            set_fact_view(conn, files, used.view, current)?;
        }
        Ok(prepared)
    }

    /// How `sql` runs: its rewrite (when one applies and the guard lets it:
    /// see `query::rewrite::guard`), and the fact view for the SQL that runs.
    fn decide(
        &self,
        conn: &Connection,
        sql: &str,
        current: &mut FactView,
        rewrite: RewriteMode,
    ) -> Result<Prepared> {
        let stats = Stats::from_manifest(self.manifest());
        // The SQL as written first: its fact view, and its plan for the
        // cheap evidence (the fact rows it reads) before any rewrite is built.
        let (original_view, original_plan) =
            self.choose_view(conn, sql, current, &stats, rewrite != RewriteMode::Off)?;
        let fact_rows = self.manifest().spec.rows;
        let too_few = match (&original_plan, rewrite) {
            (None, RewriteMode::Auto | RewriteMode::Always) => {
                Some("DuckDB cannot plan the SQL as written".to_string())
            }
            (Some(plan), RewriteMode::Auto) => {
                let read = fact_rows_read(plan, fact_rows);
                (read < REWRITE_MIN_FACT_ROWS).then(|| {
                    format!(
                        "it reads about {read} fact rows, too few for a rewrite to pay for deciding it once (from {REWRITE_MIN_FACT_ROWS}; decided when the same SQL runs again; --rewrite always tries at once)"
                    )
                })
            }
            _ => None,
        };
        // A rewrite that fails to build (DuckDB cannot parse or bind the
        // SQL) leaves the SQL as written; its own run reports errors.
        let small = too_few.is_some() && original_plan.is_some();
        let outcome = match (rewrite, too_few) {
            (RewriteMode::Off, _) => Outcome::AsWritten(None),
            (_, Some(why)) => Outcome::AsWritten(Some(why)),
            _ => rewrite::rewrite_or_refuse(conn, sql, &stats).unwrap_or_else(|e| {
                tracing::debug!("no rewrite: {e:#}");
                Outcome::AsWritten(None)
            }),
        };
        let r = match outcome {
            Outcome::Rewritten(r) => r,
            Outcome::AsWritten(refused) => {
                if let Some(why) = &refused {
                    tracing::debug!("no rewrite: {why}");
                }
                return Ok(Prepared {
                    second_look: small,
                    ..Prepared::as_written(sql, original_view, refused)
                });
            }
        };
        // Both plans, on the same view of the fact table, for the guard.
        let (view, plan) = self.choose_view(conn, &r.sql, current, &stats, true)?;
        let refused = match (&original_plan, &plan) {
            (Some(o), Some(p)) => guard::compare_plans(o, p, self.manifest().spec.rows).err(),
            (Some(_), None) => Some("DuckDB cannot plan the rewrite".to_string()),
            // The SQL as written cannot be planned: its run says why.
            (None, _) => Some("DuckDB cannot plan the SQL as written".to_string()),
        };
        if let Some(why) = refused {
            tracing::debug!("rewrite refused ({}): {why}", r.note);
            return Ok(Prepared::as_written(sql, original_view, Some(why)));
        }
        let budget = original_plan
            .as_deref()
            .map(|p| guard::budget(p, self.manifest().spec.rows));
        Ok(Prepared {
            sql: r.sql,
            rewrite: Some(r.note),
            fact_view: view,
            original: Some(Arc::new(Prepared::as_written(sql, original_view, None))),
            budget,
            refused: None,
            second_look: false,
        })
    }

    /// The fact view `sql` runs on (`None` when the data set has one way),
    /// and, when `want_plan` or when the choice reads it, DuckDB's plan of
    /// `sql` over the all-files view (`None` when DuckDB cannot plan it).
    fn choose_view(
        &self,
        conn: &Connection,
        sql: &str,
        current: &mut FactView,
        stats: &Stats,
        want_plan: bool,
    ) -> Result<(Option<FactViewUse>, Option<Vec<Value>>)> {
        let plan_here = |current: &mut FactView| -> Result<Option<Vec<Value>>> {
            if let Some(files) = &self.files_view {
                set_fact_view(conn, files, FactView::Files, current)?;
            }
            Ok(explain(conn, sql).ok())
        };
        let Some(files) = &self.files_view else {
            let plan = if want_plan { plan_here(current)? } else { None };
            return Ok((None, plan));
        };
        if let FactViewMode::Always(view) = self.config.fact_view {
            let plan = if want_plan { plan_here(current)? } else { None };
            let used = FactViewUse {
                view,
                reason: "set by --fact-view",
            };
            return Ok((Some(used), plan));
        }
        // SQL that cannot be explained (several statements, a SET, an
        // error) keeps the default; its own run reports errors.
        let Some(plan) = plan_here(current)? else {
            let used = FactViewUse {
                view: FactView::Partitions,
                reason: "DuckDB could not plan the SQL on its own",
            };
            return Ok((Some(used), None));
        };
        let explain_sql = sql;
        let c = choose_from_plan(&plan);
        let c = match partition_key_groups(&plan, stats) {
            Some(groups) if c.reason == AGGREGATED_FIRST => {
                if groups >= SPLIT_GROUPS {
                    FactViewUse {
                        view: FactView::Partitions,
                        reason: "the fact table is aggregated by a partition key into many groups, fewer per partition",
                    }
                } else {
                    perfect_on_partitions(conn, files, current, explain_sql, &plan)?.unwrap_or(c)
                }
            }
            None if c.reason == AGGREGATED_FIRST => {
                match self.split_on_partitions(conn, files, current, explain_sql, &plan, stats)? {
                    Some(split) => split,
                    None if filters_date(&plan) => {
                        let rows = DATE_PROVED_MIN_ROWS / crate::fault::rows_scale();
                        let enough = self.partitions_holding(rows)?;
                        date_proved_on_partitions(conn, files, current, explain_sql, enough)?
                            .unwrap_or(c)
                    }
                    None => c,
                }
            }
            _ => c,
        };
        let c = if c.view == FactView::Files && c.reason == AGGREGATED_FIRST {
            self.perfect_on_keys(conn, files, current, explain_sql, &plan)?
                .unwrap_or(c)
        } else {
            c
        };
        tracing::debug!("fact view: {} ({})", c.view.describe(), c.reason);
        Ok((Some(c), Some(plan)))
    }

    /// How many of the fact's partitions hold `rows` rows, at its mean
    /// rows per partition (at least one).
    fn partitions_holding(&self, rows: u64) -> Result<usize> {
        let files = self.ds.files(Table::SalesFact, self.config.storage)?;
        let partitions = files
            .iter()
            .map(|(_, hive)| hive)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            .max(1) as u64;
        let per = (self.manifest().spec.rows / partitions).max(1);
        Ok(rows.div_ceil(per).max(1) as usize)
    }

    /// The keyed scan of all files and the ranges it states, built (every
    /// fact footer read) the first time a question asks; `None` when no
    /// column has a range to state.
    fn keyed_scan<'a>(&self, scans: &'a FactScans) -> Option<&'a (String, KeyRanges)> {
        scans
            .keyed
            .get_or_init(|| {
                let built = KeyRanges::read(&self.ds).and_then(|ranges| {
                    ranges
                        .map(|r| {
                            let extra = format!(", {}", r.option());
                            let scan = scan_sql_with(
                                &self.ds,
                                Table::SalesFact,
                                FileFormat::Parquet,
                                FactView::Files,
                                &extra,
                            )?;
                            Ok((scan, r))
                        })
                        .transpose()
                });
                built.unwrap_or_else(|e| {
                    tracing::debug!("no keyed fact view: {e:#}");
                    None
                })
            })
            .as_ref()
    }

    /// The one-scan-per-partition view for a question that aggregates the
    /// fact first by a key each partition holds a range of its own of
    /// (`transaction_id`, numbered in date order; see
    /// `KeyRanges::split`), into many groups: no group spans two
    /// partitions, so each partition's scan fills hash tables of its own
    /// groups only, a fraction of the size. Measured at 10M and 100M rows,
    /// 2 threads, both views forced: the basket per channel (a year's
    /// transactions, then grouped again) 233 against 334 ms and 1,867
    /// against 2,690 ms; the top 10 transactions of all years 350 against
    /// 654 ms and 4,493 against 5,111 ms. `customer_key` (every partition
    /// holds most customers) is no such key: the top customers ran 1.05-1.19×
    /// slower over the partitions.
    fn split_on_partitions(
        &self,
        conn: &Connection,
        scans: &FactScans,
        current: &mut FactView,
        sql: &str,
        files_plan: &[Value],
        stats: &Stats,
    ) -> Result<Option<FactViewUse>> {
        if self.config.storage != FileFormat::Parquet {
            return Ok(None);
        }
        let Some((_, ranges)) = self.keyed_scan(scans) else {
            return Ok(None);
        };
        // No more groups than the rows read.
        let read = fact_rows_read(files_plan, self.manifest().spec.rows);
        let split = hash_group_columns(files_plan).iter().any(|groups| {
            groups.iter().any(|g| ranges.is_split(g))
                && most_groups(groups, stats).min(read) >= SPLIT_GROUPS
        });
        if !split {
            return Ok(None);
        }
        // A plan that materializes the fact rows (a CTE) copies the
        // union's streams before any table: see `perfect_on_partitions`.
        let Some(plan) = plan_on_partitions(conn, scans, current, sql)? else {
            return Ok(None);
        };
        Ok((count_operators(&plan, "CTE") == 0).then_some(FactViewUse {
            view: FactView::Partitions,
            reason: "the fact table is aggregated by a key each partition holds a range of its own of, so each partition's scan fills smaller hash tables",
        }))
    }

    /// The keyed view for a question that aggregates the whole fact table
    /// by integer columns (`GROUP BY customer_key`): when their ranges take
    /// more bits than DuckDB's default threshold and at most
    /// [`MAX_PERFECT_BITS`], and the question reads at least a row
    /// per slot of that table (fewer, and clearing the table costs more than
    /// hashing them), and DuckDB's plan over the keyed view then aggregates
    /// in more perfect hash tables than over the plain one.
    fn perfect_on_keys(
        &self,
        conn: &Connection,
        scans: &FactScans,
        current: &mut FactView,
        sql: &str,
        files_plan: &[Value],
    ) -> Result<Option<FactViewUse>> {
        let groups = hash_group_columns(files_plan);
        if groups.is_empty() || self.config.storage != FileFormat::Parquet {
            return Ok(None);
        }
        let Some((_, ranges)) = self.keyed_scan(scans) else {
            return Ok(None);
        };
        let bits = groups
            .iter()
            .filter_map(|g| {
                let cols: Vec<&str> = g.iter().map(String::as_str).collect();
                ranges.bits(&cols)
            })
            .max();
        // Up to DuckDB's default threshold a hash table of that few groups
        // stays in cache and is as fast: the payment types of
        // `partition_pruning` (20 groups) ran 1.03-1.05× plain keyed.
        let Some(bits) = bits.filter(|b| (DEFAULT_PERFECT_BITS + 1..=MAX_PERFECT_BITS).contains(b))
        else {
            return Ok(None);
        };
        if fact_rows_read(files_plan, self.manifest().spec.rows) < 1u64 << bits {
            return Ok(None);
        }
        let want = FactView::Keyed(bits);
        set_fact_view(conn, scans, want, current)?;
        let Ok(plan) = explain(conn, sql) else {
            return Ok(None);
        };
        let perfect = "PERFECT_HASH_GROUP_BY";
        Ok(
            (count_operators(&plan, perfect) > count_operators(files_plan, perfect)).then_some(
                FactViewUse {
                    view: want,
                    reason: "the fact table is aggregated by keys whose ranges, given to DuckDB, let it index groups in a perfect hash table",
                },
            ),
        )
    }

    /// Runs `sql` on `conn` (whose fact view is `current`) through `exec`,
    /// which runs the SQL it is given and calls
    /// [`Watchdog::output_started`] before its first rows go to the user.
    /// A rewrite runs under its budget: past it, or on any error before
    /// output started, it is abandoned (once: the engine then runs this SQL
    /// as written) and the SQL as written runs; the answer is the
    /// original's. `-v` says which rewrite was abandoned and why.
    pub fn run_on<T>(
        &self,
        conn: &Connection,
        current: &mut FactView,
        sql: &str,
        exec: &mut dyn FnMut(&Connection, &str, &Watchdog) -> Result<T>,
    ) -> Result<Ran<T>> {
        let started = Instant::now();
        let prepared = self.prepare_on(conn, sql, current)?;
        let prepare_ms = started.elapsed().as_secs_f64() * 1e3;
        let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
        let (Some(original), Some(note)) = (&prepared.original, &prepared.rewrite) else {
            let value = exec(conn, &prepared.sql, &Watchdog::inert())?;
            return Ok(Ran {
                value,
                prepared,
                prepare_ms,
                ms: ms(started),
                abandoned: None,
            });
        };
        let budget = prepared.budget.unwrap_or(Duration::MAX);
        let dog = Watchdog::arm(conn, budget);
        let result = if crate::fault::rewrite_fails() {
            Err(anyhow::anyhow!(
                "injected failure (OLAP_FAULT_REWRITE=fail)"
            ))
        } else {
            exec(conn, &prepared.sql, &dog)
        };
        let (fired, output) = dog.finish();
        let err = match result {
            Ok(value) => {
                return Ok(Ran {
                    value,
                    prepared,
                    prepare_ms,
                    ms: ms(started),
                    abandoned: None,
                });
            }
            Err(e) if output => return Err(e),
            Err(e) => e,
        };
        let why = if fired {
            format!(
                "it ran past its budget of {:.0} ms",
                budget.as_secs_f64() * 1e3
            )
        } else {
            format!(
                "it failed: {}",
                format!("{err:#}").lines().next().unwrap_or_default()
            )
        };
        tracing::debug!("rewrite abandoned ({note}): {why}; running the SQL as written");
        self.choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.to_string(), Arc::clone(original));
        if let (Some(files), Some(used)) = (&self.files_view, original.fact_view) {
            set_fact_view(conn, files, used.view, current)?;
        }
        let value = exec(conn, &original.sql, &Watchdog::inert())?;
        Ok(Ran {
            value,
            prepared: Arc::clone(original),
            prepare_ms,
            ms: ms(started),
            abandoned: Some(why),
        })
    }
}

/// Makes `sales_fact` on `conn` read as `want`: a connection-local view of
/// all files shadows the main one, or is dropped.
/// Set for every database over a partitioned data set, whose fact table
/// some question reads as one Hive-partitioned scan. DuckDB 2.0's
/// `window_self_join` (a window aggregate over `PARTITION BY` alone turned
/// into an aggregate joined back to its input) copies the scan without its
/// filter on a Hive column: `sum(a) OVER (PARTITION BY month)` over a
/// subquery `WHERE year >= 2022` summed every year (the fuzzer's seed
/// 710382 at 1M rows: 9,265 against 5,045; official DuckDB 2.0.0 the same,
/// right with this optimizer off). The setting is the database's, not a
/// connection's, so it cannot follow the fact view. No catalog or ad-hoc
/// question has such a window.
pub const HIVE_SAFE_OPTIMIZERS: &str = "SET GLOBAL disabled_optimizers = 'window_self_join'";

/// The fact table's one scan of all files, plain and keyed.
struct FactScans {
    files: String,
    /// The keyed scan and the ranges it states, built (footers read) when
    /// the first question that could use it is decided; `None` when no
    /// column has a range to state (or the storage is CSV).
    keyed: OnceLock<Option<(String, KeyRanges)>>,
}

fn set_fact_view(
    conn: &Connection,
    scans: &FactScans,
    want: FactView,
    current: &mut FactView,
) -> Result<()> {
    if *current == want {
        return Ok(());
    }
    let view = |scan: &str| format!("CREATE OR REPLACE TEMP VIEW sales_fact AS {scan}");
    let mut sql = match want {
        FactView::Files => view(&scans.files),
        FactView::Partitions => "DROP VIEW IF EXISTS temp.sales_fact".to_string(),
        FactView::Keyed(bits) => {
            let (scan, _) = scans
                .keyed
                .get()
                .and_then(Option::as_ref)
                .context("the keyed fact view was chosen before it was built")?;
            format!("{}; SET perfect_ht_threshold = {bits}", view(scan))
        }
    };
    // The threshold belongs to the keyed view: the next question on this
    // connection gets DuckDB's default back.
    if matches!(*current, FactView::Keyed(_)) && !matches!(want, FactView::Keyed(_)) {
        sql.push_str("; RESET perfect_ht_threshold");
    }
    conn.execute_batch(&sql)
        .context("switching the fact view")?;
    *current = want;
    Ok(())
}

/// What takes a fact scan's rows, through projections and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactConsumer {
    Join,
    JoinOnFilteredTime,
    Other,
}

/// Why a query whose fact rows are aggregated before any join reads one
/// scan of all files.
const AGGREGATED_FIRST: &str = "the fact table is aggregated or filtered before any join";

/// Column names: the fact view's, each dimension's, and dim_time's.
type Columns = (Vec<String>, Vec<Vec<String>>, Vec<String>);
static COLUMNS: LazyLock<Columns> = LazyLock::new(|| {
    let dims = Table::ALL
        .into_iter()
        .filter(|t| !t.is_fact())
        .map(Table::view_columns)
        .collect();
    (
        Table::SalesFact.view_columns(),
        dims,
        Table::DimTime.view_columns(),
    )
});

fn has(cols: &[String], c: &str) -> bool {
    cols.iter().any(|f| f == c)
}

/// A scan's extra info and the columns it projects.
fn scan(node: &Value) -> Option<(&serde_json::Map<String, Value>, Vec<&str>)> {
    let name = node.get("name").and_then(Value::as_str)?;
    let info = node.get("extra_info")?.as_object()?;
    if !name.starts_with("READ_") {
        return None;
    }
    let projected = info.get("Projections").map(strings).unwrap_or_default();
    Some((info, projected))
}

/// Whether a plan operator scans the fact table: it prunes files by
/// partition values (`File Filters`), or it reads fact columns and not all
/// of one dimension's (its keys alone could be either side of a join).
fn is_fact_scan(node: &Value) -> bool {
    let (fact, dims, _) = &*COLUMNS;
    let Some((info, projected)) = scan(node) else {
        return false;
    };
    info.contains_key("File Filters")
        || (!projected.is_empty()
            && projected.iter().all(|c| has(fact, c))
            && !dims.iter().any(|d| projected.iter().all(|c| has(d, c))))
}

/// About how many fact rows a plan over the all-files view reads: each
/// fact scan reads its share of the files DuckDB kept after pruning by
/// partition values (`Scanning Files: k/N`), or all of them. A plan with no
/// fact scan it can tell (native tables, an unusual projection) counts as
/// reading the whole table, so the cheap evidence never hides a rewrite it
/// cannot judge.
fn fact_rows_read(roots: &[Value], fact_rows: u64) -> u64 {
    let scans: Vec<u64> = operators(roots)
        .into_iter()
        .filter(|n| is_fact_scan(n))
        .map(|n| {
            let share = n["extra_info"]["Scanning Files"]
                .as_str()
                .and_then(|s| s.split_once('/'))
                .and_then(|(k, n)| {
                    Some((k.trim().parse::<u64>().ok()?, n.trim().parse::<u64>().ok()?))
                })
                .filter(|&(_, n)| n > 0);
            match share {
                Some((k, n)) => fact_rows.saturating_mul(k) / n,
                None => fact_rows,
            }
        })
        .collect();
    if scans.is_empty() {
        fact_rows
    } else {
        scans.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// The fact view for a query, from its `EXPLAIN (FORMAT json)` plan over
/// the all-files view: one scan per partition when the fact table's rows go
/// into a join before they are aggregated (the way users write; with a
/// partition filter that plan's estimates are also wrong), else one scan of
/// all files. A fact scan is the one pruning files by partition values
/// (`File Filters`), or one reading fact columns that no single dimension
/// has all of.
fn choose_from_plan(roots: &[serde_json::Value]) -> FactViewUse {
    use serde_json::Value;
    let (_, _, time) = &*COLUMNS;
    // A join on a filtered dim_time turns the time keys it keeps into a
    // dynamic filter on the fact scan, and the fact is stored in date order,
    // so that scan skips most row groups: little is left to join, and one
    // scan of all files is the cheaper pipeline (adhoc_holiday_payments).
    let is_filtered_time_scan = |node: &Value| -> bool {
        scan(node).is_some_and(|(info, projected)| {
            info.contains_key("Filters")
                && projected.contains(&"time_key")
                && projected.iter().all(|c| has(time, c))
        })
    };
    /// The two kinds of scan the rule looks for.
    struct Scans<'a> {
        fact: &'a dyn Fn(&Value) -> bool,
        filtered_time: &'a dyn Fn(&Value) -> bool,
    }
    /// Walks down with the nearest ancestor that is not a pass-through,
    /// noting what takes each fact scan's rows.
    fn walk(node: &Value, consumer: Option<&Value>, scans: &Scans, found: &mut Vec<FactConsumer>) {
        let name = node.get("name").and_then(Value::as_str).unwrap_or_default();
        if (scans.fact)(node) {
            let joined = consumer.filter(|c| {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                name.contains("JOIN") || name == "CROSS_PRODUCT"
            });
            found.push(match joined {
                Some(j) if any_node(j, scans.filtered_time) => FactConsumer::JoinOnFilteredTime,
                Some(_) => FactConsumer::Join,
                None => FactConsumer::Other,
            });
            return;
        }
        let pass_through = matches!(name, "PROJECTION" | "FILTER" | "UNION");
        let consumer = if pass_through { consumer } else { Some(node) };
        for c in node
            .get("children")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(c, consumer, scans, found);
        }
    }
    let scans = Scans {
        fact: &is_fact_scan,
        filtered_time: &is_filtered_time_scan,
    };
    let mut found = Vec::new();
    for root in roots {
        walk(root, None, &scans, &mut found);
    }
    // A plan DuckDB cannot hash-join all through (a cross product, a
    // nested-loop, inequality or dependent join) is steered by estimates
    // the per-partition union changes, not improved by them: one scan of
    // all files keeps the plain engine's plan. Measured at 1M rows: a
    // cross product ran 47.7 s over the partitions where one scan took
    // 28.2 s (tests/fuzz-corpus/1m-seed-100274-slow.sql); a comma join with
    // a LEFT JOIN naming the fact (a dependent join, planned as a cross
    // product over a CTE) 27.4 s against 4.3 s (…-300507-slow.sql).
    let crossed = operators(roots)
        .iter()
        .any(|n| guard::RISKY_JOINS.contains(&name(n)));
    let (view, reason) = if crossed {
        (
            FactView::Files,
            "DuckDB plans a cross product, nested-loop or dependent join: one scan keeps the plain engine's plan",
        )
    } else if found.contains(&FactConsumer::Join) {
        (
            FactView::Partitions,
            "the fact table is joined before it is aggregated",
        )
    } else if found.contains(&FactConsumer::JoinOnFilteredTime) {
        (
            FactView::Files,
            "the fact table is joined to a filtered dim_time, whose keys skip its date-ordered row groups",
        )
    } else if found.contains(&FactConsumer::Other) {
        (FactView::Files, AGGREGATED_FIRST)
    } else {
        (
            FactView::Files,
            "no scan of the fact table's own columns in the plan",
        )
    };
    FactViewUse { view, reason }
}

/// Whether a scan in the plan filters its rows by `date` (a `Filters`
/// entry naming the column).
fn filters_date(roots: &[serde_json::Value]) -> bool {
    let by_date = |node: &serde_json::Value| {
        node["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("READ_") || n == "TABLE_SCAN")
            && strings(&node["extra_info"]["Filters"]).iter().any(|f| {
                f.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == "date")
            })
    };
    roots.iter().any(|r| any_node(r, &by_date))
}

/// The one-scan-per-partition view for a query that aggregates the fact
/// first under a `date` filter, when over the partitions no scan filters
/// by `date` any more: the optimizer prunes the partitions outside the
/// range by their statistics and proves the filter true for those left,
/// where one scan of all files tests it on every row it reads (and the
/// partitions' key ranges often allow a perfect hash table too). A quarter
/// by date at 100M: 73.0 against 92.4 ms; 0.88× at 40M, 1.06× at 10M.
/// A range that cuts through a partition keeps its filter, and the query
/// its one scan; so does one that keeps fewer than `enough` partitions
/// (see [`DATE_PROVED_MIN_ROWS`]).
fn date_proved_on_partitions(
    conn: &Connection,
    files: &FactScans,
    current: &mut FactView,
    sql: &str,
    enough: usize,
) -> Result<Option<FactViewUse>> {
    let Some(plan) = plan_on_partitions(conn, files, current, sql)? else {
        return Ok(None);
    };
    let kept = operators(&plan)
        .into_iter()
        .filter(|n| is_fact_scan(n))
        .count();
    Ok(
        (!filters_date(&plan) && kept >= enough).then_some(FactViewUse {
            view: FactView::Partitions,
            reason: "the date filter holds for whole partitions, which their statistics prove",
        }),
    )
}

/// The fewest fact rows a date filter proved on whole partitions must keep
/// for their scans to pay: a quarter's partition at 10M rows (833K of 12) ran
/// 1.06-1.10× slower than one scan of all files, at 40M (3.3M rows) 0.88×,
/// at 100M 0.77× (75.0 against 97.3 ms).
const DATE_PROVED_MIN_ROWS: u64 = 2_000_000;

/// The plan of `explain` with `sales_fact` as one scan per partition
/// (`None` when DuckDB cannot plan it so).
fn plan_on_partitions(
    conn: &Connection,
    files: &FactScans,
    current: &mut FactView,
    sql: &str,
) -> Result<Option<Vec<serde_json::Value>>> {
    set_fact_view(conn, files, FactView::Partitions, current)?;
    Ok(explain(conn, sql).ok())
}

/// The one-scan-per-partition view instead of the one-scan view DuckDB's
/// plan picked, when over the partitions DuckDB aggregates in perfect hash
/// tables where over all files it hashes: each partition's scan carries its
/// keys as constants, so DuckDB knows the ranges of year, quarter and month
/// (not of Hive columns) and indexes groups by them directly. Monthly
/// revenue at 100M: 585 against 765 ms.
fn perfect_on_partitions(
    conn: &Connection,
    files: &FactScans,
    current: &mut FactView,
    sql: &str,
    files_plan: &[serde_json::Value],
) -> Result<Option<FactViewUse>> {
    let Some(plan) = plan_on_partitions(conn, files, current, sql)? else {
        return Ok(None);
    };
    let perfect = "PERFECT_HASH_GROUP_BY";
    // Twelve tables of quantiles, distinct sets or lists cost more to fill
    // and merge than one hashed scan saves (`quantile_cont` by year at 1M:
    // 133 ms over the partitions, 98 over all files), and a plan that
    // materializes the fact rows (a CTE: DuckDB's grouping sets, distinct
    // aggregates) copies the union's twelve streams before any table
    // (a CUBE with `COUNT(DISTINCT date)`: 124 against 43 ms; the fuzzer's
    // seeds 700234, 700256, 700351 on 1M rows with 50,000 customers).
    let simple = operators(&plan)
        .iter()
        .filter(|n| name(n) == perfect)
        .all(|n| simple_aggregates(&strings(&n["extra_info"]["Aggregates"]).join(", ")));
    if !simple || count_operators(&plan, "CTE") > 0 {
        return Ok(None);
    }
    Ok(
        (count_operators(&plan, perfect) > count_operators(files_plan, perfect)).then_some(
            FactViewUse {
                view: FactView::Partitions,
                reason: "the partitions' constant keys let DuckDB aggregate in a perfect hash table",
            },
        ),
    )
}

/// Whether an aggregate operator's list (`sum(#1), count_star()`) holds
/// only aggregates with small fixed-size states: no holistic aggregate
/// (quantiles, modes, lists, strings) and no DISTINCT.
fn simple_aggregates(list: &str) -> bool {
    const SIMPLE: [&str; 9] = [
        "sum",
        "sum_no_overflow",
        "count",
        "count_star",
        "min",
        "max",
        "avg",
        "any_value",
        "first",
    ];
    let mut depth = 0usize;
    let mut item = String::new();
    let mut items = Vec::new();
    for ch in list.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(ch);
    }
    items.push(item);
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .all(|i| {
            let function = i.split('(').next().unwrap_or("").trim();
            SIMPLE.contains(&function) && !i.contains("DISTINCT")
        })
}

/// Groups from this many (by the product of their columns' distinct
/// values) an aggregate by a partition key runs faster over the partitions:
/// each partition holds a share of the groups (a quarter's months), so the
/// hash tables being filled are smaller. Measured with both views forced
/// (10M and 100M rows, 2 threads, the crates/duckdb-cpp build):
/// `moving_average` (180K groups) 0.94× at 10M and 0.95× at 100M, where
/// `yoy_growth` (40K) ran 1.11× and 1.01×, `product_rankings` 1.12× and
/// 1.03×, `category_by_quarter` (54K) 0.99× and 0.98× (an earlier build,
/// threshold 2^15, had them at 0.93-0.96× at 40M and 100M). Also the
/// least for a key each partition holds its own range of (see
/// `EngineCore::split_on_partitions`).
const SPLIT_GROUPS: u64 = 1 << 17;

/// The most groups an aggregate by `columns` can have: the product of
/// their distinct values ([`Stats::cardinality`]).
fn most_groups(columns: &[String], stats: &Stats) -> u64 {
    columns
        .iter()
        .fold(1u64, |n, g| n.saturating_mul(stats.cardinality(g)))
}

/// The most groups (by [`Stats::cardinality`]) of a plan's HASH_GROUP_BYs
/// that group by a partition key (year, quarter, month); `None` when none
/// does. The group names are read from the projection below the aggregate,
/// which its groups (`#i`) index.
fn partition_key_groups(roots: &[serde_json::Value], stats: &Stats) -> Option<u64> {
    hash_group_columns(roots)
        .iter()
        .filter(|groups| {
            groups
                .iter()
                .any(|g| PartitionKey::ALL.iter().any(|k| k.name() == g))
        })
        .map(|groups| most_groups(groups, stats))
        .max()
}

/// The grouped columns of each HASH_GROUP_BY of a plan that groups by fact
/// columns only (an aggregate of joined rows, by region say, is not the
/// fact's own). The names are read from the projection below the
/// aggregate, which its groups (`#i`) index.
fn hash_group_columns(roots: &[serde_json::Value]) -> Vec<Vec<String>> {
    use serde_json::Value;
    static FACT_COLUMNS: LazyLock<Vec<String>> = LazyLock::new(|| Table::SalesFact.view_columns());
    fn found(node: &Value, out: &mut Vec<Vec<String>>) {
        let children = node.get("children").and_then(Value::as_array);
        if node.get("name").and_then(Value::as_str) == Some("HASH_GROUP_BY") {
            let below = children
                .and_then(|c| c.first())
                .filter(|c| c["name"] == "PROJECTION")
                .map(|c| strings(&c["extra_info"]["Projections"]))
                .unwrap_or_default();
            let groups: Option<Vec<String>> = strings(&node["extra_info"]["Groups"])
                .iter()
                .map(|g| {
                    g.strip_prefix('#')
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| below.get(i).map(|c| c.to_string()))
                })
                .collect();
            if let Some(groups) = groups
                && !groups.is_empty()
                && groups.iter().all(|g| FACT_COLUMNS.contains(g))
            {
                out.push(groups);
            }
        }
        for c in children.into_iter().flatten() {
            found(c, out);
        }
    }
    let mut out = Vec::new();
    for root in roots {
        found(root, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fact_scan(files: Option<&str>) -> Value {
        let mut info = json!({
            "Function": "READ_PARQUET",
            "Projections": ["customer_key", "revenue"],
            "Estimated Cardinality": "1"
        });
        if let Some(f) = files {
            info["File Filters"] = json!("(year = 2022)");
            info["Scanning Files"] = json!(f);
        }
        json!({"name": "READ_PARQUET", "children": [], "extra_info": info})
    }

    fn node(name: &str, children: Vec<Value>) -> Value {
        json!({"name": name, "children": children, "extra_info": {}})
    }

    /// crates/duckdb-cpp builds DuckDB itself: the extensions olap needs
    /// (Parquet, JSON for the rewriter's parser, the core functions) must be
    /// compiled in and load with downloads and autoloading off.
    #[test]
    fn the_extensions_olap_needs_are_compiled_in() {
        let config = duckdb::Config::default()
            .with("autoinstall_known_extensions", "false")
            .unwrap()
            .with("autoload_known_extensions", "false")
            .unwrap();
        let conn = Connection::open_in_memory_with_flags(config).unwrap();
        for ext in ["core_functions", "parquet", "json"] {
            conn.execute_batch(&format!("LOAD {ext};")).unwrap();
            let (loaded, mode): (bool, String) = conn
                .query_row(
                    "SELECT loaded, install_mode::VARCHAR FROM duckdb_extensions() WHERE extension_name = ?",
                    [ext],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert!(loaded, "{ext} did not load");
            assert_eq!(mode, "STATICALLY_LINKED", "{ext}");
        }
        let n: i64 = conn
            .query_row("SELECT json_array_length('[1, 2, 3]')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn simple_aggregates_have_small_fixed_states() {
        assert!(simple_aggregates("sum(#1), count_star()"));
        assert!(simple_aggregates(
            "sum(CAST(#1 AS DECIMAL(18,2))), min(#2), avg(#3)"
        ));
        assert!(!simple_aggregates("sum(#1), quantile_cont(#2, #3)"));
        assert!(!simple_aggregates("count(DISTINCT #1)"));
        assert!(!simple_aggregates("string_agg(#1, ',')"));
    }

    #[test]
    fn the_fact_rows_a_plan_reads_are_the_partitions_it_keeps() {
        let plan = |scan| vec![node("HASH_GROUP_BY", vec![scan])];
        assert_eq!(fact_rows_read(&plan(fact_scan(Some("0/12"))), 1_200), 0);
        assert_eq!(fact_rows_read(&plan(fact_scan(Some("3/12"))), 1_200), 300);
        assert_eq!(fact_rows_read(&plan(fact_scan(None)), 1_200), 1_200);
        // A fact table read twice (a self-join) counts twice.
        let twice = vec![node(
            "HASH_JOIN",
            vec![fact_scan(Some("1/12")), fact_scan(Some("2/12"))],
        )];
        assert_eq!(fact_rows_read(&twice, 1_200), 300);
        // No fact scan it can tell: the whole table, so nothing is hidden.
        let dims = vec![json!({"name": "READ_PARQUET", "children": [],
            "extra_info": {"Projections": ["geo_key", "country"]}})];
        assert_eq!(fact_rows_read(&dims, 1_200), 1_200);
    }

    #[test]
    fn a_plan_with_a_cross_product_or_dependent_join_reads_one_scan_of_all_files() {
        let dim = json!({"name": "READ_PARQUET", "children": [],
            "extra_info": {"Projections": ["time_key"]}});
        let crossed = vec![node(
            "HASH_GROUP_BY",
            vec![node("CROSS_PRODUCT", vec![fact_scan(None), dim.clone()])],
        )];
        assert_eq!(choose_from_plan(&crossed).view, FactView::Files);
        // The fact joined by hash into a CTE that a cross product reads
        // elsewhere (a dependent join's plan), or a dependent join itself.
        for risky in ["CROSS_PRODUCT", "DELIM_JOIN", "NESTED_LOOP_JOIN"] {
            let plan = vec![node(
                "CTE",
                vec![
                    node("HASH_JOIN", vec![fact_scan(Some("8/12")), dim.clone()]),
                    node(risky, vec![node("CTE_SCAN", vec![]), dim.clone()]),
                ],
            )];
            assert_eq!(choose_from_plan(&plan).view, FactView::Files, "{risky}");
        }
        let joined = vec![node(
            "HASH_GROUP_BY",
            vec![node("HASH_JOIN", vec![fact_scan(None), dim])],
        )];
        assert_eq!(choose_from_plan(&joined).view, FactView::Partitions);
    }
}

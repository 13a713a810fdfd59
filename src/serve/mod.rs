//! `olap serve`: the data set over the PostgreSQL wire protocol (pgwire),
//! so psql, psycopg, JDBC, pgbench and BI tools query it.
//!
//! One DuckDB database over one opened data set (`storage::dataset`); each
//! client connection is a session with its own DuckDB connection to it,
//! running SQL through the same engine as `olap analyze` (the fact view and
//! the guarded rewrites: `query::engine::EngineCore`). Results stream to
//! the client batch by batch through a bounded channel, so a `SELECT *` of
//! the fact table starts at once and the server's memory stays flat.
//!
//! Read-only and confined to the data set: statements that are not reads
//! are refused before DuckDB sees them (`serve::catalog`), and DuckDB
//! itself is locked down in this order at start: views created with
//! absolute paths, `allowed_directories` (the data set and the spill
//! directory), `enable_external_access = false`, extension autoload and
//! autoinstall off, then `lock_configuration = true`, so no statement can
//! read or write another file or change a setting.

pub mod catalog;
pub mod client;
pub mod encode;
pub mod session;
pub mod sql;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::query::engine::{Engine, EngineConfig, EngineCore};
use crate::query::sql::quote;
use crate::storage::FileFormat;
use crate::storage::dataset::DataSet;

/// The PostgreSQL version olap reports: clients check it for features.
pub const SERVER_VERSION: &str = "15.0";

/// `SELECT version()`'s text: PostgreSQL's shape, olap's truth.
pub fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (olap {}, DuckDB embedded) on {}",
        crate::version(),
        std::env::consts::ARCH
    )
}

/// Users allowed to connect, from `--auth-file`: `user:secret` lines, the
/// secret a password or a SCRAM-SHA-256 verifier as PostgreSQL stores it.
#[derive(Debug, Clone, Default)]
pub struct Users(pub Vec<(String, String)>);

impl Users {
    /// Reads an auth file, refusing one that others can read (as ssh
    /// refuses a loose key).
    pub fn load(path: &std::path::Path) -> Result<Users> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            crate::error::UserError::new(format!("--auth-file {}: {e}", path.display()))
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            crate::bail_user!(
                "--auth-file {} is readable by others (mode {:o}): chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let text = std::fs::read_to_string(path)?;
        let mut users = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, secret)) = line.split_once(':') else {
                crate::bail_user!(
                    "--auth-file {} line {}: expected user:password (or user:SCRAM-SHA-256$…)",
                    path.display(),
                    i + 1
                );
            };
            users.push((user.trim().to_string(), secret.to_string()));
        }
        if users.is_empty() {
            crate::bail_user!("--auth-file {} names no user", path.display());
        }
        Ok(Users(users))
    }

    pub fn secret(&self, user: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, s)| s.as_str())
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub users: Option<Users>,
    /// PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_connections: usize,
    /// A statement running longer is cancelled (SQLSTATE 57014).
    pub statement_timeout: Option<Duration>,
    pub memory_limit: Option<String>,
    pub threads: usize,
    /// How long running queries may take to finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
}

/// A running query: the secret its client cancels with, and its handle.
pub type Running = (Vec<u8>, Arc<duckdb::InterruptHandle>);

/// One version of the data set being served: its DuckDB database (locked
/// down) and the engine's shared state over it. Sessions move to a newer
/// generation at their next statement; a query runs to its end on the one
/// it started on, and an old generation closes (and its version's files go)
/// when its last session has moved on.
pub struct Generation {
    pub number: u64,
    pub core: Arc<EngineCore>,
    /// The database's first connection: sessions are cloned from it.
    pub root: std::sync::Mutex<duckdb::Connection>,
    /// Keeps the engine (its spill directory) for the generation's life.
    _engine: std::sync::Mutex<Engine>,
}

impl Generation {
    /// Opens the server's database over an opened data set.
    fn over(ds: Arc<DataSet>, cfg: &ServeConfig, number: u64) -> Result<Generation> {
        let engine = Engine::open(
            &ds,
            EngineConfig::new(FileFormat::Parquet, cfg.threads)
                .with_memory_limit(cfg.memory_limit.clone()),
        )?;
        lock_down(engine.connection(), &ds)?;
        Ok(Generation {
            number,
            core: Arc::clone(engine.core()),
            root: std::sync::Mutex::new(engine.clone_connection()?),
            _engine: std::sync::Mutex::new(engine),
        })
    }

    pub fn data_set(&self) -> &Arc<DataSet> {
        self.core.data_set()
    }
}

/// What every session shares.
pub struct Shared {
    /// The newest generation: new sessions and statements use it.
    generation: std::sync::RwLock<Arc<Generation>>,
    data_dir: PathBuf,
    /// Held while a new generation opens: one opens at a time.
    refreshing: std::sync::Mutex<()>,
    pub cfg: ServeConfig,
    pub active: AtomicUsize,
    pub next_session: AtomicU64,
    pub stopping: AtomicBool,
    /// Running queries' interrupt handles, by the (pid, secret) clients
    /// cancel with.
    pub running: std::sync::Mutex<std::collections::HashMap<i32, Running>>,
    pub queries: AtomicU64,
}

impl Shared {
    /// The newest generation.
    pub fn generation(&self) -> Arc<Generation> {
        Arc::clone(&self.generation.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Opens the newly published version when the one served was replaced
    /// (`olap generate --force`): a read of the small manifest, no lock, so
    /// a writer never waits for the server. On failure (a writer between
    /// steps) the current generation stays and the next check tries again.
    pub fn refresh(&self) {
        let _one = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock: another caller may have opened it.
        let current = self.generation();
        if current.data_set().is_current() {
            return;
        }
        let next = DataSet::open(&self.data_dir)
            .and_then(|ds| Generation::over(Arc::new(ds), &self.cfg, current.number + 1));
        match next {
            Ok(next) => {
                tracing::info!(
                    "olap serve: {} was replaced: serving version {} (was {}); sessions move at their next statement",
                    self.data_dir.display(),
                    next.data_set().version(),
                    current.data_set().version()
                );
                *self.generation.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
            }
            Err(e) => tracing::debug!("olap serve: the new version does not open yet: {e:#}"),
        }
    }
}

/// Locks the database down (see the module docs); the order matters:
/// settings are locked last.
fn lock_down(conn: &duckdb::Connection, ds: &DataSet) -> Result<()> {
    let mut allowed = vec![ds.root().to_string_lossy().to_string()];
    let spill: Option<String> = conn
        .query_row("SELECT current_setting('temp_directory')", [], |r| r.get(0))
        .ok();
    if let Some(s) = spill.filter(|s| !s.is_empty()) {
        allowed.push(s);
    }
    let list = allowed
        .iter()
        .map(|p| quote(&format!("{p}/")))
        .collect::<Vec<_>>();
    conn.execute_batch(catalog::CATALOG_SHIMS)
        .context("creating the pg_catalog shims")?;
    conn.execute_batch(&format!(
        "SET allowed_directories = [{}];
         SET enable_external_access = false;
         SET autoinstall_known_extensions = false;
         SET autoload_known_extensions = false;
         SET lock_configuration = true;",
        list.join(", ")
    ))
    .context("locking the server's database down")?;
    Ok(())
}

/// Opens the data set and serves it until SIGINT/SIGTERM; `ready` hears
/// the bound address once clients may connect.
pub fn serve(
    data_dir: &std::path::Path,
    cfg: ServeConfig,
    ready: &mut dyn FnMut(SocketAddr),
) -> Result<()> {
    let ds = Arc::new(DataSet::open(data_dir)?);
    serve_until(
        ds,
        cfg,
        &mut |addr| {
            ready(addr);
            // SIGINT/SIGTERM reach the process's handler (main.rs), which
            // asks the server to stop.
            crate::util::set_stops_itself(true);
        },
        &crate::util::stop_requested,
    )
}

/// A server on a thread of this process, for the benchmark's wire clients:
/// listening on a loopback port of the system's choosing, stopped (after
/// its running queries) when dropped.
pub struct Background {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Background {
    pub fn start(ds: Arc<DataSet>, threads: usize) -> Result<Background> {
        let cfg = ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            users: None,
            tls: None,
            max_connections: 300,
            statement_timeout: None,
            memory_limit: None,
            threads,
            shutdown_grace: Duration::from_secs(30),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("olap-serve".into())
            .spawn(move || {
                let ready_tx = tx.clone();
                let out = serve_until(
                    ds,
                    cfg,
                    &mut |addr| {
                        let _ = ready_tx.send(Ok(addr));
                    },
                    &|| flag.load(Ordering::SeqCst),
                );
                if let Err(e) = &out {
                    let _ = tx.send(Err(format!("{e:#}")));
                }
                out
            })?;
        let addr = match rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => anyhow::bail!("starting the benchmark's server: {e}"),
            Err(_) => anyhow::bail!("the benchmark's server stopped before listening"),
        };
        Ok(Background {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves until `stop_now()` says so (asked ten times a second).
fn serve_until(
    ds: Arc<DataSet>,
    cfg: ServeConfig,
    ready: &mut dyn FnMut(SocketAddr),
    stop_now: &dyn Fn() -> bool,
) -> Result<()> {
    if cfg.users.is_none() && !cfg.listen.ip().is_loopback() {
        crate::bail_user!(
            "--listen {} is not a loopback address: pass --auth-file so clients must log in",
            cfg.listen
        );
    }
    let data_dir = ds.dir().to_path_buf();
    let first = Generation::over(ds, &cfg, 1)?;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(session::tls_acceptor(cert, key)?),
        None => None,
    };
    let shared = Arc::new(Shared {
        generation: std::sync::RwLock::new(Arc::new(first)),
        data_dir,
        refreshing: std::sync::Mutex::new(()),
        cfg: cfg.clone(),
        active: AtomicUsize::new(0),
        next_session: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
        running: Default::default(),
        queries: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(cfg.max_connections + 8)
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| crate::error::UserError::new(format!("--listen {}: {e}", cfg.listen)))?;
        let addr = listener.local_addr()?;
        ready(addr);
        let mut stop = tokio::time::interval(Duration::from_millis(100));
        let mut tasks = tokio::task::JoinSet::new();
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((socket, peer)) = accepted else { continue };
                    let _ = socket.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let tls = tls.clone();
                    tasks.spawn(async move {
                        session::handle(socket, peer, tls, shared).await;
                    });
                }
                _ = stop.tick() => {
                    if stop_now() {
                        break;
                    }
                    // Once a second: has a newer version been published?
                    ticks += 1;
                    if ticks.is_multiple_of(10) {
                        let shared = Arc::clone(&shared);
                        tokio::task::spawn_blocking(move || shared.refresh());
                    }
                }
            }
        }
        // Stop accepting; let running queries end, up to the grace period.
        shared.stopping.store(true, Ordering::SeqCst);
        tracing::info!(
            "olap serve: stopping; waiting up to {:.0} s for {} session(s)",
            shared.cfg.shutdown_grace.as_secs_f64(),
            shared.active.load(Ordering::SeqCst)
        );
        let deadline = tokio::time::sleep(shared.cfg.shutdown_grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    for (_, (_, h)) in shared.running.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                        h.interrupt();
                    }
                    tasks.abort_all();
                    break;
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}

//! `olap serve`: the data set over the PostgreSQL wire protocol, for psql,
//! psycopg, JDBC, pgbench and BI tools (see `crate::serve`; the `serve`
//! build feature).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::parse_threads;
use crate::util::{cap_threads, default_threads};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set directory (made by `olap generate`).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Address to listen on; a non-loopback address needs --auth-file.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub listen: SocketAddr,
    /// Users who may connect, one `user:secret` per line (a password, or a
    /// SCRAM-SHA-256 verifier as PostgreSQL stores it); mode 600.
    #[arg(long)]
    pub auth_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Connections at once; the next one is refused (SQLSTATE 53300).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_connections: u32,
    /// Cancel a statement running longer than this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub statement_timeout: u64,
    /// DuckDB memory limit for all queries together, e.g. 4GB.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// DuckDB threads (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Seconds running queries may take to end after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace: u64,
}

#[cfg(feature = "serve")]
pub fn run(args: Args) -> Result<ExitCode> {
    use std::time::Duration;

    use crate::serve::{ServeConfig, Users, serve};
    let users = args.auth_file.as_deref().map(Users::load).transpose()?;
    let cfg = ServeConfig {
        listen: args.listen,
        users,
        tls: args.tls_cert.zip(args.tls_key),
        max_connections: args.max_connections as usize,
        statement_timeout: (args.statement_timeout > 0)
            .then(|| Duration::from_secs(args.statement_timeout)),
        memory_limit: args.memory_limit,
        threads: args.threads.map_or_else(default_threads, cap_threads),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let auth = cfg.users.is_some();
    serve(&args.data_dir, cfg, &mut |addr| {
        let user = if auth { "<user>" } else { "olap" };
        eprintln!(
            "olap serve: {} on {addr}, read-only. Connect with:\n  psql -h {} -p {} -U {user}\n  postgresql://{user}@{addr}/olap",
            args.data_dir.display(),
            addr.ip(),
            addr.port()
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "serve"))]
pub fn run(args: Args) -> Result<ExitCode> {
    let _ = (cap_threads, default_threads, args);
    crate::bail_user!(
        "this olap was built without the server: rebuild it with `cargo build --release --features serve` (a few minutes: DuckDB is not recompiled)"
    );
}

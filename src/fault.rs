//! Test hooks that make crashes and I/O errors happen where a test wants
//! them, through the real binary. Each is an environment variable nobody
//! sets by accident; unset, each costs one cached lookup.
//!
//! - `OLAP_FAILPOINT=<name>` aborts the process (no destructors, no cleanup,
//!   like `kill -9`) when it reaches the named commit step: `after-data`,
//!   `after-stamp`, `after-manifest`, `between-renames`, `after-swap`,
//!   `after-part-files`.
//! - `OLAP_FAULT_NO_EXCHANGE=1` makes the atomic directory exchange fail
//!   with EINVAL, as on NFS, so the two-rename fallback runs.
//! - `OLAP_FAULT_WRITE=<n>:<EIO|ENOSPC>` fails the n-th write to a data file.
//! - `OLAP_FAULT_REWRITE_BUDGET_MS=<n>` sets every rewrite's run-time budget,
//!   and `OLAP_FAULT_REWRITE=fail` makes every rewritten SQL fail, so the
//!   rewrite guard's fallback runs.
//! - `OLAP_FAULT_ROWS_SCALE=<n>` divides the fewest rows the fact-view
//!   rules ask of a question by n, so a small test data set takes the path
//!   a big one does.
//! - `OLAP_FAULT_CPU=<feature,...>` makes the start-up CPU check
//!   (`olap::cpu_supports_build`) see a CPU without those features.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static FAILPOINT: LazyLock<Option<String>> = LazyLock::new(|| std::env::var("OLAP_FAILPOINT").ok());

/// Aborts here if `OLAP_FAILPOINT` names this step.
pub fn point(name: &str) {
    if FAILPOINT.as_deref() == Some(name) {
        eprintln!("olap: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Whether the atomic exchange should fail as on a filesystem without it.
pub fn no_exchange() -> bool {
    static V: LazyLock<bool> =
        LazyLock::new(|| std::env::var_os("OLAP_FAULT_NO_EXCHANGE").is_some());
    *V
}

static WRITE_FAULT: LazyLock<Option<(u64, i32)>> = LazyLock::new(|| {
    let v = std::env::var("OLAP_FAULT_WRITE").ok()?;
    let (n, errno) = v.split_once(':')?;
    let errno = match errno {
        "EIO" => 5,
        "ENOSPC" => 28,
        _ => return None,
    };
    Some((n.parse().ok()?, errno))
});
static WRITES: AtomicU64 = AtomicU64::new(0);

/// The injected error for this write to a data file, if it is the chosen one.
pub fn write_error() -> Option<std::io::Error> {
    let (n, errno) = (*WRITE_FAULT)?;
    (WRITES.fetch_add(1, Ordering::Relaxed) + 1 == n)
        .then(|| std::io::Error::from_raw_os_error(errno))
}

/// `OLAP_FAULT_REWRITE_BUDGET_MS=<n>`: every rewrite's run-time budget (see
/// `query::rewrite::guard`), so a test can make one trip.
pub fn rewrite_budget_ms() -> Option<u64> {
    static V: LazyLock<Option<u64>> = LazyLock::new(|| {
        std::env::var("OLAP_FAULT_REWRITE_BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    *V
}

/// `OLAP_FAULT_REWRITE=fail`: every rewritten SQL fails when it runs, so the
/// fallback to the SQL as written is exercised.
pub fn rewrite_fails() -> bool {
    static V: LazyLock<bool> =
        LazyLock::new(|| std::env::var("OLAP_FAULT_REWRITE").is_ok_and(|v| v == "fail"));
    *V
}

/// What `OLAP_FAULT_ROWS_SCALE` divides the fact-view rules' row
/// thresholds by (1 unset).
pub fn rows_scale() -> u64 {
    static V: LazyLock<u64> = LazyLock::new(|| {
        std::env::var("OLAP_FAULT_ROWS_SCALE")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1)
    });
    *V
}

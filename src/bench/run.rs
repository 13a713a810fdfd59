//! Timed rounds of catalog queries.

use anyhow::Result;

use duckdb::Connection;

use super::result::{PlainTimes, QueryResult, Sla};
use super::stats::Stats;
use crate::query::catalog::{Params, QuerySpec, render};
use crate::query::execute::{execute, execute_on};
use crate::query::log::{LogEntry, QueryLog, now};
use crate::query::run::Engines;
use crate::storage::FileFormat;
use crate::targets::scaled_p95_ms;

#[derive(Debug, Clone)]
pub struct Rounds {
    pub rounds: usize,
    pub warmup: usize,
    /// Rounds on CSV (slow at scale), at most `rounds`.
    pub csv_rounds: usize,
}

/// The executions one entry needs: (variant index, storage).
pub fn plan(
    spec: &QuerySpec,
    storage: FileFormat,
    available: &[FileFormat],
) -> Vec<(usize, FileFormat)> {
    let storages: Vec<FileFormat> = if spec.is_comparison() {
        spec.storages.to_vec()
    } else {
        vec![storage]
    };
    if storages.iter().any(|s| !available.contains(s)) {
        return Vec::new();
    }
    (0..spec.variants.len())
        .flat_map(|v| storages.iter().map(move |&s| (v, s)))
        .collect()
}

/// Runs variant `vi` of `spec` on `storage`: warm-up, then timed rounds;
/// with `plain` (Parquet only), the plain engine runs the same SQL in every
/// round too, first on odd rounds and second on even ones, so neither
/// always finds the caches the other left.
#[allow(clippy::too_many_arguments)]
pub fn time_variant(
    engines: &mut Engines,
    spec: &QuerySpec,
    vi: usize,
    storage: FileFormat,
    params: &Params,
    rounds: &Rounds,
    rows: u64,
    log: Option<&QueryLog>,
    plain: Option<&Connection>,
    tick: &dyn Fn(),
) -> Result<QueryResult> {
    let threads = engines.config().threads;
    let engine = engines.get(storage)?;
    let sql = render(spec, vi, params);
    let n = if storage == FileFormat::Csv {
        rounds.csv_rounds.min(rounds.rounds).max(1)
    } else {
        rounds.rounds.max(1)
    };
    let warm = if storage == FileFormat::Csv {
        rounds.warmup.min(1)
    } else {
        rounds.warmup
    };
    let plain = plain.filter(|_| storage == FileFormat::Parquet);
    let mut samples = Vec::with_capacity(n);
    let mut plain_samples = Vec::with_capacity(n);
    let mut result_rows = 0;
    for i in 0..warm + n {
        if i == warm {
            // Steady state before the timed rounds: a question too small to
            // rewrite on its first run has its rewrite decided on its
            // second (`Prepared::second_look`); decide it now, untimed, as
            // the warm-up would have with one more round.
            engine.prepare(&sql)?;
            engine.prepare(&sql)?;
        }
        let plain_first = i % 2 == 1;
        let mut plain_ms = None;
        if let (Some(p), true) = (plain, plain_first) {
            plain_ms = Some(execute(p, &sql)?.latency_ms);
        }
        let e = execute_on(engine, &sql)?;
        if let (Some(p), false) = (plain, plain_first) {
            plain_ms = Some(execute(p, &sql)?.latency_ms);
        }
        if i >= warm {
            plain_samples.extend(plain_ms);
            samples.push(e.latency_ms);
            result_rows = e.rows();
            if let Some(log) = log {
                log.append(&LogEntry {
                    timestamp: now(),
                    query_id: spec.id.to_string(),
                    variant: spec.variants[vi].name.to_string(),
                    storage: storage.name().to_string(),
                    parameters: params.for_query(spec),
                    duration_ms: e.latency_ms,
                    result_rows,
                    threads,
                    rows_scanned: None,
                    bytes_read: None,
                    partitions_scanned: None,
                    partitions_total: None,
                    status: "ok".into(),
                    error: None,
                })?;
            }
        }
        tick();
    }
    let stats = Stats::of(&samples);
    let target = spec.target_ms().map(|t| t as f64);
    let scaled = target.map(|t| scaled_p95_ms(t, rows));
    let sla = match scaled {
        Some(t) if stats.p95 <= t => Sla::Pass,
        Some(_) => Sla::Fail,
        None => Sla::None,
    };
    // Decided once per SQL text: this is the choice the rounds ran with.
    let prepared = engine.prepare(&sql)?;
    let (rewrite, fact_view) = (
        prepared.rewrite.clone(),
        prepared.fact_view.map(|f| f.view.name().to_string()),
    );
    Ok(QueryResult {
        id: spec.id.to_string(),
        variant: spec.variants[vi].name.to_string(),
        storage: storage.name().to_string(),
        stats,
        target_p95_ms: target,
        scaled_target_p95_ms: scaled,
        sla,
        result_rows,
        rewrite,
        fact_view,
        plain: plain.map(|_| PlainTimes::of(&samples, plain_samples)),
        samples_ms: samples,
    })
}

/// Executions `time_variant` will make, for progress bars.
pub fn executions(storage: FileFormat, rounds: &Rounds) -> u64 {
    if storage == FileFormat::Csv {
        (rounds.warmup.min(1) + rounds.csv_rounds.min(rounds.rounds).max(1)) as u64
    } else {
        (rounds.warmup + rounds.rounds.max(1)) as u64
    }
}

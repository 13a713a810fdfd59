//! Running queries: one at a time with timing, or N at once on separate
//! connections of one database (the concurrent executor).

use std::sync::Barrier;
use std::time::Instant;

use anyhow::Result;
use arrow::array::RecordBatch;
use duckdb::Connection;

use super::engine::{Engine, FactView};
use super::sql::query;

/// One execution's result and wall latency (including fetching the result).
pub struct Execution {
    pub latency_ms: f64,
    pub batches: Vec<RecordBatch>,
}

impl Execution {
    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// Runs `sql` as a user's question on the engine's connection (its rewrite
/// and fact view decided once, the rewrite guarded: see [`Engine::run`]);
/// the latency includes deciding.
pub fn execute_on(engine: &Engine, sql: &str) -> Result<Execution> {
    let ran = engine.run_collect(sql)?;
    Ok(Execution {
        latency_ms: ran.ms,
        batches: ran.value,
    })
}

pub fn execute(conn: &Connection, sql: &str) -> Result<Execution> {
    let t = Instant::now();
    let batches = query(conn, sql)?;
    Ok(Execution {
        latency_ms: t.elapsed().as_secs_f64() * 1e3,
        batches,
    })
}

/// Runs `sql` `n` times at once, each on its own connection, released
/// together by a barrier; returns each query's wall latency (ms) and the wall
/// time of the whole batch.
pub fn concurrent(engine: &Engine, sql: &str, n: usize) -> Result<(Vec<f64>, f64)> {
    let mut run = sql.to_string();
    let conns: Vec<Connection> = (0..n)
        .map(|_| {
            let c = engine.clone_connection()?;
            run = engine
                .prepare_on(&c, sql, &mut FactView::Partitions)?
                .sql
                .clone();
            Ok(c)
        })
        .collect::<Result<_>>()?;
    let sql = run.as_str();
    let mut conns = conns;
    at_once(&mut conns, |c| Ok(execute(c, sql)?.latency_ms))
}

/// Runs `ask` once per client, each on a thread of its own, released
/// together by a barrier; returns what each returned (its latency, ms) and
/// the wall time of the whole batch. The in-process threads and the
/// benchmark's wire clients are timed alike through it.
pub fn at_once<C: Send>(
    clients: &mut [C],
    ask: impl Fn(&mut C) -> Result<f64> + Sync,
) -> Result<(Vec<f64>, f64)> {
    let barrier = Barrier::new(clients.len() + 1);
    std::thread::scope(|s| -> Result<(Vec<f64>, f64)> {
        let handles: Vec<_> = clients
            .iter_mut()
            .map(|c| {
                let (barrier, ask) = (&barrier, &ask);
                s.spawn(move || -> Result<f64> {
                    barrier.wait();
                    ask(c)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let lat: Result<Vec<f64>> = handles
            .into_iter()
            .map(|h| h.join().expect("query thread panicked"))
            .collect();
        Ok((lat?, start.elapsed().as_secs_f64() * 1e3))
    })
}

//! The differential fuzzer: random questions (see [`questions`]) answered three
//! ways in one process on the same DuckDB — olap as a user runs it (its
//! rewrites and fact view chosen as by default), olap with `--rewrite off`,
//! and the plain engine over plain Hive `read_parquet` views of the same
//! files — and judged (see [`compare`]): a different answer is wrong, and
//! a default that is slower than 1.25× the faster of the other two + 50 ms
//! is slow. Either is a failure: olap's machinery may only ever win.
//!
//! A run first replays every stored failure (the corpus, one `.sql` file
//! per case), then the questions of its seeds; each question's own seed
//! replays it alone (`olap fuzz --seed S --questions 1`).

pub mod compare;
pub mod questions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use duckdb::Connection;
use serde::Serialize;

use crate::query::engine::{Engine, EngineConfig, FactView, Ran, RewriteMode};
use crate::query::sql::query;
use crate::storage::FileFormat;
use crate::storage::dataset::DataSet;

/// A question slower than this (any of the three ways) is timed again:
/// the minimum of 3 runs each.
const RETIME_MS: f64 = 50.0;

/// The slow rule: olap's default may take at most this times the faster
/// of the other two, plus [`SLOW_SLACK_MS`].
pub const SLOW_FACTOR: f64 = 1.25;
pub const SLOW_SLACK_MS: f64 = 50.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    pub threads: usize,
    /// Stored failures, replayed first (a directory of `.sql` files).
    pub corpus: Option<PathBuf>,
    /// Question seeds: `seed..seed + questions`.
    pub seed: u64,
    pub questions: u64,
    /// Stop starting new questions after this long.
    pub time_limit: Option<Duration>,
    /// Judge time as well as answers.
    pub timing: bool,
    /// The plain engine's limit per question: past it the question is
    /// counted and skipped (nothing to compare with).
    pub plain_limit: Duration,
    /// Where to write each new failure as a corpus file.
    pub save_failures: Option<PathBuf>,
}

/// Where a question came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Corpus(String),
    Seed(u64),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Corpus(name) => write!(f, "corpus {name}"),
            Origin::Seed(s) => write!(f, "seed {s}"),
        }
    }
}

/// One failure, with everything needed to see it and replay it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub origin: Origin,
    pub kind: &'static str,
    pub sql: String,
    /// What olap ran instead of the SQL (its rewrite), and why.
    pub rewritten_sql: Option<String>,
    pub rewrite: Option<String>,
    pub detail: String,
}

/// Milliseconds of the three ways (minimum over the rounds timed).
/// `rewrite_off_ms` is `None` when olap ran the SQL as written: `--rewrite
/// off` would run the same SQL on the same fact view, so it is not run
/// again (a third fewer runs per question).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Times {
    pub olap_ms: f64,
    pub rewrite_off_ms: Option<f64>,
    pub plain_ms: f64,
}

impl Times {
    /// The faster of the other ways.
    fn best_other(&self) -> f64 {
        self.rewrite_off_ms
            .map_or(self.plain_ms, |off| off.min(self.plain_ms))
    }

    fn off_text(&self) -> String {
        self.rewrite_off_ms
            .map_or("as olap's (no rewrite)".to_string(), |ms| {
                format!("{ms:.1} ms")
            })
    }
}

/// The run's counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FuzzReport {
    pub seed: u64,
    /// Whether time was judged (not `--no-timing`).
    pub timed: bool,
    pub tried: u64,
    pub equal: u64,
    pub wrong: u64,
    pub slow: u64,
    /// SQL the plain engine refused (the grammar's misses): not compared.
    pub invalid: u64,
    /// Questions the plain engine could not answer within its limit.
    pub plain_too_slow: u64,
    /// Questions olap rewrote (by default).
    pub rewritten: u64,
    /// Questions olap's default ran as written that `--rewrite always`
    /// rewrote (answers compared, not timed).
    pub rewritten_always: u64,
    /// Rewrites abandoned at run time (over budget or failed).
    pub abandoned: u64,
    /// Questions olap ran on the keyed fact view (the key columns' ranges
    /// given to DuckDB, a perfect hash table for many groups).
    pub keyed: u64,
    pub corpus_cases: u64,
    pub seconds: f64,
    /// Stopped by Ctrl-C (or SIGTERM) before its last question: the counts
    /// are those of the questions asked.
    pub interrupted: bool,
    /// The slowest ratio olap / best of the other two among questions
    /// where any took more than 50 ms.
    pub worst_ratio: Option<(f64, String)>,
    pub failures: Vec<Failure>,
}

impl FuzzReport {
    pub fn passed(&self) -> bool {
        self.wrong == 0 && self.slow == 0
    }
}

/// The three ways to answer, and a fourth for answers only: olap with
/// `--rewrite always`, run when olap's default ran the SQL as written
/// (below [`crate::query::engine::REWRITE_MIN_FACT_ROWS`] it does not
/// rewrite, and a small data set must still test every rewrite).
struct Ways {
    olap: Engine,
    off: Engine,
    always: Engine,
    plain: Connection,
}

/// Runs `sql` on `conn`, interrupted after `limit`: `Ok(None)` when it was.
fn run_limited(
    conn: &Connection,
    sql: &str,
    limit: Duration,
) -> Result<Option<(Vec<RecordBatch>, f64)>> {
    let handle = conn.interrupt_handle();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            handle.interrupt();
            return true;
        }
        false
    });
    let started = Instant::now();
    let result = query(conn, sql);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let _ = tx.send(());
    let tripped = watchdog.join().unwrap_or(false);
    match result {
        Ok(b) => Ok(Some((b, ms))),
        Err(_) if tripped => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs `sql` on `engine` as a user would, interrupted (again and again,
/// so a fallback is stopped too) once `limit` has passed: `Ok(None)` when
/// it was.
fn run_olap_limited(
    engine: &Engine,
    sql: &str,
    limit: Duration,
) -> Result<Option<Ran<Vec<RecordBatch>>>> {
    let handle = engine.interrupt_handle();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let mut fired = false;
        let mut wait = limit;
        while rx.recv_timeout(wait).is_err() {
            handle.interrupt();
            fired = true;
            wait = Duration::from_millis(50);
        }
        fired
    });
    let result = engine.run_collect(sql);
    let _ = tx.send(());
    let fired = watchdog.join().unwrap_or(false);
    match result {
        Ok(r) => Ok(Some(r)),
        Err(_) if fired => Ok(None),
        Err(e) => Err(e),
    }
}

/// The corpus: (name, SQL, ordered) of every `.sql` file, sorted by name.
pub fn load_corpus(dir: &Path) -> Result<Vec<(String, String, bool)>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading the corpus {}", dir.display()))?;
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "sql") {
            let text = std::fs::read_to_string(&p)?;
            let ordered = text.lines().any(|l| l.trim() == "-- ordered");
            let sql: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push((name, sql.trim().to_string(), ordered));
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the fuzzer on an opened data set; `progress` hears each question.
pub fn fuzz(
    ds: &Arc<DataSet>,
    cfg: &FuzzConfig,
    progress: &mut dyn FnMut(&FuzzReport, &str),
) -> Result<FuzzReport> {
    let started = Instant::now();
    let engine = |rewrite: RewriteMode| {
        Engine::open(
            ds,
            EngineConfig::new(FileFormat::Parquet, cfg.threads).with_rewrite(rewrite),
        )
    };
    let ways = Ways {
        olap: engine(RewriteMode::Auto)?,
        off: engine(RewriteMode::Off)?,
        always: engine(RewriteMode::Always)?,
        plain: crate::query::plain::connection(ds, cfg.threads)?,
    };
    let mut report = FuzzReport {
        seed: cfg.seed,
        timed: cfg.timing,
        ..FuzzReport::default()
    };
    let mut questions: Vec<(Origin, String, bool)> = Vec::new();
    if let Some(dir) = &cfg.corpus {
        for (name, sql, ordered) in load_corpus(dir)? {
            questions.push((Origin::Corpus(name), sql, ordered));
        }
    }
    report.corpus_cases = questions.len() as u64;
    let corpus = questions.len();
    let seeds = (0..cfg.questions).map(|i| cfg.seed.wrapping_add(i));
    let mut seeds = seeds.peekable();
    let mut i = 0usize;
    loop {
        let (origin, sql, ordered) = if i < corpus {
            questions[i].clone()
        } else {
            let Some(s) = seeds.next() else { break };
            let q = questions::question(s);
            (Origin::Seed(s), q.sql, q.ordered)
        };
        i += 1;
        if i > corpus && cfg.time_limit.is_some_and(|l| started.elapsed() > l) {
            break;
        }
        if crate::util::stop_requested() {
            report.interrupted = true;
            break;
        }
        report.tried += 1;
        if let Some(f) = judge(&ways, cfg, &origin, &sql, ordered, &mut report)? {
            if let Some(dir) = &cfg.save_failures
                && matches!(f.origin, Origin::Seed(_))
            {
                save_failure(dir, &f, ordered)?;
            }
            progress(&report, &format!("{} {}: {}", f.kind, f.origin, f.detail));
            report.failures.push(f);
        } else {
            progress(&report, "");
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn save_failure(dir: &Path, f: &Failure, ordered: bool) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let Origin::Seed(seed) = f.origin else {
        return Ok(());
    };
    let path = dir.join(format!("seed-{seed}-{}.sql", f.kind));
    let mut text = format!(
        "-- found by `olap fuzz --seed {seed} --questions 1`: {}\n",
        f.kind
    );
    if ordered {
        text.push_str("-- ordered\n");
    }
    text.push_str(&f.sql);
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// One question, three ways; `Some` failure when olap got it wrong or slow.
fn judge(
    ways: &Ways,
    cfg: &FuzzConfig,
    origin: &Origin,
    sql: &str,
    ordered: bool,
    report: &mut FuzzReport,
) -> Result<Option<Failure>> {
    let plain = match run_limited(&ways.plain, sql, cfg.plain_limit) {
        Ok(Some(r)) => r,
        Ok(None) => {
            report.plain_too_slow += 1;
            return Ok(None);
        }
        Err(_) => {
            report.invalid += 1;
            return Ok(None);
        }
    };
    let plain_rows = compare::rows(&plain.0);
    // olap's limit: far past the slow rule, so a runaway is stopped and
    // reported rather than waited for.
    let limit = Duration::from_secs_f64(
        ((plain.1 * SLOW_FACTOR * 20.0 + 5_000.0) / 1e3).min(cfg.plain_limit.as_secs_f64() * 4.0),
    );
    let failure =
        |kind: &'static str, detail: String, rewritten: Option<(String, String)>| Failure {
            origin: origin.clone(),
            kind,
            sql: sql.to_string(),
            rewritten_sql: rewritten.as_ref().map(|r| r.1.clone()),
            rewrite: rewritten.map(|r| r.0),
            detail,
        };
    let mut times = Vec::new();
    let mut ways_run = vec![("olap", &ways.olap), ("olap --rewrite off", &ways.off)];
    let mut i = 0;
    while i < ways_run.len() {
        let (way, engine) = ways_run[i];
        i += 1;
        engine.forget_decisions();
        let ran = run_olap_limited(engine, sql, limit);
        let ran = match ran {
            Ok(Some(ran)) => ran,
            Ok(None) => {
                report.slow += 1;
                let p = engine.prepare(sql).ok();
                return Ok(Some(failure(
                    "slow",
                    format!(
                        "{way} ran past {:.0} ms (plain: {:.1} ms) and was stopped",
                        limit.as_secs_f64() * 1e3,
                        plain.1
                    ),
                    p.and_then(|p| p.rewrite.clone().map(|n| (n, p.sql.clone()))),
                )));
            }
            Err(e) => {
                report.wrong += 1;
                return Ok(Some(failure(
                    "wrong",
                    format!("{way} failed where the plain engine answered: {e:#}"),
                    None,
                )));
            }
        };
        let rewritten = ran
            .prepared
            .rewrite
            .clone()
            .map(|n| (n, ran.prepared.sql.clone()));
        if way == "olap" {
            if rewritten.is_some() {
                report.rewritten += 1;
            }
            if ran.abandoned.is_some() {
                report.abandoned += 1;
            }
            if ran
                .prepared
                .fact_view
                .is_some_and(|f| matches!(f.view, FactView::Keyed(_)))
            {
                report.keyed += 1;
            }
        }
        let rows = compare::rows(&ran.value);
        if !compare::same(&rows, &plain_rows, ordered) {
            report.wrong += 1;
            return Ok(Some(failure(
                "wrong",
                format!(
                    "{way} answered differently ({} rows against {}):\n{way}:\n{}plain:\n{}",
                    rows.len(),
                    plain_rows.len(),
                    compare::preview(&rows, 8),
                    compare::preview(&plain_rows, 8)
                ),
                rewritten,
            )));
        }
        if way == "olap --rewrite always" {
            if rewritten.is_some() {
                report.rewritten_always += 1;
            }
            continue;
        }
        let as_written = rewritten.is_none() && ran.abandoned.is_none();
        times.push((ran.ms, rewritten));
        if way == "olap" && as_written {
            // `--rewrite off` would run the same SQL: the answers of
            // `--rewrite always` instead.
            ways_run = vec![
                ("olap", &ways.olap),
                ("olap --rewrite always", &ways.always),
            ];
        }
    }
    let rewritten = times[0].1.clone();
    let mut t = Times {
        olap_ms: times[0].0,
        rewrite_off_ms: times.get(1).map(|x| x.0),
        plain_ms: plain.1,
    };
    if cfg.timing
        && t.olap_ms
            .max(t.plain_ms)
            .max(t.rewrite_off_ms.unwrap_or(0.0))
            > RETIME_MS
    {
        t = retime(ways, sql, t, 2)?;
        if is_slow(&t) {
            // Confirmed over more rounds before it counts: a slow question
            // must be slow, not this machine's noise.
            t = retime(ways, sql, t, 3)?;
        }
        let best = t.best_other();
        let ratio = t.olap_ms / best;
        if report.worst_ratio.as_ref().is_none_or(|(r, _)| ratio > *r) {
            report.worst_ratio = Some((ratio, origin.to_string()));
        }
    }
    if cfg.timing && is_slow(&t) {
        report.slow += 1;
        return Ok(Some(failure(
            "slow",
            format!(
                "olap {:.1} ms, --rewrite off {}, plain {:.1} ms: over {SLOW_FACTOR}× the faster + {SLOW_SLACK_MS} ms",
                t.olap_ms,
                t.off_text(),
                t.plain_ms
            ),
            rewritten,
        )));
    }
    report.equal += 1;
    Ok(None)
}

fn is_slow(t: &Times) -> bool {
    t.olap_ms > SLOW_FACTOR * t.best_other() + SLOW_SLACK_MS
}

/// `rounds` more runs of each way, alternating; each keeps its minimum.
fn retime(ways: &Ways, sql: &str, mut t: Times, rounds: usize) -> Result<Times> {
    for _ in 0..rounds {
        ways.olap.forget_decisions();
        t.olap_ms = t.olap_ms.min(ways.olap.run_collect(sql)?.ms);
        if let Some(off) = t.rewrite_off_ms {
            ways.off.forget_decisions();
            t.rewrite_off_ms = Some(off.min(ways.off.run_collect(sql)?.ms));
        }
        let started = Instant::now();
        query(&ways.plain, sql)?;
        t.plain_ms = t.plain_ms.min(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(t)
}

//! Streamed output of `olap analyze --sql`: rows are written as DuckDB
//! produces them, as CSV or as one JSON document whose rows are typed.

use std::io::Write;

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::csv::WriterBuilder;

use crate::query::analyze::Report;
use crate::query::results::ResultSet;
use crate::query::run::ADHOC;
use crate::query::stream::Streamed;

/// Writes batches as CSV with one header line.
pub struct CsvRows<W: Write> {
    out: W,
    header: bool,
}

impl<W: Write> CsvRows<W> {
    pub fn new(out: W) -> CsvRows<W> {
        CsvRows { out, header: true }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut w = WriterBuilder::new()
            .with_header(self.header)
            .build(&mut self.out);
        w.write(batch)?;
        self.header = false;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }
}

/// Writes the `analyze --format json` report of ad-hoc SQL with its rows
/// streamed in as they come: the same document `analyze` prints (one query,
/// one run), so readers need no second shape.
pub struct JsonRows<W: Write> {
    out: W,
    /// The report before its query, and the run's fields before its rows.
    head: String,
    run_head: String,
    started: bool,
    first: bool,
}

impl<W: Write> JsonRows<W> {
    /// `report` is the header (no queries); `sql` and `storage` the run's.
    pub fn new(out: W, report: &Report, sql: &str, storage: &str) -> Result<JsonRows<W>> {
        let mut head = serde_json::to_string(report)?;
        // Reopen its empty query list to put the one query inside.
        let at = head.rfind("\"queries\":[]").expect("report has queries");
        head.truncate(at);
        let run_head = format!(
            "\"queries\":[{{\"id\":{id},\"story\":\"-\",\"title\":\"Ad-hoc SQL\",\"about\":\"\",\"parameters\":{{}},\"target\":\"\",\"target_p95_ms\":null,\"checks\":[],\"skipped\":null,\"runs\":[{{\"variant\":{id},\"storage\":{storage},\"sql\":{sql},\"profile\":null,\"plan\":null,",
            id = serde_json::to_string(ADHOC)?,
            storage = serde_json::to_string(storage)?,
            sql = serde_json::to_string(sql)?,
        );
        Ok(JsonRows {
            out,
            head,
            run_head,
            started: false,
            first: true,
        })
    }

    fn start(&mut self, set: &ResultSet) -> Result<()> {
        write!(
            self.out,
            "{}{}\"columns\":{},\"rows\":[",
            self.head,
            self.run_head,
            serde_json::to_string(&set.columns)?
        )?;
        self.started = true;
        Ok(())
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let set = ResultSet::from_batches(std::slice::from_ref(batch), usize::MAX);
        if !self.started {
            self.start(&set)?;
        }
        for row in set.json_rows() {
            if !self.first {
                self.out.write_all(b",")?;
            }
            self.first = false;
            self.out.write_all(b"\n")?;
            self.out.write_all(row.as_bytes())?;
        }
        Ok(())
    }

    pub fn finish(mut self, s: &Streamed) -> Result<()> {
        if !self.started {
            self.start(&ResultSet::default())?;
        }
        let rewrite = match &s.rewrite {
            Some((note, sql)) => format!(
                ",\"rewrite\":{},\"rewritten_sql\":{}",
                serde_json::to_string(note)?,
                serde_json::to_string(sql)?
            ),
            None => String::new(),
        };
        writeln!(
            self.out,
            "],\"result_rows\":{},\"complete\":{},\"first_rows_ms\":{},\"latency_ms\":{}{rewrite}}}]}}]}}",
            s.rows,
            s.complete,
            serde_json::to_string(&s.first_rows_ms)?,
            s.total_ms
        )?;
        Ok(self.out.flush()?)
    }
}

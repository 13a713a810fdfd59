//! `olap generate` output: what was written, table by table.

use comfy_table::Cell;

use super::{OutputFormat, grid, right};
use crate::model::Table;
use crate::pipeline::Summary;
use crate::storage::FileFormat;
use crate::util::{human_bytes, human_count, human_secs};

/// The summary of a generation as a table and two lines.
pub fn summary(s: &Summary) -> String {
    let m = &s.manifest;
    let both = s.parquet_bytes > 0 && s.csv_bytes > 0;
    let mut grid = grid(OutputFormat::Table);
    let mut head = vec!["table", "rows", "files"];
    if s.parquet_bytes > 0 {
        head.push("parquet");
    }
    if s.csv_bytes > 0 {
        head.push("csv");
    }
    if both {
        head.push("csv : parquet");
    }
    grid.set_header(head);
    for t in &m.tables {
        let files = t
            .files
            .iter()
            .filter(|f| Some(f.format) == m.storage.formats.first().copied())
            .count();
        let mut row = vec![
            Cell::new(&t.name),
            right(t.rows.to_string()),
            right(files.to_string()),
        ];
        let (pq, csv) = (t.bytes(FileFormat::Parquet), t.bytes(FileFormat::Csv));
        if s.parquet_bytes > 0 {
            row.push(right(human_bytes(pq)));
        }
        if s.csv_bytes > 0 {
            row.push(right(human_bytes(csv)));
        }
        if both {
            row.push(right(format!("{:.1} : 1", csv as f64 / pq.max(1) as f64)));
        }
        grid.add_row(row);
    }
    let mut total = vec![
        Cell::new("total"),
        right(String::new()),
        right(String::new()),
    ];
    if s.parquet_bytes > 0 {
        total.push(right(human_bytes(s.parquet_bytes)));
    }
    if s.csv_bytes > 0 {
        total.push(right(human_bytes(s.csv_bytes)));
    }
    if let Some(r) = s.csv_to_parquet_ratio {
        total.push(right(format!("{r:.1} : 1")));
    }
    grid.add_row(total);
    let mut out = format!("{grid}\n");
    let fact = m.table(Table::SalesFact).map_or(0, |t| t.rows);
    let parts = if m.storage.partition_by.is_empty() {
        "unpartitioned".to_string()
    } else {
        format!("partitioned by {}", m.storage.partition_names().join(","))
    };
    out.push_str(&format!(
        "{} fact rows in {} ({}/s fact rows, {} threads), {}, {} compression, seed {}\n",
        human_count(fact),
        human_secs(s.seconds),
        human_count(s.fact_rows_per_second as u64),
        s.threads,
        parts,
        m.storage.compression.name(),
        m.spec.seed,
    ));
    if s.complete {
        out.push_str(&format!(
            "data set written to {}/ (manifest.json last)\n",
            s.output_dir
        ));
    } else {
        out.push_str(&format!(
            "part {} of {} written to {}/; manifest.json appears when every part is there\n",
            m.slice.part, m.slice.parts, s.output_dir
        ));
    }
    out
}

//! Reading our files back (for `validate`, tests and checks), refusing files
//! that are not ours: a Parquet or CSV file whose columns differ from the
//! table's schema is an error naming the difference, never silent numbers.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::FileFormat;
use super::checksum::batch_checksum;
use crate::bail_user;
use crate::model::Table;

/// Calls `f` with each batch of `path` (a file of `table` in `format`).
pub fn for_each_batch(
    path: &Path,
    format: FileFormat,
    table: Table,
    mut f: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let schema = table.schema();
    match format {
        FileFormat::Parquet => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
                Ok(b) => b,
                Err(e) => bail_user!("{} is not a readable Parquet file: {e}", path.display()),
            };
            check_schema(path, builder.schema(), &schema)?;
            let reader = builder.with_batch_size(65_536).build()?;
            for batch in reader {
                let batch = batch.with_context(|| format!("decoding {}", path.display()))?;
                f(&batch)?;
            }
        }
        FileFormat::Csv => {
            let mut first = String::new();
            BufReader::new(
                File::open(path).with_context(|| format!("opening {}", path.display()))?,
            )
            .read_line(&mut first)?;
            let header: Vec<&str> = first.trim_end_matches(['\r', '\n']).split(',').collect();
            let expected: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            if header != expected {
                bail_user!(
                    "{} is not an olap {} CSV file: header is {:?}, expected {:?}",
                    path.display(),
                    table.name(),
                    header.join(","),
                    expected.join(",")
                );
            }
            let file = File::open(path)?;
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_header(true)
                .with_batch_size(65_536)
                .build(file)?;
            for batch in reader {
                let batch = batch.with_context(|| format!("parsing {}", path.display()))?;
                f(&batch)?;
            }
        }
    }
    Ok(())
}

fn check_schema(path: &Path, got: &SchemaRef, want: &SchemaRef) -> Result<()> {
    let g: Vec<(String, String)> = got
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let w: Vec<(String, String)> = want
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    if g != w {
        let diff = w
            .iter()
            .zip(g.iter().map(Some).chain(std::iter::repeat(None)))
            .find(|(a, b)| Some(*a) != *b)
            .map(|(a, b)| match b {
                Some(b) => format!("column {} {} where {} {} was expected", b.0, b.1, a.0, a.1),
                None => format!("column {} is missing", a.0),
            })
            .unwrap_or_else(|| format!("{} columns where {} were expected", g.len(), w.len()));
        bail_user!(
            "{} does not have the expected schema: {diff}",
            path.display()
        );
    }
    Ok(())
}

/// Rows and content checksum of one file.
pub fn file_checksum(path: &Path, format: FileFormat, table: Table) -> Result<(u64, u64)> {
    let (mut rows, mut sum) = (0u64, 0u64);
    for_each_batch(path, format, table, |b| {
        rows += b.num_rows() as u64;
        sum = sum.wrapping_add(batch_checksum(b)?);
        Ok(())
    })?;
    Ok((rows, sum))
}

/// xxh3-64 of a file's bytes and its length.
pub fn file_hash(path: &Path) -> Result<(u64, u64)> {
    use std::io::Read;
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, h.digest()))
}

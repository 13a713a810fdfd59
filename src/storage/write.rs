//! The write pipeline: generate, encode and write a data set into a directory.
//!
//! Work is cut into row groups. Worker threads take row groups in order,
//! generate their rows in sub-batches, encode Parquet column chunks and CSV
//! text and checksum the content; one writer appends finished row groups to
//! their files strictly in order. Workers may run at most `window` row groups
//! ahead of the writer, so memory stays flat however many rows are written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use anyhow::{Context, Result, anyhow};
use parquet::arrow::arrow_writer::ArrowColumnChunk;
use parquet::file::writer::SerializedFileWriter;
use xxhash_rust::xxh3::Xxh3;

use super::checksum::{batch_checksum, to_hex};
use super::layout::{self, Partition};
use super::manifest::{FileEntry, TableEntry};
use super::parquet::ParquetTable;
use super::{FileFormat, Slice, StorageSpec, csv};
use crate::model::{BatchSource, Table};

/// Rows generated and encoded at a time inside a row group: small enough to
/// stay in cache-friendly buffers, large enough to amortise per-batch work.
pub const SUB_BATCH: u64 = 32_768;

/// One logical file (a table, or one fact partition) in every format.
#[derive(Debug, Clone)]
pub struct FileJob {
    pub table: Table,
    pub rows: Range<u64>,
    pub paths: Vec<(FileFormat, PathBuf)>,
}

#[derive(Debug, Clone)]
struct Task {
    job: usize,
    rows: Range<u64>,
    last: bool,
}

/// The files a run writes, in order.
pub fn plan(source: &dyn BatchSource, storage: &StorageSpec, slice: Slice) -> Vec<FileJob> {
    let mut jobs = Vec::new();
    if slice.writes_dimensions() {
        for t in Table::ALL.into_iter().filter(|t| !t.is_fact()) {
            jobs.push(FileJob {
                table: t,
                rows: 0..source.rows(t),
                paths: storage
                    .formats
                    .iter()
                    .map(|&f| (f, layout::dimension_path(t, f)))
                    .collect(),
            });
        }
    }
    let want = slice.rows(source.rows(Table::SalesFact));
    let (days, day_starts) = source.fact_days();
    for p in layout::partitions(&storage.partition_by, &days, &day_starts) {
        let rows = p.rows.start.max(want.start)..p.rows.end.min(want.end);
        if rows.is_empty() {
            continue;
        }
        let part = Partition {
            rows: rows.clone(),
            ..p
        };
        jobs.push(FileJob {
            table: Table::SalesFact,
            rows,
            paths: storage
                .formats
                .iter()
                .map(|&f| (f, layout::fact_path(&part, slice, f)))
                .collect(),
        });
    }
    jobs
}

/// Where a run's files go: a local directory or an object-store prefix.
/// Both receive the same bytes in the same order.
pub trait Sink: Sync {
    /// Opens the file at `rel` (a manifest path) for writing.
    fn create(&self, rel: &Path) -> Result<Box<dyn FileSink>>;
    /// How the file at `rel` is named in messages.
    fn display(&self, rel: &Path) -> String;
}

/// One file being written; `finish` makes it whole (flushed, and fsynced
/// or uploaded), and a file dropped unfinished is not published.
pub trait FileSink: Write + Send {
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// Files under a local directory, fsynced on finish when `durable`.
pub struct LocalDir<'a> {
    pub dir: &'a Path,
    pub durable: bool,
}

struct LocalFile {
    inner: BufWriter<File>,
    durable: bool,
}

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl FileSink for LocalFile {
    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.inner.flush()?;
        if self.durable {
            // So a published data set never has empty files after a power cut.
            self.inner.get_ref().sync_all()?;
        }
        Ok(())
    }
}

/// Set once the process is stopping (Ctrl-C: `publish::remove_live_staging`
/// is removing the run's staging directories): writers create no more files.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Tells writers to create no more files.
pub fn stop() {
    STOPPING.store(true, Ordering::SeqCst);
}

/// Whether the process is stopping.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

impl Sink for LocalDir<'_> {
    fn create(&self, rel: &Path) -> Result<Box<dyn FileSink>> {
        if stopping() {
            anyhow::bail!("interrupted");
        }
        let path = self.dir.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Box::new(LocalFile {
            inner: BufWriter::with_capacity(1 << 20, f),
            durable: self.durable,
        }))
    }
    fn display(&self, rel: &Path) -> String {
        self.dir.join(rel).display().to_string()
    }
}

/// Counts bytes and hashes them on their way to the file.
struct HashingWriter {
    inner: Box<dyn FileSink>,
    hash: Xxh3,
    bytes: u64,
    name: String,
}

impl HashingWriter {
    fn create(sink: &dyn Sink, rel: &Path) -> Result<HashingWriter> {
        Ok(HashingWriter {
            inner: sink.create(rel)?,
            hash: Xxh3::new(),
            bytes: 0,
            name: sink.display(rel),
        })
    }

    fn finish(self) -> Result<(u64, u64)> {
        let (bytes, hash) = (self.bytes, self.hash.digest());
        let name = self.name;
        self.inner
            .finish()
            .with_context(|| format!("writing {name}"))?;
        Ok((bytes, hash))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(e) = crate::fault::write_error() {
            return Err(e);
        }
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Encoded {
    rows: u64,
    checksum: u64,
    parquet: Option<Vec<ArrowColumnChunk>>,
    csv: Option<Vec<u8>>,
}

struct OpenFile {
    parquet: Option<(PathBuf, SerializedFileWriter<HashingWriter>)>,
    csv: Option<(PathBuf, HashingWriter)>,
    rows: u64,
    checksum: u64,
}

/// Options of one write.
pub struct WriteOptions<'a> {
    pub threads: usize,
    /// fsync every file as it is closed.
    pub durable: bool,
    /// Called with rows done, from any thread.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Writes `jobs` under `dir` and returns the manifest's table entries.
pub fn write(
    source: &dyn BatchSource,
    storage: &StorageSpec,
    jobs: &[FileJob],
    dir: &Path,
    opts: &WriteOptions,
) -> Result<Vec<TableEntry>> {
    let sink = LocalDir {
        dir,
        durable: opts.durable,
    };
    write_to(source, storage, jobs, &sink, opts)
}

/// Writes `jobs` into `sink` and returns the manifest's table entries.
pub fn write_to(
    source: &dyn BatchSource,
    storage: &StorageSpec,
    jobs: &[FileJob],
    sink: &dyn Sink,
    opts: &WriteOptions,
) -> Result<Vec<TableEntry>> {
    let rg = storage.row_group_size.max(1);
    let mut tasks = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let mut start = job.rows.start;
        loop {
            let end = (start + rg).min(job.rows.end);
            tasks.push(Task {
                job: j,
                rows: start..end,
                last: end == job.rows.end,
            });
            if end == job.rows.end {
                break;
            }
            start = end;
        }
    }
    let parquet_tables: BTreeMap<Table, ParquetTable> = if storage.has(FileFormat::Parquet) {
        jobs.iter()
            .map(|j| j.table)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|t| Ok((t, ParquetTable::new(t, storage.compression, rg)?)))
            .collect::<Result<_>>()?
    } else {
        BTreeMap::new()
    };
    let want_csv = storage.has(FileFormat::Csv);

    let threads = opts.threads.max(1);
    let window = 2 * threads + 1;
    let next_task = AtomicUsize::new(0);
    let written = Mutex::new(0usize);
    let advanced = Condvar::new();
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Encoded>)>(window);

    let encode = |task: &Task| -> Result<Encoded> {
        let table = jobs[task.job].table;
        let mut pq = parquet_tables
            .get(&table)
            .map(|t| t.row_group())
            .transpose()?;
        let mut text =
            want_csv.then(|| Vec::with_capacity(((task.rows.end - task.rows.start) * 96) as usize));
        let mut checksum = 0u64;
        let mut at = task.rows.start;
        while at < task.rows.end {
            if abort.load(Ordering::Relaxed) {
                return Err(anyhow!("interrupted"));
            }
            let end = (at + SUB_BATCH).min(task.rows.end);
            let batch = source.batch(table, at..end);
            checksum = checksum.wrapping_add(batch_checksum(&batch)?);
            if let Some(pq) = pq.as_mut() {
                pq.write(&batch)?;
            }
            if let Some(text) = text.as_mut() {
                csv::encode(&batch, text)?;
            }
            (opts.progress)(end - at);
            at = end;
        }
        Ok(Encoded {
            rows: task.rows.end - task.rows.start,
            checksum,
            parquet: pq.map(|p| p.finish()).transpose()?,
            csv: text,
        })
    };

    let result: Result<Vec<TableEntry>> = std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next_task, written, advanced, abort, tasks, encode) =
                (&next_task, &written, &advanced, &abort, &tasks, &encode);
            s.spawn(move || {
                loop {
                    let i = next_task.fetch_add(1, Ordering::SeqCst);
                    if i >= tasks.len() {
                        break;
                    }
                    {
                        let mut w = written.lock().expect("lock");
                        while i >= *w + window && !abort.load(Ordering::SeqCst) {
                            w = advanced.wait(w).expect("lock");
                        }
                    }
                    if abort.load(Ordering::SeqCst) {
                        break;
                    }
                    let out = encode(&tasks[i]);
                    if tx.send((i, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let stop = |e: anyhow::Error| {
            abort.store(true, Ordering::SeqCst);
            advanced.notify_all();
            e
        };
        let mut pending: BTreeMap<usize, Encoded> = BTreeMap::new();
        let mut next = 0usize;
        let mut open: Option<OpenFile> = None;
        let mut entries: Vec<TableEntry> = Vec::new();
        while next < tasks.len() {
            let (i, out) = rx
                .recv()
                .map_err(|_| stop(anyhow!("a worker stopped unexpectedly")))?;
            pending.insert(i, out.map_err(stop)?);
            while let Some(enc) = pending.remove(&next) {
                let task = &tasks[next];
                let job = &jobs[task.job];
                append(
                    sink,
                    job,
                    task,
                    enc,
                    &mut open,
                    &parquet_tables,
                    &mut entries,
                )
                .map_err(stop)?;
                next += 1;
                *written.lock().expect("lock") = next;
                advanced.notify_all();
            }
        }
        Ok(entries)
    });
    result
}

fn append(
    sink: &dyn Sink,
    job: &FileJob,
    task: &Task,
    enc: Encoded,
    open: &mut Option<OpenFile>,
    parquet_tables: &BTreeMap<Table, ParquetTable>,
    entries: &mut Vec<TableEntry>,
) -> Result<()> {
    if open.is_none() {
        let mut f = OpenFile {
            parquet: None,
            csv: None,
            rows: 0,
            checksum: 0,
        };
        for (format, rel) in &job.paths {
            match format {
                FileFormat::Parquet => {
                    let w = parquet_tables[&job.table]
                        .file_writer(HashingWriter::create(sink, rel)?)?;
                    f.parquet = Some((rel.clone(), w));
                }
                FileFormat::Csv => {
                    let mut w = HashingWriter::create(sink, rel)?;
                    let mut head = Vec::new();
                    csv::header(&job.table.schema(), &mut head);
                    w.write_all(&head)
                        .with_context(|| format!("writing {}", sink.display(rel)))?;
                    f.csv = Some((rel.clone(), w));
                }
            }
        }
        *open = Some(f);
    }
    let f = open.as_mut().expect("file is open");
    f.rows += enc.rows;
    f.checksum = f.checksum.wrapping_add(enc.checksum);
    if let (Some((rel, w)), Some(chunks)) = (f.parquet.as_mut(), enc.parquet) {
        let mut rg = w.next_row_group()?;
        for c in chunks {
            c.append_to_row_group(&mut rg)?;
        }
        rg.close()
            .with_context(|| format!("writing {}", sink.display(rel)))?;
    }
    if let (Some((rel, w)), Some(text)) = (f.csv.as_mut(), enc.csv) {
        w.write_all(&text)
            .with_context(|| format!("writing {}", sink.display(rel)))?;
    }
    if task.last {
        let f = open.take().expect("file is open");
        let entry = match entries.iter_mut().position(|e| e.name == job.table.name()) {
            Some(i) => &mut entries[i],
            None => {
                entries.push(TableEntry {
                    name: job.table.name().into(),
                    rows: 0,
                    content_checksum: to_hex(0),
                    files: Vec::new(),
                });
                entries.last_mut().expect("just pushed")
            }
        };
        entry.rows += f.rows;
        let sum = super::checksum::from_hex(&entry.content_checksum)
            .unwrap_or(0)
            .wrapping_add(f.checksum);
        entry.content_checksum = to_hex(sum);
        let mut record = |format: FileFormat, rel: PathBuf, (bytes, hash): (u64, u64)| {
            entry.files.push(FileEntry {
                path: rel.to_string_lossy().replace('\\', "/"),
                format,
                rows: f.rows,
                bytes,
                content_checksum: to_hex(f.checksum),
                xxh3: to_hex(hash),
            });
        };
        if let Some((rel, w)) = f.parquet {
            let inner = w
                .into_inner()
                .with_context(|| format!("finishing {}", sink.display(&rel)))?;
            record(FileFormat::Parquet, rel, inner.finish()?);
        }
        if let Some((rel, w)) = f.csv {
            record(FileFormat::Csv, rel, w.finish()?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int32Array};

    use super::*;
    use crate::model::PartitionKey;
    use crate::storage::checksum::{batch_checksum, from_hex};
    use crate::storage::{Codec, Slice};

    /// Synthetic rows: every column of a table is its row number cast to
    /// the column's type. Two days, in different quarters.
    struct Numbers(u64);

    impl BatchSource for Numbers {
        fn rows(&self, table: Table) -> u64 {
            if table.is_fact() { self.0 } else { 3 }
        }
        fn batch(&self, table: Table, range: Range<u64>) -> arrow::array::RecordBatch {
            let schema = table.schema();
            let n = Int32Array::from_iter_values(range.start as i32..range.end as i32);
            let cols: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| arrow::compute::cast(&n, f.data_type()).expect("castable"))
                .collect();
            arrow::array::RecordBatch::try_new(schema, cols).expect("batch")
        }
        fn fact_days(&self) -> (Vec<(i32, u32)>, Vec<u64>) {
            (vec![(2021, 1), (2021, 4)], vec![0, self.0 / 3, self.0])
        }
    }

    #[test]
    fn writes_any_batch_source_into_its_partitions() {
        let source = Numbers(5_000);
        let storage = StorageSpec {
            formats: vec![FileFormat::Parquet, FileFormat::Csv],
            partition_by: vec![PartitionKey::Year, PartitionKey::Quarter],
            compression: Codec::Snappy,
            row_group_size: 1_024,
        };
        let jobs = plan(&source, &storage, Slice::WHOLE);
        let fact: Vec<&FileJob> = jobs.iter().filter(|j| j.table.is_fact()).collect();
        assert_eq!(fact.len(), 2);
        assert_eq!(
            (fact[0].rows.clone(), fact[1].rows.clone()),
            (0..1_666, 1_666..5_000)
        );
        let dir = tempfile::tempdir().unwrap();
        let tables = write(
            &source,
            &storage,
            &jobs,
            dir.path(),
            &WriteOptions {
                durable: false,
                threads: 2,
                progress: &|_| {},
            },
        )
        .unwrap();
        let entry = tables.iter().find(|t| t.name == "sales_fact").unwrap();
        assert_eq!(entry.rows, 5_000);
        let expected = batch_checksum(&source.batch(Table::SalesFact, 0..5_000)).unwrap();
        assert_eq!(from_hex(&entry.content_checksum), Some(expected));
        let paths: Vec<&str> = entry.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "parquet/sales_fact/year=2021/quarter=1/part-00000.parquet",
                "csv/sales_fact/year=2021/quarter=1/part-00000.csv",
                "parquet/sales_fact/year=2021/quarter=2/part-00000.parquet",
                "csv/sales_fact/year=2021/quarter=2/part-00000.csv",
            ]
        );
        for f in &entry.files {
            let len = std::fs::metadata(dir.path().join(&f.path)).unwrap().len();
            assert_eq!(len, f.bytes, "{}", f.path);
        }
    }
}

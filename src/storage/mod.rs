//! Writing and reading the data set on disk: Parquet and CSV files in a Hive
//! layout, the manifest, checksums, and the atomic publish of a finished run.
//!
//! ```text
//! data/
//!   manifest.json                       written last; no manifest, no data set
//!   parquet/<dim>/<dim>.parquet         dimensions as single files
//!   parquet/sales_fact/year=2021/quarter=1/part-00000.parquet
//!   csv/...                             the same layout, .csv
//! ```

pub mod checksum;
pub mod csv;
pub mod dataset;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod publish;
pub mod read;
pub mod recover;
pub mod remote;
pub mod verify;
pub mod write;

use serde::{Deserialize, Serialize};

use crate::model::PartitionKey;

/// A file format of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Parquet,
    Csv,
}

impl FileFormat {
    pub const ALL: [FileFormat; 2] = [FileFormat::Parquet, FileFormat::Csv];

    pub fn from_name(s: &str) -> Option<FileFormat> {
        FileFormat::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        }
    }
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Snappy,
    Zstd,
    None,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Snappy, Codec::Zstd, Codec::None];

    pub fn from_name(s: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Snappy => "snappy",
            Codec::Zstd => "zstd",
            Codec::None => "none",
        }
    }
}

/// How the data set is laid out: what the manifest records besides the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSpec {
    pub formats: Vec<FileFormat>,
    pub partition_by: Vec<PartitionKey>,
    pub compression: Codec,
    pub row_group_size: u64,
}

impl StorageSpec {
    pub const DEFAULT_ROW_GROUP_SIZE: u64 = 1 << 18;

    pub fn has(&self, f: FileFormat) -> bool {
        self.formats.contains(&f)
    }

    /// The partition keys' names, outermost first (empty: unpartitioned).
    pub fn partition_names(&self) -> Vec<String> {
        self.partition_by
            .iter()
            .map(|k| k.name().to_string())
            .collect()
    }
}

/// Which slice of the fact table a run writes: part `part` (1-based) of
/// `parts`. Part 1 also writes the dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    pub part: u32,
    pub parts: u32,
}

impl Slice {
    pub const WHOLE: Slice = Slice { part: 1, parts: 1 };

    pub fn is_whole(&self) -> bool {
        self.parts == 1
    }

    /// The fact rows of this slice out of `rows`.
    pub fn rows(&self, rows: u64) -> std::ops::Range<u64> {
        let at = |k: u64| (rows as u128 * k as u128 / self.parts as u128) as u64;
        at(self.part as u64 - 1)..at(self.part as u64)
    }

    pub fn writes_dimensions(&self) -> bool {
        self.part == 1
    }
}

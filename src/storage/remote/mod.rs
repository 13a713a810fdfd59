//! Data sets in object storage: `--output-dir s3://bucket/prefix`.
//!
//! A store has no rename, so publishing works by naming instead:
//!
//! ```text
//! s3://bucket/prefix/
//!   manifest.json                  the commit point: written last, names its root
//!   v-20261125T203000Z-1a2b3c4d/   a whole run's files (and its own manifest.json)
//!     parquet/sales_fact/year=2021/quarter=1/part-00000.parquet
//!   parts-4-9f8e7d6c/              the shared root of a 4-part run (by its settings)
//!     manifest.part-00001-of-00004.json
//! ```
//!
//! A whole run uploads its files under a fresh run root, then its manifest,
//! then replaces `prefix/manifest.json` (one PUT, atomic on S3): readers see
//! the old data set or the new one. The old run's objects are deleted after
//! the commit. A sharded run's parts share a root derived from their settings,
//! each writes a part manifest last, and the part that finds all N merges them
//! and writes `manifest.json` with a create-only PUT (exactly once; an
//! identical retry is harmless). Objects no manifest names are leftovers of a
//! run that died (or is still running elsewhere): `validate` lists them and
//! `--remove-leftovers` deletes them.
//!
//! Credentials, region and endpoint come from the standard `AWS_*`
//! environment variables (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true` for a
//! local server). Files stream up in 5 MiB parts, at most 4 in flight per
//! file, so memory stays bounded whatever the file size.
//!
//! The client is the `s3` cargo feature (`cargo build --release --features
//! s3`): it brings an HTTP and TLS stack that the first build of everyone
//! else need not compile. Without it, naming an `s3://` URL is a one-line
//! error saying how to rebuild.

use std::path::Path;

use crate::model::GenSpec;
use crate::storage::StorageSpec;

#[cfg(feature = "s3")]
mod client;
#[cfg(feature = "s3")]
pub use client::{Remote, RemoteSink};
#[cfg(not(feature = "s3"))]
mod off;
#[cfg(not(feature = "s3"))]
pub use off::{Remote, RemoteSink};

/// The URL scheme olap writes to.
pub const SCHEME: &str = "s3://";

/// The object-store URL `p` names, if it names one.
pub fn url_of(p: &Path) -> Option<&str> {
    p.to_str().filter(|s| s.starts_with(SCHEME))
}

/// A fresh run root for a whole run: time-ordered, unique.
pub fn fresh_root() -> String {
    let id = crate::storage::lock::run_id();
    let nonce = id.rsplit('-').next().unwrap_or("0");
    format!("v-{}-{nonce}/", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// The shared root of a sharded run: the same for every part generated with
/// the same settings, so parts on different machines meet there.
pub fn parts_root(spec: &GenSpec, storage: &StorageSpec, parts: u32) -> String {
    let settings = serde_json::to_string(&(spec, storage)).expect("serialises");
    format!(
        "parts-{parts}-{:08x}/",
        xxhash_rust::xxh3::xxh3_64(settings.as_bytes()) as u32
    )
}

/// The run root an object under the prefix belongs to (`v-…/`, `parts-…/`).
pub fn root_of(rel: &str) -> Option<&str> {
    let end = rel.find('/')?;
    let root = &rel[..=end];
    (root.starts_with("v-") || root.starts_with("parts-")).then_some(root)
}

//! `storage::remote` in a build without the `s3` feature: a [`Remote`]
//! cannot be opened, so none exists and its methods cannot be reached (the
//! type is uninhabited); [`Remote::open`] says how to rebuild.

use std::convert::Infallible;
use std::path::Path;

use anyhow::Result;

use crate::error::UserError;
use crate::storage::manifest::Manifest;
use crate::storage::write::{FileSink, Sink};

/// A data set's prefix in an object store (this build has no client).
pub struct Remote {
    pub url: String,
    never: Infallible,
}

impl Remote {
    pub fn open(url: &str) -> Result<Remote> {
        Err(UserError::new(format!(
            "{url}: this olap was built without object storage; rebuild it with `cargo build --release --features s3` (a few minutes: DuckDB is not recompiled)"
        ))
        .into())
    }

    pub fn show(&self, _rel: &str) -> String {
        match self.never {}
    }

    pub fn list(&self, _rel: &str) -> Result<Vec<(String, u64)>> {
        match self.never {}
    }

    pub fn get(&self, _rel: &str) -> Result<Option<Vec<u8>>> {
        match self.never {}
    }

    pub fn put(&self, _rel: &str, _bytes: Vec<u8>) -> Result<()> {
        match self.never {}
    }

    pub fn put_new(&self, _rel: &str, _bytes: Vec<u8>) -> Result<bool> {
        match self.never {}
    }

    pub fn delete(&self, _rels: &[String]) -> Result<usize> {
        match self.never {}
    }

    pub fn hash(&self, _rel: &str) -> Result<(u64, u64)> {
        match self.never {}
    }

    pub fn manifest(&self) -> Result<Option<Manifest>> {
        match self.never {}
    }

    pub fn sink<'a>(&'a self, _root: &'a str) -> RemoteSink<'a> {
        match self.never {}
    }
}

/// Files under one run root of a [`Remote`] (none in this build).
pub struct RemoteSink<'a> {
    remote: &'a Remote,
}

impl Sink for RemoteSink<'_> {
    fn create(&self, _rel: &Path) -> Result<Box<dyn FileSink>> {
        match self.remote.never {}
    }

    fn display(&self, _rel: &Path) -> String {
        match self.remote.never {}
    }
}

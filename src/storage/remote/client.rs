//! The S3 client behind `storage::remote` (the `s3` feature): object_store
//! over reqwest and rustls.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};
use xxhash_rust::xxh3::Xxh3;

use crate::error::UserError;
use crate::storage::layout::MANIFEST;
use crate::storage::manifest::Manifest;
use crate::storage::write::{FileSink, Sink};

/// Upload parts in flight per file (each up to 5 MiB).
const IN_FLIGHT: usize = 4;
/// Bytes buffered before they are handed to the upload.
const CHUNK: usize = 1 << 20;

/// A data set's prefix in an object store.
pub struct Remote {
    store: Arc<AmazonS3>,
    rt: tokio::runtime::Runtime,
    pub url: String,
    prefix: String,
}

/// One line from an object-store error: user errors (exit 2) for what the
/// user can fix (credentials, bucket, URL), runtime errors (exit 3) otherwise.
fn fail(e: object_store::Error, what: &str, url: &str) -> anyhow::Error {
    let text = e.to_string().replace('\n', " ");
    let lower = text.to_ascii_lowercase();
    let user = |msg: String| -> anyhow::Error { UserError::new(msg).into() };
    match &e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => user(format!(
            "{what} {url}: access denied; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({text})"
        )),
        _ if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") => {
            user(format!("{what} {url}: the bucket does not exist"))
        }
        _ if lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("accessdenied")
            || lower.contains("403 forbidden") =>
        {
            user(format!(
                "{what} {url}: access denied; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ))
        }
        _ if lower.contains("error sending request")
            || lower.contains("connect")
            || lower.contains("timed out") =>
        {
            anyhow::anyhow!(
                "{what} {url}: cannot reach the object store{} ({text})",
                std::env::var("AWS_ENDPOINT_URL")
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default()
            )
        }
        _ => anyhow::anyhow!("{what} {url}: {text}"),
    }
}

impl Remote {
    /// Connects to the bucket of `url` (`s3://bucket/prefix`) and checks
    /// that it can list the prefix, so bad credentials, a missing bucket or
    /// an unreachable endpoint fail before any work.
    pub fn open(url: &str) -> Result<Remote> {
        let parsed = url::Url::parse(url)
            .map_err(|e| UserError::new(format!("{url} is not a valid URL: {e}")))?;
        let bucket = parsed.host_str().unwrap_or("").to_string();
        let prefix = parsed.path().trim_matches('/').to_string();
        if bucket.is_empty() || prefix.is_empty() {
            crate::bail_user!("{url}: give a bucket and a prefix, e.g. s3://my-bucket/retail-10M");
        }
        if prefix
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            crate::bail_user!("{url}: the prefix has an empty, . or .. component");
        }
        // TLS through rustls on `ring` (Cargo.toml says why not aws-lc-rs):
        // the process default, installed once; a second install is refused
        // harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::from_env()
            .with_url(format!("s3://{bucket}"))
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            // Through config keys: client options set whole would drop
            // AWS_ALLOW_HTTP and the other client settings read from the env.
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            )
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "300s")
            .build()
            .map_err(|e| UserError::new(format!("{url}: {}", e.to_string().replace('\n', " "))))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        let remote = Remote {
            store: Arc::new(store),
            rt,
            url: url.trim_end_matches('/').to_string(),
            prefix,
        };
        // One listing page, not the whole prefix: callers list it anyway.
        let key = remote.key("");
        remote
            .rt
            .block_on(remote.store.list_with_delimiter(Some(&key)))
            .map_err(|e| fail(e, "listing", &remote.url))?;
        Ok(remote)
    }

    fn key(&self, rel: &str) -> Key {
        if rel.is_empty() {
            Key::from(self.prefix.as_str())
        } else {
            Key::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// `rel` as a URL, for messages.
    pub fn show(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// Every object under `rel` (relative to the prefix), with keys made
    /// relative to the prefix, and its size in bytes.
    pub fn list(&self, rel: &str) -> Result<Vec<(String, u64)>> {
        let key = self.key(rel);
        let strip = format!("{}/", self.prefix);
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut s = self.store.list(Some(&key));
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| fail(e, "listing", &self.url))?;
                let k = m.location.to_string();
                let rel = k.strip_prefix(&strip).unwrap_or(&k).to_string();
                out.push((rel, m.size));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }

    /// The object at `rel`, or `None` when there is none.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(rel);
        self.rt.block_on(async {
            match self.store.get(&key).await {
                Ok(r) => Ok(Some(
                    r.bytes()
                        .await
                        .map_err(|e| fail(e, "reading", &self.show(rel)))?
                        .to_vec(),
                )),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(fail(e, "reading", &self.show(rel))),
            }
        })
    }

    /// Writes `bytes` at `rel` in one PUT (atomic: readers see all or none).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(rel);
        self.rt
            .block_on(self.store.put(&key, PutPayload::from(bytes)))
            .map_err(|e| fail(e, "writing", &self.show(rel)))?;
        Ok(())
    }

    /// Writes `bytes` at `rel` only if nothing is there; false when
    /// something was. Stores without conditional writes overwrite.
    pub fn put_new(&self, rel: &str, bytes: Vec<u8>) -> Result<bool> {
        let key = self.key(rel);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(bytes.clone());
        match self.rt.block_on(self.store.put_opts(&key, payload, opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. })
            | Err(object_store::Error::NotSupported { .. }) => self.put(rel, bytes).map(|_| true),
            Err(e) => Err(fail(e, "writing", &self.show(rel))),
        }
    }

    /// Deletes the objects at `rels`; returns how many.
    pub fn delete(&self, rels: &[String]) -> Result<usize> {
        self.rt.block_on(async {
            for rel in rels {
                match self.store.delete(&self.key(rel)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(fail(e, "deleting", &self.show(rel))),
                }
            }
            Ok(rels.len())
        })
    }

    /// Size and xxh3 of the object at `rel`, streamed (never all in memory).
    pub fn hash(&self, rel: &str) -> Result<(u64, u64)> {
        let key = self.key(rel);
        self.rt.block_on(async {
            let r = self
                .store
                .get(&key)
                .await
                .map_err(|e| fail(e, "reading", &self.show(rel)))?;
            let mut s = r.into_stream();
            let (mut h, mut n) = (Xxh3::new(), 0u64);
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| fail(e, "reading", &self.show(rel)))?;
                h.update(&chunk);
                n += chunk.len() as u64;
            }
            Ok((n, h.digest()))
        })
    }

    /// The data set's manifest, if it has one.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        match self.get(MANIFEST)? {
            None => Ok(None),
            Some(b) => {
                let text = std::str::from_utf8(&b)
                    .map_err(|_| UserError::new(format!("{} is not text", self.show(MANIFEST))))?;
                Ok(Some(Manifest::parse(text, &self.show(MANIFEST))?))
            }
        }
    }

    /// A sink writing files under `root` (a run directory, ending in '/').
    pub fn sink<'a>(&'a self, root: &'a str) -> RemoteSink<'a> {
        RemoteSink { remote: self, root }
    }
}

/// Files under one run root of a [`Remote`].
pub struct RemoteSink<'a> {
    remote: &'a Remote,
    root: &'a str,
}

impl Sink for RemoteSink<'_> {
    fn create(&self, rel: &Path) -> Result<Box<dyn FileSink>> {
        let rel = format!("{}{}", self.root, rel.to_string_lossy().replace('\\', "/"));
        let key = self.remote.key(&rel);
        let upload = self
            .remote
            .rt
            .block_on(self.remote.store.put_multipart(&key))
            .map_err(|e| fail(e, "uploading", &self.remote.show(&rel)))?;
        Ok(Box::new(RemoteFile {
            rt: self.remote.rt.handle().clone(),
            upload: Some(WriteMultipart::new(upload)),
            buf: Vec::with_capacity(CHUNK),
            name: self.remote.show(&rel),
        }))
    }
    fn display(&self, rel: &Path) -> String {
        self.remote
            .show(&format!("{}{}", self.root, rel.to_string_lossy()))
    }
}

/// One object being uploaded in parts; aborted if dropped unfinished.
struct RemoteFile {
    rt: tokio::runtime::Handle,
    upload: Option<WriteMultipart>,
    buf: Vec<u8>,
    name: String,
}

impl RemoteFile {
    fn hand_over(&mut self) -> std::io::Result<()> {
        let upload = self.upload.as_mut().expect("upload open");
        let _enter = self.rt.enter();
        self.rt
            .block_on(upload.wait_for_capacity(IN_FLIGHT))
            .map_err(std::io::Error::other)?;
        upload.put(Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK),
        )));
        Ok(())
    }
}

impl Write for RemoteFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl FileSink for RemoteFile {
    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        let upload = self.upload.take().expect("upload open");
        let _enter = self.rt.enter();
        self.rt
            .block_on(upload.finish())
            .map_err(|e| std::io::Error::other(format!("{}: {e}", self.name)))?;
        Ok(())
    }
}

impl Drop for RemoteFile {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            let _enter = self.rt.enter();
            let _ = self.rt.block_on(upload.abort());
        }
    }
}

//! Object storage: `generate --output-dir s3://…` and `validate` against a
//! real S3-protocol server (the `s3s-fs` crate, objects as files on disk)
//! that each test starts on 127.0.0.1 inside the test process: a
//! dev-dependency, so the tests never depend on a tool being installed. The
//! client is olap's `s3` feature: without it these tests show as ignored,
//! with the command that runs them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use olap::storage::manifest::Manifest;

use crate::common::*;

const KEY: &str = "olap-test-key";
const SECRET: &str = "olap-test-secret";
const BUCKET: &str = "lake";

/// A running S3 server with one bucket; stopped on drop (its runtime, and
/// with it the listener and every connection, shuts down).
struct Server {
    _rt: tokio::runtime::Runtime,
    port: u16,
    /// The server's storage: `<root>/<bucket>/<key>` is each object's bytes.
    root: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use s3s::auth::SimpleAuth;
        use s3s::service::S3ServiceBuilder;

        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(KEY, SECRET));
        let service = b.build();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Server {
            _rt: rt,
            port,
            root,
        }
    }

    fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// `olap` with this server's endpoint and credentials.
    fn olap(&self) -> assert_cmd::Command {
        let mut c = olap();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .env("AWS_ALLOW_HTTP", "true");
        c
    }

    /// The binary as a plain process (to run several at once, or to kill
    /// one), with the same environment as [`Server::olap`].
    fn spawnable(&self) -> StdCommand {
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("olap"));
        for (k, v) in self.olap().get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// The directory holding `prefix`'s objects on the server's disk.
    fn dir(&self, prefix: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(prefix)
    }

    fn manifest(&self, prefix: &str) -> Option<Manifest> {
        let text = std::fs::read_to_string(self.dir(prefix).join("manifest.json")).ok()?;
        Some(Manifest::parse(&text, "remote manifest").unwrap())
    }

    fn generate(&self, prefix: &str, rows: u64, extra: &[&str]) -> std::process::Output {
        self.olap()
            .args([
                "generate",
                "--rows",
                &rows.to_string(),
                "-q",
                "--output-dir",
            ])
            .arg(self.url(prefix))
            .args(SMALL)
            .args(extra)
            .output()
            .unwrap()
    }

    fn validate(&self, prefix: &str, extra: &[&str]) -> std::process::Output {
        self.olap()
            .args(["validate", "--format", "json", "--data-dir"])
            .arg(self.url(prefix))
            .args(extra)
            .output()
            .unwrap()
    }
}

/// (path, bytes, xxh3, content checksum) of every file.
fn files(m: &Manifest) -> Vec<(String, u64, String, String)> {
    let mut v: Vec<_> = m
        .tables
        .iter()
        .flat_map(|t| &t.files)
        .map(|f| {
            (
                f.path.clone(),
                f.bytes,
                f.xxh3.clone(),
                f.content_checksum.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Run roots under `dir` that hold objects (the server leaves empty
/// directories behind when it deletes objects).
fn run_roots(dir: &Path) -> Vec<String> {
    fn has_files(d: &Path) -> bool {
        std::fs::read_dir(d).is_ok_and(|es| {
            es.flatten()
                .any(|e| e.path().is_file() || (e.path().is_dir() && has_files(&e.path())))
        })
    }
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| has_files(&e.path()))
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("v-") || n.starts_with("parts-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "object storage is the `s3` feature: cargo test --release --features s3 (.ci/run does)"
)]
fn a_whole_run_uploads_the_same_bytes_as_a_local_run_and_validates() {
    let s = Server::start();
    let t = tempfile::tempdir().unwrap();
    let local = generate(&t.path().join("d"), 30_000, &["--format", "both"]);
    let o = s.generate("ds", 30_000, &["--format", "both"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let remote = s.manifest("ds").expect("manifest.json is published");
    assert_eq!(files(&remote), files(&local), "same files, same checksums");
    let root = remote
        .root
        .clone()
        .expect("a remote manifest names its root");
    // Byte for byte, as the server stored them.
    for f in local.tables.iter().flat_map(|t| &t.files) {
        let up = std::fs::read(s.dir("ds").join(&root).join(&f.path)).unwrap();
        let down = std::fs::read(t.path().join("d").join(&f.path)).unwrap();
        assert!(up == down, "{} differs from the local run", f.path);
    }
    // The run directory is itself a plain data set: a copy of it (as
    // `aws s3 sync` would make) validates and answers queries.
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.path().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let synced = t.path().join("synced");
    copy(&s.dir("ds").join(root.trim_end_matches('/')), &synced);
    olap()
        .args(["validate", "--data-dir"])
        .arg(&synced)
        .assert()
        .success();
    let o = s.validate("ds", &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["violations"], 0);
    assert_eq!(v["checks"].as_array().unwrap().len(), 4);

    // A corrupted object is caught by its checksum.
    let victim = s
        .dir("ds")
        .join(&root)
        .join(&remote.tables[0].files[0].path);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let o = s.validate("ds", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("content differs"), "{}", stdout(&o));
}

#[test]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "object storage is the `s3` feature: cargo test --release --features s3 (.ci/run does)"
)]
fn force_replaces_a_remote_data_set_and_removes_the_old_run() {
    let s = Server::start();
    assert!(s.generate("ds", 20_000, &[]).status.success());
    let first = s.manifest("ds").unwrap().root.unwrap();
    let o = s.generate("ds", 20_000, &["--seed", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(
        s.generate("ds", 20_000, &["--seed", "2", "--force"])
            .status
            .success()
    );
    let m = s.manifest("ds").unwrap();
    assert_eq!(m.spec.seed, 2);
    assert_ne!(m.root.as_deref(), Some(first.as_str()));
    assert_eq!(
        run_roots(&s.dir("ds")),
        vec![m.root.unwrap().trim_end_matches('/').to_string()]
    );
    assert!(s.validate("ds", &[]).status.success());
}

#[test]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "object storage is the `s3` feature: cargo test --release --features s3 (.ci/run does)"
)]
fn parts_uploaded_at_once_make_one_data_set_when_the_last_lands() {
    let s = Server::start();
    let t = tempfile::tempdir().unwrap();
    let local = generate(&t.path().join("d"), 60_000, &[]);
    let children: Vec<_> = (1..=3)
        .map(|k| {
            s.spawnable()
                .args(["generate", "--rows", "60000", "--parts", "3", "--part"])
                .arg(k.to_string())
                .args(["-q", "--output-dir"])
                .arg(s.url("sharded"))
                .args(SMALL)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let m = s
        .manifest("sharded")
        .expect("the last part published the set");
    assert!(m.merged_parts);
    assert_eq!(
        checksums(&m),
        checksums(&local),
        "the same rows as one local run"
    );
    assert!(m.root.unwrap().starts_with("parts-3-"));
    assert!(s.validate("sharded", &[]).status.success());
    // A part again without --force is refused; nothing changes.
    let o = s.generate("sharded", 60_000, &["--parts", "3", "--part", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "object storage is the `s3` feature: cargo test --release --features s3 (.ci/run does)"
)]
fn a_run_killed_mid_upload_is_never_a_data_set_and_its_leftovers_are_removable() {
    let s = Server::start();
    let mut child = s
        .spawnable()
        .args([
            "generate",
            "--rows",
            "3000000",
            "--threads",
            "1",
            "--output-dir",
        ])
        .arg(s.url("killed"))
        .args(SMALL)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while run_roots(&s.dir("killed")).is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it was killed"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(
        s.manifest("killed").is_none(),
        "no manifest: not a data set"
    );
    let o = s.validate("killed", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no manifest.json"), "{}", stderr(&o));

    // A run that dies after uploading its files and its own manifest, before
    // the commit point, is not a data set either.
    let o = s.generate("killed", 20_000, &[]);
    assert!(
        o.status.success(),
        "the re-run succeeds without --force: {}",
        stderr(&o)
    );
    let o = s
        .olap()
        .env("OLAP_FAILPOINT", "after-manifest")
        .args([
            "generate",
            "--rows",
            "20000",
            "--seed",
            "9",
            "--force",
            "--output-dir",
        ])
        .arg(s.url("killed"))
        .args(SMALL)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(
        s.manifest("killed").unwrap().spec.seed,
        42,
        "the old data set stands"
    );

    // Leftovers of the two dead runs are listed, then removed on request.
    let o = s.validate("killed", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 other run(s)"), "{}", stdout(&o));
    assert_eq!(run_roots(&s.dir("killed")).len(), 3);
    assert!(
        s.validate("killed", &["--remove-leftovers"])
            .status
            .success()
    );
    assert_eq!(run_roots(&s.dir("killed")).len(), 1);
    let o = s.validate("killed", &[]);
    assert!(stdout(&o).contains("\"none\""), "{}", stdout(&o));
}

#[test]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "object storage is the `s3` feature: cargo test --release --features s3 (.ci/run does)"
)]
fn bad_credentials_missing_buckets_and_dead_endpoints_are_one_line_errors() {
    let s = Server::start();
    let err = assert_refused(
        s.olap()
            .env("AWS_SECRET_ACCESS_KEY", "wrong")
            .args(["generate", "--rows", "5000", "--output-dir"])
            .arg(s.url("ds")),
        "bad credentials",
        2,
        "access denied",
    );
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    assert_refused(
        s.olap().args([
            "generate",
            "--rows",
            "5000",
            "--output-dir",
            "s3://no-such-bucket/ds",
        ]),
        "a missing bucket",
        2,
        "bucket does not exist",
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_refused(
        s.olap()
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
            .args(["generate", "--rows", "5000", "--output-dir"])
            .arg(s.url("ds")),
        "an unreachable endpoint",
        3,
        "cannot reach",
    );
    assert!(run_roots(&s.dir("ds")).is_empty(), "nothing was uploaded");
    // Foreign objects under the prefix are never overwritten or deleted.
    std::fs::create_dir_all(s.dir("theirs")).unwrap();
    std::fs::write(s.dir("theirs").join("notes.txt"), "mine").unwrap();
    assert_refused(
        s.olap()
            .args(["generate", "--rows", "5000", "--output-dir"])
            .arg(s.url("theirs")),
        "a prefix with foreign objects",
        2,
        "olap did not write",
    );
    assert_refused(
        olap().args(["generate", "--rows", "5000", "--output-dir", "gs://b/ds"]),
        "another scheme",
        2,
        "only s3://",
    );
    assert_refused(
        s.olap()
            .args(["analyze", "--execute", "--data-dir"])
            .arg(s.url("theirs")),
        "analyze on object storage",
        2,
        "object storage",
    );
}

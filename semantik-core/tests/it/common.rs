//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use semantik_core::embed::{Embedder, HashEmbedder};
use semantik_core::{CollectionConfig, Database, Result};

/// The hash test model of dimension 64.
pub const TEST_MODEL: &str = "semantik-test/hash-64";

/// A test embedder that takes `delay` per text, for operations slow enough to cancel or kill.
#[derive(Debug)]
pub struct SlowEmbedder {
    inner: HashEmbedder,
    name: String,
    delay: Duration,
}

impl SlowEmbedder {
    /// Model `test/slow-64`.
    pub fn new(delay: Duration) -> Arc<Self> {
        Self::with_dim(delay, 64)
    }

    /// Model `test/slow-{dim}`.
    pub fn with_dim(delay: Duration, dim: usize) -> Arc<Self> {
        Arc::new(SlowEmbedder {
            inner: HashEmbedder::new(dim),
            name: format!("test/slow-{dim}"),
            delay,
        })
    }
}

impl Embedder for SlowEmbedder {
    fn model_name(&self) -> &str {
        &self.name
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        std::thread::sleep(self.delay * texts.len() as u32);
        self.inner.embed(texts)
    }
}

/// A collection of the hash model.
pub fn text_collection(name: &str) -> CollectionConfig {
    CollectionConfig::new(name).with_model(TEST_MODEL)
}

/// This crate's own source folder: real files of real text.
pub fn real_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Writes `n` real passages (paragraphs of this crate's sources) as files into `dir`.
pub fn write_passages(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut text = String::new();
    for entry in walk(&real_source_dir()) {
        text.push_str(&std::fs::read_to_string(entry).unwrap());
    }
    let paragraphs: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| p.len() > 40)
        .collect();
    assert!(paragraphs.len() > 50, "need real text");
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("passage-{i:04}.txt"));
            let body = format!(
                "{}\n\n{}\n\npassage {i}",
                paragraphs[i % paragraphs.len()],
                paragraphs[(i * 7 + 3) % paragraphs.len()]
            );
            std::fs::write(&p, body).unwrap();
            p
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An open database that is verified (`Database::verify`) when the test is done with it:
/// every integration test ends by checking every invariant of what it stored.
#[derive(Debug)]
pub struct Checked(Option<Database>);

impl Checked {
    /// Verifies, then closes.
    pub fn close(mut self) -> Result<()> {
        let db = self.0.take().expect("open");
        assert_verified(&db);
        db.close()
    }
}

impl std::ops::Deref for Checked {
    type Target = Database;
    fn deref(&self) -> &Database {
        self.0.as_ref().expect("open")
    }
}

impl Drop for Checked {
    fn drop(&mut self) {
        if let Some(db) = self.0.take()
            && !std::thread::panicking()
        {
            assert_verified(&db);
        }
    }
}

/// Panics with the report unless `db` verifies clean.
pub fn assert_verified(db: &Database) {
    match db.verify() {
        Ok(report) => assert!(report.is_ok(), "verify: {report}"),
        Err(e) if e.code() == semantik_core::ErrorCode::DatabaseClosed => {}
        Err(e) => panic!("verify failed: {e}"),
    }
}

/// Opens the database at `path`, verified when dropped.
pub fn open(path: impl AsRef<Path>) -> Checked {
    Checked(Some(Database::open(path).unwrap()))
}

/// Opens the database at `path` with `config`, verified when dropped.
pub fn open_with(path: impl AsRef<Path>, config: semantik_core::Config) -> Checked {
    Checked(Some(Database::open_with(path, config).unwrap()))
}

/// Opens a database in a fresh temporary directory.
pub fn temp_db() -> (tempfile::TempDir, Checked) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    (dir, db)
}

/// Spawns this test binary to run the ignored test `name` alone, as a child process with
/// `envs`, its stdout piped.
pub fn spawn_child(name: &str, envs: &[(&str, &Path)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for the line `marker` from a child (the test harness prints its own lines first).
pub fn wait_for(lines: &std::sync::mpsc::Receiver<String>, marker: &str) {
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("child never printed {marker}"));
        if line.ends_with(marker) {
            return;
        }
    }
}

/// Lines of a child's stdout, read on a thread.
pub fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

//! Crash recovery: a child process indexes and is killed (SIGKILL) at a random moment; the
//! parent reopens the database and checks that nothing committed was lost and nothing is half
//! written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use semantik_core::{
    Collection, CollectionConfig, Database, DocumentStatus, ErrorCode, EventKind, IndexConfig,
    OperationFilter, OperationKind, OperationStatus, SearchMode, SourceOptions,
};

use crate::common::{SlowEmbedder, lines_of, spawn_child, wait_for, write_passages};

const DB_ENV: &str = "SEMANTIK_CRASH_DB";
const SRC_ENV: &str = "SEMANTIK_CRASH_SRC";
const PASSAGES: usize = 150;

fn open(path: &Path) -> semantik_core::Result<Database> {
    let db = Database::open(path)?;
    db.register_embedder(SlowEmbedder::new(Duration::from_millis(3)));
    Ok(db)
}

/// Child side: indexes the source folder, printing every durable progress count.
#[test]
#[ignore = "child process of the crash tests"]
fn child_process() {
    let (Some(db_path), Some(src)) = (std::env::var_os(DB_ENV), std::env::var_os(SRC_ENV)) else {
        return;
    };
    let db = open(Path::new(&db_path)).unwrap();
    let col = match db.collection("crash") {
        Ok(c) => c,
        Err(_) => db
            .create_collection(
                CollectionConfig::new("crash")
                    .with_model("test/slow-64")
                    // Small enough that graph segments are built, stored and compacted.
                    .with_index(IndexConfig::new().with_exact_threshold(48)),
            )
            .unwrap(),
    };
    let op = col
        .add_source(PathBuf::from(src), SourceOptions::default())
        .unwrap();
    let events = op.events();
    println!("STARTED");
    for e in events {
        if let EventKind::Progress { progress } = &e.kind {
            println!("COMMITTED {}", progress.documents_indexed());
        }
    }
    println!("INDEXED");
    // Kills may also land in graph builds and their persistence.
    for _ in 0..3 {
        col.compact().unwrap().wait(None).unwrap();
    }
    println!("DONE");
}

/// Checks the collection's invariants through the public API: counts agree with documents,
/// every indexed document has exactly its chunks searchable, nothing else is searchable.
fn check_invariants(col: &Collection) -> u64 {
    let stats = col.stats().unwrap();
    let docs = col.documents().unwrap();
    let indexed: Vec<_> = docs
        .iter()
        .filter(|d| d.status == DocumentStatus::Indexed)
        .collect();
    assert_eq!(stats.documents, indexed.len() as u64, "document count");
    let chunks: u64 = indexed.iter().map(|d| u64::from(d.chunk_count)).sum();
    assert_eq!(stats.chunks, chunks, "chunk count");
    assert_eq!(stats.vectors, chunks, "vector count");
    let probe = vec![0.125f32; 64];
    let hits = col
        .search_by_vector(probe)
        .limit(chunks as usize + 10)
        .run()
        .unwrap();
    assert_eq!(hits.len() as u64, chunks, "every chunk is searchable, once");
    let mut per_doc: HashMap<&str, u32> = HashMap::new();
    for h in &hits {
        *per_doc.entry(h.document_id.as_str()).or_default() += 1;
    }
    for d in &indexed {
        assert_eq!(
            per_doc.get(d.id.as_str()).copied().unwrap_or(0),
            d.chunk_count,
            "chunks of {}",
            d.id
        );
    }
    let hits = col.search("passage").limit(3).run().unwrap();
    assert_eq!(hits.len(), 3.min(chunks as usize));
    // The keyword index holds exactly the live chunks' words: no posting of a chunk that a
    // crash cut off, none missing from one that committed.
    let with_word = indexed
        .iter()
        .flat_map(|d| col.chunks(&d.id).unwrap())
        .filter(|c| {
            c.text
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .any(|w| w.eq_ignore_ascii_case("passage") || w.eq_ignore_ascii_case("passages"))
        })
        .count();
    let keyword = col
        .search("passage")
        .mode(SearchMode::Keyword)
        .limit(chunks as usize + 10)
        .run()
        .unwrap();
    assert_eq!(
        keyword.len(),
        with_word,
        "keyword hits agree with the chunks"
    );
    stats.documents
}

fn crash_iteration(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let src = dir.path().join("src");
    write_passages(&src, PASSAGES);
    let mut child = spawn_child(
        "crash::child_process",
        &[(DB_ENV, &db_path), (SRC_ENV, &src)],
    );
    let lines = lines_of(&mut child);
    wait_for(&lines, "STARTED");
    std::thread::sleep(Duration::from_millis(rng.random_range(0..900)));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut committed = 0;
    let mut finished = false;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        if let Some(n) = line.split("COMMITTED ").nth(1) {
            committed = committed.max(n.parse::<u64>().unwrap());
        }
        finished |= line.ends_with("INDEXED");
    }

    let db = match open(&db_path) {
        Ok(db) => db,
        Err(e) => {
            let kept = dir.keep();
            panic!(
                "seed {seed}: reopening after SIGKILL failed: {e} (code {}); database kept at {}",
                e.code().as_u32(),
                kept.display()
            );
        }
    };
    let col = db.collection("crash").unwrap();
    let documents = check_invariants(&col);
    assert!(
        documents >= committed,
        "seed {seed}: {committed} reported committed, {documents} found"
    );
    let ops: Vec<_> = col
        .operations(OperationFilter::all())
        .unwrap()
        .into_iter()
        .filter(|o| o.kind != OperationKind::Compact)
        .collect();
    assert_eq!(ops.len(), 1);
    let op = db.operation(ops[0].id).unwrap();
    match op.status() {
        OperationStatus::Completed => assert_eq!(documents, PASSAGES as u64),
        OperationStatus::Failed => {
            assert!(!finished);
            assert_eq!(op.info().error.unwrap().code, ErrorCode::Interrupted);
            assert_eq!(
                col.status().unwrap().0,
                semantik_core::CollectionStatus::Error
            );
            let retry = op.retry().unwrap().wait(None).unwrap();
            assert_eq!(retry.progress.documents_skipped(), documents);
            assert_eq!(check_invariants(&col), PASSAGES as u64);
        }
        other => panic!("seed {seed}: operation left {other:?}"),
    }
}

/// A handful of kills, run by `make test`.
#[test]
fn killed_during_index_recovers() {
    for seed in 0..5 {
        crash_iteration(seed);
    }
}

/// The soak: many kills at random moments.
#[test]
#[ignore = "soak: cargo test --release -- --ignored crash::soak"]
fn soak_killed_during_index_recovers() {
    let n: u64 = std::env::var("SEMANTIK_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let base: u64 = rand::rng().random();
    for i in 0..n {
        crash_iteration(base.wrapping_add(i));
    }
}

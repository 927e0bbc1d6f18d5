//! Reliability: verify on a live database, backup and restore while operations run, and
//! storage faults injected at the seam.

use std::path::Path;
use std::time::Duration;

use semantik_core::{
    CollectionConfig, Config, Database, DocumentStatus, ErrorCode, Faults, OperationStatus,
    SourceOptions,
};

use crate::common::{SlowEmbedder, assert_verified, open_with, temp_db, write_passages};

fn slow_collection(db: &Database, name: &str) -> semantik_core::Collection {
    db.register_embedder(SlowEmbedder::new(Duration::from_millis(2)));
    db.create_collection(CollectionConfig::new(name).with_model("test/slow-64"))
        .unwrap()
}

#[test]
fn backups_taken_during_an_append_restore_to_verified_snapshots() {
    let (dir, db) = temp_db();
    let src = dir.path().join("src");
    write_passages(&src, 120);
    let col = slow_collection(&db, "docs");
    let op = col.add_source(&src, SourceOptions::default()).unwrap();
    let mut backups = Vec::new();
    while !op.status().is_terminal() {
        // A live verify sees a consistent moment too.
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "{report}");
        let path = dir.path().join(format!("backup-{}", backups.len()));
        db.backup(&path).unwrap();
        backups.push(path);
        std::thread::sleep(Duration::from_millis(40));
    }
    op.wait(None).unwrap();
    assert!(backups.len() >= 3, "only {} backups", backups.len());
    let mut seen = Vec::new();
    for (i, b) in backups.iter().enumerate() {
        let dest = dir.path().join(format!("restored-{i}"));
        Database::restore(b, &dest).unwrap();
        let copy = crate::common::open(&dest);
        copy.register_embedder(SlowEmbedder::new(Duration::from_millis(2)));
        let c = copy.collection("docs").unwrap();
        let docs = c.documents().unwrap();
        let indexed = docs
            .iter()
            .filter(|d| d.status == DocumentStatus::Indexed)
            .count();
        assert_eq!(c.stats().unwrap().documents, indexed as u64);
        for d in docs.iter().filter(|d| d.status == DocumentStatus::Indexed) {
            assert_eq!(c.chunks(&d.id).unwrap().len(), d.chunk_count as usize);
        }
        seen.push(indexed);
        // The operation was running in the snapshot: restored, it is interrupted, and its
        // retry finishes the job from where the snapshot stood.
        let ops = copy
            .operations(semantik_core::OperationFilter::all())
            .unwrap();
        let add = ops
            .iter()
            .find(|o| o.kind != semantik_core::OperationKind::Compact)
            .unwrap();
        if add.status == OperationStatus::Failed {
            let retry = copy.operation(add.id).unwrap().retry().unwrap();
            retry.wait(None).unwrap();
            assert_eq!(c.stats().unwrap().documents, 120);
        }
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.iter().any(|&n| n > 0 && n < 120), "{seen:?}");
    // The final state round-trips whole.
    let last = dir.path().join("backup-final");
    db.backup(&last).unwrap();
    let dest = dir.path().join("restored-final");
    Database::restore(&last, &dest).unwrap();
    let copy = crate::common::open(&dest);
    assert_eq!(
        copy.collection("docs").unwrap().stats().unwrap(),
        col.stats().unwrap()
    );
}

fn damaged(from: &Path, to: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(from).unwrap();
    change(&mut bytes);
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn restore_refuses_newer_damaged_and_incomplete_backups_and_leaves_dest_alone() {
    let (dir, db) = temp_db();
    let col = db
        .create_collection(crate::common::text_collection("c"))
        .unwrap();
    col.add_texts(["one", "two", "three"])
        .unwrap()
        .wait(None)
        .unwrap();
    let good = dir.path().join("good");
    db.backup(&good).unwrap();
    assert_eq!(
        db.backup(&good).unwrap_err().code(),
        ErrorCode::InvalidArgument,
        "a backup never overwrites"
    );
    type Damage = Box<dyn FnOnce(&mut Vec<u8>)>;
    let cases: [(&str, ErrorCode, Damage); 4] = [
        (
            "newer",
            ErrorCode::UnsupportedFormat,
            Box::new(|b: &mut Vec<u8>| {
                let at = b
                    .windows(17)
                    .position(|w| w == b"\"format_version\":")
                    .unwrap();
                b[at + 17] = b'9';
            }),
        ),
        (
            "flipped",
            ErrorCode::Corrupt,
            Box::new(|b: &mut Vec<u8>| {
                let n = b.len();
                b[n / 2] ^= 0x40;
            }),
        ),
        (
            "truncated",
            ErrorCode::Corrupt,
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 40)),
        ),
        (
            "not-a-backup",
            ErrorCode::Corrupt,
            Box::new(|b: &mut Vec<u8>| b[..8].copy_from_slice(b"%PDF-1.7")),
        ),
    ];
    for (name, code, change) in cases {
        let file = dir.path().join(name);
        damaged(&good, &file, change);
        let dest = dir.path().join(format!("into-{name}"));
        let err = Database::restore(&file, &dest).unwrap_err();
        assert_eq!(err.code(), code, "{name}: {err}");
        assert!(!dest.exists(), "{name}: a failed restore leaves nothing");
    }
    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    assert_eq!(
        Database::restore(&good, &occupied).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        std::fs::read_to_string(occupied.join("keep.txt")).unwrap(),
        "mine"
    );
    Database::restore(&good, dir.path().join("fine")).unwrap();
}

/// Runs an add of 60 texts with `inject` active, then checks: the operation failed with a
/// storage error, the database verifies after a reopen, and a retry without faults succeeds.
fn fault_scenario(inject: impl FnOnce(&Faults)) {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::new();
    let config = || Config::new().with_faults(faults.clone());
    let texts: Vec<String> = (0..60)
        .map(|i| format!("passage {i} on write-ahead logs and page caches, part {i}"))
        .collect();
    let op_id = {
        let db = open_with(dir.path(), config());
        let col = db
            .create_collection(crate::common::text_collection("c"))
            .unwrap();
        inject(&faults);
        let op = col.add_texts(texts.clone()).unwrap();
        let err = op.wait(None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Storage, "{err}");
        assert!(faults.injected() > 0);
        assert_eq!(op.status(), OperationStatus::Failed);
        faults.clear();
        assert_verified(&db);
        op.id()
    };
    let db = open_with(dir.path(), config());
    let col = db.collection("c").unwrap();
    let before = col.stats().unwrap().documents;
    assert!(before < 60);
    db.operation(op_id)
        .unwrap()
        .retry()
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(col.stats().unwrap().documents, 60);
    let hits = col
        .search("passage 17 on write-ahead logs")
        .limit(60)
        .run()
        .unwrap();
    assert_eq!(hits.len(), 60);
}

#[test]
fn every_nth_write_failing_fails_the_operation_and_a_retry_succeeds() {
    fault_scenario(|f| f.fail_every_nth_write(7));
}

#[test]
fn a_full_disk_fails_the_operation_and_a_retry_succeeds() {
    fault_scenario(|f| f.disk_full_after(30_000));
}

#[test]
fn failing_flushes_and_writes_during_a_source_ingest_lose_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_passages(&src, 40);
    let faults = Faults::new();
    let db = open_with(
        dir.path().join("db"),
        Config::new().with_faults(faults.clone()),
    );
    let col = db
        .create_collection(crate::common::text_collection("c"))
        .unwrap();
    faults.fail_every_nth_flush(2);
    faults.fail_every_nth_write(11);
    let op = col.add_source(&src, SourceOptions::default()).unwrap();
    assert_eq!(op.wait(None).unwrap_err().code(), ErrorCode::Storage);
    faults.clear();
    let committed = col.stats().unwrap().documents;
    assert_verified(&db);
    db.close().unwrap();
    let db = open_with(
        dir.path().join("db"),
        Config::new().with_faults(faults.clone()),
    );
    let col = db.collection("c").unwrap();
    assert_eq!(col.stats().unwrap().documents, committed);
    let retry = db
        .operation(op.id())
        .unwrap()
        .retry()
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(retry.progress.documents_skipped(), committed);
    assert_eq!(col.stats().unwrap().documents, 40);
}

/// A reindex to a model of another dimension builds its generation beside the served one: a
/// live verify checks both, each against its own dimension, and a backup taken meanwhile
/// restores.
#[test]
fn live_verify_and_backup_during_a_reindex_to_another_dimension() {
    let (dir, db) = temp_db();
    let col = slow_collection(&db, "docs");
    let texts: Vec<String> = (0..80)
        .map(|i| format!("passage {i} about write-ahead logs, page caches and fsync, part {i}"))
        .collect();
    col.add_texts(texts).unwrap().wait(None).unwrap();
    db.register_embedder(SlowEmbedder::with_dim(Duration::from_millis(3), 32));
    let op = col.reindex().model("test/slow-32").start().unwrap();
    let mut checked = 0;
    while !op.status().is_terminal() {
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "{report}");
        checked += 1;
        if checked == 2 {
            db.backup(dir.path().join("mid-reindex")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    op.wait(None).unwrap();
    assert!(checked >= 2, "only {checked} verifies during the reindex");
    assert_eq!(col.info().unwrap().dimension(), 32);
    Database::restore(dir.path().join("mid-reindex"), dir.path().join("copy")).unwrap();
}

//! Operations: events and their order, cancel, time-outs, queueing, retry.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use semantik_core::{
    CollectionConfig, CollectionStatus, Config, Database, Error, ErrorCode, Event, EventKind,
    OperationFilter, OperationStatus, SourceOptions,
};

use crate::common::{SlowEmbedder, temp_db, text_collection, write_passages};

fn slow_db(dir: &std::path::Path, delay_ms: u64, config: Config) -> crate::common::Checked {
    let db = crate::common::open_with(dir, config);
    db.register_embedder(SlowEmbedder::new(Duration::from_millis(delay_ms)));
    db
}

fn slow_collection(db: &Database, name: &str) -> semantik_core::Collection {
    db.create_collection(CollectionConfig::new(name).with_model("test/slow-64"))
        .unwrap()
}

fn label(e: &Event) -> &'static str {
    match &e.kind {
        EventKind::OperationQueued { .. } => "queued",
        EventKind::OperationStarted { .. } => "started",
        EventKind::Progress { .. } => "progress",
        EventKind::DocumentFailed { .. } => "document_failed",
        EventKind::OperationCompleted { .. } => "completed",
        EventKind::OperationFailed { .. } => "failed",
        EventKind::OperationCancelled { .. } => "cancelled",
        EventKind::CollectionStatusChanged { .. } => "status",
        _ => "other",
    }
}

#[test]
fn events_arrive_in_order_and_end_with_the_outcome() {
    let (_dir, db) = temp_db();
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 40);
    std::fs::write(
        src.path().join("broken.txt"),
        [0x00u8, 0x9f, 0x92, 0x00, 0x01],
    )
    .unwrap();
    let col = db.create_collection(text_collection("ev")).unwrap();
    let all = db.events();
    let of_collection = col.events();
    let op = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    let of_op = op.events();
    op.wait(None).unwrap();

    let events: Vec<Event> = of_op.collect();
    let labels: Vec<&str> = events.iter().map(label).collect();
    assert_eq!(labels.first(), Some(&"queued"), "{labels:?}");
    // A subscriber that joins before the operation starts gets a snapshot of its (queued)
    // progress right after the replayed events, before `started`.
    let started = labels.iter().position(|l| *l == "started").unwrap();
    assert!(
        started <= 2 && labels[1..started] == ["progress"][..started - 1],
        "{labels:?}"
    );
    assert_eq!(labels.last(), Some(&"completed"));
    assert_eq!(
        labels.iter().filter(|l| **l == "document_failed").count(),
        1
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    let done: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Progress { progress } => Some(progress.documents_done()),
            _ => None,
        })
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    let EventKind::OperationCompleted { progress } = &events.last().unwrap().kind else {
        unreachable!()
    };
    assert_eq!(
        (progress.documents_indexed(), progress.documents_failed()),
        (40, 1)
    );
    assert_eq!(progress.fraction(), Some(1.0));

    // The collection subscription saw the status go processing -> ready around the operation.
    let col_events: Vec<Event> = std::iter::from_fn(|| of_collection.try_recv()).collect();
    let statuses: Vec<CollectionStatus> = col_events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CollectionStatusChanged { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [CollectionStatus::Processing, CollectionStatus::Ready]
    );
    assert_eq!(
        std::iter::from_fn(|| all.try_recv()).count(),
        col_events.len()
    );

    // A subscriber that joins after the end still gets the recent events, ending with the outcome.
    let late: Vec<Event> = op.events().collect();
    assert_eq!(late.last().map(label), Some("completed"));
}

#[test]
fn late_subscriber_of_a_running_operation_starts_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = slow_db(dir.path(), 20, Config::new());
    let col = slow_collection(&db, "late");
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 30);
    let op = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    while op.progress().documents_done() < 5 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sub = op.events();
    let first: Vec<Event> = std::iter::from_fn(|| sub.try_recv()).collect();
    assert_eq!(
        first.first().map(label),
        Some("queued"),
        "replay starts with the history"
    );
    let EventKind::Progress { progress } = &first.last().unwrap().kind else {
        panic!("last replayed event is the progress snapshot: {first:?}")
    };
    assert!(progress.documents_done() >= 5);
    op.cancel();
    assert!(sub.last().is_some_and(|e| label(&e) == "cancelled"));
}

#[test]
fn cancel_stops_at_a_document_boundary_and_keeps_the_collection_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = slow_db(dir.path(), 15, Config::new());
    let col = slow_collection(&db, "c");
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 200);
    let op = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    let mut sub = op.events();
    // Cancel after the first durable progress with documents in it.
    for e in sub.by_ref() {
        if let EventKind::Progress { progress } = &e.kind
            && progress.documents_done() > 0
        {
            break;
        }
    }
    op.cancel();
    let err = op.wait(Some(Duration::from_secs(30))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert_eq!(op.status(), OperationStatus::Cancelled);
    let done = op.progress().documents_indexed();
    assert!(done > 0 && done < 200, "{done}");
    let stats = col.stats().unwrap();
    assert_eq!(stats.documents, done);
    assert_eq!(stats.chunks, stats.vectors);
    let chunks: u64 = col
        .documents()
        .unwrap()
        .iter()
        .map(|d| u64::from(d.chunk_count))
        .sum();
    assert_eq!(chunks, stats.chunks);
    assert_eq!(col.status().unwrap().0, CollectionStatus::Ready);
    // Retry picks up where it stopped.
    let retry = op.retry().unwrap();
    let info = retry.wait(None).unwrap();
    assert_eq!(info.retry_of, Some(op.id()));
    assert_eq!(info.progress.documents_skipped(), done);
    assert_eq!(col.stats().unwrap().documents, 200);
    assert_eq!(retry.retry().unwrap_err().code(), ErrorCode::InvalidState);
}

#[test]
fn queued_operations_wait_their_turn_per_collection_and_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let db = slow_db(
        dir.path(),
        10,
        Config::new().with_max_concurrent_operations(2),
    );
    let a = slow_collection(&db, "a");
    let b = slow_collection(&db, "b");
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 30);
    let a1 = a.add_source(src.path(), SourceOptions::default()).unwrap();
    let a2 = a.add_texts(["queued behind a1"]).unwrap();
    let a3 = a.add_texts(["cancelled while queued"]).unwrap();
    let b1 = b.add_texts(["runs beside a1"]).unwrap();
    a3.cancel();
    assert_eq!(a3.status(), OperationStatus::Cancelled);
    // b1 runs while a1 still runs: the pool has two workers and b is another collection.
    b1.wait(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(a1.status(), OperationStatus::Processing);
    assert_eq!(a2.status(), OperationStatus::Pending);
    let err = a2.wait(Some(Duration::from_millis(1))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::WaitTimedOut);
    let a2_info = a2.wait(None).unwrap();
    let a1_info = a1.info();
    assert!(
        a1_info.finished_at.unwrap() <= a2_info.started_at.unwrap(),
        "one writer per collection"
    );
    assert_eq!(a.stats().unwrap().documents, 31);
    let cancelled = db
        .operations(OperationFilter::all().with_status(OperationStatus::Cancelled))
        .unwrap();
    assert_eq!(
        cancelled.iter().map(|o| o.id).collect::<Vec<_>>(),
        [a3.id()]
    );
    let of_a = a.operations(OperationFilter::all()).unwrap();
    assert_eq!(of_a.len(), 3);
    assert_eq!(db.operations(OperationFilter::all()).unwrap().len(), 4);
}

#[test]
fn operation_timeout_fails_the_operation_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new().with_operation_timeout(Some(Duration::from_millis(400)));
    let db = slow_db(dir.path(), 20, config);
    let col = slow_collection(&db, "t");
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 200);
    let started = Instant::now();
    let op = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    let err = op.wait(None).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(err.code(), ErrorCode::TimedOut, "{err}");
    assert!(matches!(err, Error::OperationFailed { .. }));
    let info = op.info();
    assert_eq!(info.status, OperationStatus::Failed);
    let (status, message) = col.status().unwrap();
    assert_eq!(status, CollectionStatus::Error);
    assert!(message.unwrap().contains("timed out"));
    let stats = col.stats().unwrap();
    assert_eq!(stats.documents, info.progress.documents_indexed());
    assert!(stats.documents < 200);
}

#[test]
fn close_cancels_queued_and_running_operations_and_reopen_keeps_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = slow_db(
        dir.path(),
        20,
        Config::new().with_max_concurrent_operations(1),
    );
    let col = slow_collection(&db, "x");
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 100);
    let running = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    let queued = col.add_texts(["later"]).unwrap();
    while running.status() == OperationStatus::Pending {
        std::thread::sleep(Duration::from_millis(5));
    }
    db.close().unwrap();
    assert_eq!(running.status(), OperationStatus::Cancelled);
    assert_eq!(queued.status(), OperationStatus::Cancelled);
    assert_eq!(col.info().unwrap_err().code(), ErrorCode::DatabaseClosed);
    let db = crate::common::open(dir.path());
    let ops = db.operations(OperationFilter::all()).unwrap();
    let statuses: HashSet<OperationStatus> = ops.iter().map(|o| o.status).collect();
    assert_eq!(statuses, HashSet::from([OperationStatus::Cancelled]));
}

#[test]
fn searches_run_from_many_threads_while_an_operation_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = slow_db(dir.path(), 2, Config::new());
    let col = slow_collection(&db, "busy");
    col.add_texts(["seed document about files"])
        .unwrap()
        .wait(None)
        .unwrap();
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 120);
    let op = col
        .add_source(src.path(), SourceOptions::default())
        .unwrap();
    let searchers: Vec<_> = (0..4)
        .map(|t| {
            let col = col.clone();
            let op = op.clone();
            std::thread::spawn(move || {
                let mut runs = 0;
                let mut last_chunks = 0;
                while !op.status().is_terminal() || runs < 5 {
                    let hits = col.search("passage about files").limit(5).run().unwrap();
                    assert!(
                        !hits.is_empty(),
                        "thread {t}: the seed document is always there"
                    );
                    // Every hit belongs to an indexed document with that chunk.
                    for h in &hits {
                        let doc = col.document(&h.document_id).unwrap();
                        assert!(h.chunk_index < doc.chunk_count);
                    }
                    let chunks = col.stats().unwrap().chunks;
                    assert!(chunks >= last_chunks, "counts never go back");
                    last_chunks = chunks;
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    op.wait(None).unwrap();
    let runs: usize = searchers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(runs >= 20);
    assert_eq!(col.stats().unwrap().documents, 121);
}

/// An embedder that panics on a marker text, as a buggy user embedder might.
#[derive(Debug)]
struct PanickyEmbedder;

impl semantik_core::Embedder for PanickyEmbedder {
    fn model_name(&self) -> &str {
        "test/panicky-8"
    }
    fn dimension(&self) -> usize {
        8
    }
    fn embed(&self, texts: &[&str]) -> semantik_core::Result<Vec<Vec<f32>>> {
        assert!(!texts.iter().any(|t| t.contains("boom")), "embedder bug");
        Ok(texts.iter().map(|_| vec![0.5; 8]).collect())
    }
}

#[test]
fn a_panicking_embedder_fails_its_operation_not_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(
        dir.path(),
        Config::new().with_operation_timeout(Some(Duration::MAX)),
    )
    .unwrap();
    db.register_embedder(std::sync::Arc::new(PanickyEmbedder));
    let col = db
        .create_collection(CollectionConfig::new("p").with_model("test/panicky-8"))
        .unwrap();
    col.add_texts(["fine"]).unwrap().wait(None).unwrap();
    col.search("fine").run().unwrap();
    let bad = col.add_texts(["boom"]).unwrap();
    let err = bad.wait(Some(Duration::from_secs(30))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err}");
    assert_eq!(col.status().unwrap().0, CollectionStatus::Error);
    // The collection is not left busy, and its index is rebuilt from storage.
    col.add_texts(["also fine"])
        .unwrap()
        .wait(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(col.search("fine").limit(10).run().unwrap().len(), 2);
}

#[test]
fn events_of_an_operation_from_an_earlier_session_end() {
    let (dir, db) = temp_db();
    let col = db.create_collection(text_collection("old")).unwrap();
    let id = col.add_texts(["x"]).unwrap().wait(None).unwrap().id;
    drop(col);
    db.close().unwrap();
    let db = crate::common::open(dir.path());
    let events: Vec<Event> = db.operation(id).unwrap().events().collect();
    assert_eq!(events.iter().map(label).collect::<Vec<_>>(), ["completed"]);
}

//! The vector index through the public API: graph segments built by operations, persisted and
//! reloaded without a rebuild, deletes as tombstones, compaction, churn.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use semantik_core::{Collection, CollectionConfig, IndexConfig, Metric, OperationKind, Phase};

const DIM: usize = 24;

fn unit_vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn config(name: &str, threshold: usize) -> CollectionConfig {
    CollectionConfig::new(name)
        .with_external_vectors(DIM)
        .with_index(IndexConfig::new().with_exact_threshold(threshold))
}

/// Adds `vectors` as documents `v{first + i}`.
fn add(col: &Collection, vectors: &[Vec<f32>], first: usize) -> semantik_core::OperationInfo {
    col.add_vectors(
        (first..first + vectors.len())
            .map(|i| format!("v{i}"))
            .collect(),
        vectors.to_vec(),
        vec![String::new(); vectors.len()],
        Vec::new(),
    )
    .unwrap()
    .wait(None)
    .unwrap()
}

fn row(hit: &semantik_core::Hit) -> usize {
    hit.document_id[1..].parse().unwrap()
}

/// recall@10 of `col` against exact search over `rows` of `all`.
fn recall(col: &Collection, all: &[Vec<f32>], rows: &[usize], queries: &[Vec<f32>]) -> f64 {
    let mut found = 0;
    for q in queries {
        let mut exact: Vec<(f32, usize)> = rows
            .iter()
            .map(|&r| (all[r].iter().zip(q).map(|(a, b)| a * b).sum(), r))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let truth: HashSet<usize> = exact.iter().take(10).map(|e| e.1).collect();
        let hits = col.search_by_vector(q.clone()).limit(10).run().unwrap();
        assert_eq!(hits.len(), 10);
        found += hits.iter().filter(|h| truth.contains(&row(h))).count();
    }
    found as f64 / (queries.len() * 10) as f64
}

#[test]
fn graph_is_built_persisted_and_reloaded_without_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = unit_vectors(1500, 1);
    let queries = unit_vectors(40, 2);
    let rows: Vec<usize> = (0..vectors.len()).collect();
    let (before, stats) = {
        let db = crate::common::open(dir.path());
        let col = db.create_collection(config("g", 500)).unwrap();
        let info = add(&col, &vectors, 0);
        // The operation built the graph and said so in its progress.
        assert_eq!(info.progress.vectors_total(), Some(1500));
        assert_eq!(info.progress.vectors_indexed(), 1500);
        let stats = col.index_stats().unwrap();
        assert_eq!(
            (stats.graph_segments, stats.exact_vectors, stats.vectors),
            (1, 0, 1500)
        );
        assert!(recall(&col, &vectors, &rows, &queries) >= 0.95);
        let before: Vec<Vec<String>> = queries
            .iter()
            .map(|q| {
                let hits = col.search_by_vector(q.clone()).limit(10).run().unwrap();
                hits.into_iter().map(|h| h.document_id).collect()
            })
            .collect();
        (before, stats)
    };
    let db = crate::common::open(dir.path());
    let col = db.collection("g").unwrap();
    // The same graph answers: same segments, nothing left to search exactly, same hits.
    assert_eq!(col.index_stats().unwrap(), stats);
    for (q, expected) in queries.iter().zip(&before) {
        let hits = col.search_by_vector(q.clone()).limit(10).run().unwrap();
        let ids: Vec<String> = hits.into_iter().map(|h| h.document_id).collect();
        assert_eq!(&ids, expected);
    }
    // No operation ran on reopen (no rebuild).
    assert_eq!(col.operations(Default::default()).unwrap().len(), 1);
}

#[test]
fn deletes_are_never_returned_and_compaction_reclaims_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open(dir.path());
    let col = db
        .create_collection(
            config("d", 300).with_index(
                IndexConfig::new()
                    .with_exact_threshold(300)
                    .with_compact_deleted_share(0.25),
            ),
        )
        .unwrap();
    let vectors = unit_vectors(1200, 3);
    let queries = unit_vectors(40, 4);
    add(&col, &vectors, 0);
    // 10%: below the compaction share, so the graph keeps them as tombstones.
    let first: Vec<usize> = (0..1200).step_by(10).collect();
    col.delete_documents(first.iter().map(|r| format!("v{r}")))
        .unwrap()
        .wait(None)
        .unwrap();
    let stats = col.index_stats().unwrap();
    assert_eq!((stats.deleted_vectors, stats.vectors), (120, 1080));
    let deleted: HashSet<usize> = first.iter().copied().collect();
    for v in first.iter().take(20) {
        // A deleted vector's own query returns other documents only.
        let hits = col
            .search_by_vector(vectors[*v].clone())
            .limit(10)
            .run()
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| !deleted.contains(&row(h))));
    }
    let live: Vec<usize> = (0..1200).filter(|r| !deleted.contains(r)).collect();
    assert!(recall(&col, &vectors, &live, &queries) >= 0.95);
    // Another 20% pushes the deleted share past 25%: the same operation compacts.
    let second: Vec<usize> = (1..1200).step_by(5).collect();
    let info = col
        .delete_documents(second.iter().map(|r| format!("v{r}")))
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(info.progress.phase(), Phase::Done);
    assert!(
        info.progress.vectors_total().is_some(),
        "compacted in the delete operation"
    );
    let stats = col.index_stats().unwrap();
    assert_eq!((stats.deleted_vectors, stats.graph_segments), (0, 1));
    let gone: HashSet<usize> = first.iter().chain(&second).copied().collect();
    assert_eq!(stats.vectors, 1200 - gone.len());
    let live: Vec<usize> = (0..1200).filter(|r| !gone.contains(r)).collect();
    assert!(recall(&col, &vectors, &live, &queries) >= 0.95);
    // An explicit compaction is an operation of its own.
    let op = col.compact().unwrap();
    assert_eq!(op.kind(), OperationKind::Compact);
    op.wait(None).unwrap();
    assert_eq!(col.index_stats().unwrap().vectors, live.len());
}

#[test]
fn recall_after_half_churn_matches_a_fresh_build() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open(dir.path());
    let vectors = unit_vectors(3000, 5);
    let queries = unit_vectors(50, 6);
    let churned = db.create_collection(config("churn", 400)).unwrap();
    add(&churned, &vectors[..2000], 0);
    // Delete half, then add as many new ones.
    churned
        .delete_documents((0..2000).step_by(2).map(|r| format!("v{r}")))
        .unwrap()
        .wait(None)
        .unwrap();
    add(&churned, &vectors[2000..3000], 2000);
    let rows: Vec<usize> = (1..2000).step_by(2).chain(2000..3000).collect();
    let fresh = db.create_collection(config("fresh", 400)).unwrap();
    let final_vectors: Vec<Vec<f32>> = rows.iter().map(|&r| vectors[r].clone()).collect();
    fresh
        .add_vectors(
            rows.iter().map(|r| format!("v{r}")).collect(),
            final_vectors,
            vec![String::new(); rows.len()],
            Vec::new(),
        )
        .unwrap()
        .wait(None)
        .unwrap();
    let (c, f) = (
        recall(&churned, &vectors, &rows, &queries),
        recall(&fresh, &vectors, &rows, &queries),
    );
    assert!(c >= f - 0.01, "recall after churn {c}, fresh build {f}");
    assert_eq!(churned.index_stats().unwrap().vectors, 2000);
}

#[test]
fn exact_search_below_the_threshold_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open(dir.path());
    let vectors = unit_vectors(300, 7);
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let name = format!("{metric:?}").to_lowercase();
        let col = db
            .create_collection(
                CollectionConfig::new(&name)
                    .with_external_vectors(DIM)
                    .with_index(IndexConfig::new().with_metric(metric)),
            )
            .unwrap();
        add(&col, &vectors, 0);
        let stats = col.index_stats().unwrap();
        assert_eq!((stats.graph_segments, stats.exact_vectors), (0, 300));
        let hits = col
            .search_by_vector(vectors[17].clone())
            .limit(3)
            .run()
            .unwrap();
        assert_eq!(row(&hits[0]), 17, "{metric:?}");
    }
    let bad = CollectionConfig::new("bad")
        .with_external_vectors(DIM)
        .with_index(IndexConfig::new().with_hnsw(1, 10, 10));
    let e = db.create_collection(bad).unwrap_err();
    assert_eq!(e.code(), semantik_core::ErrorCode::InvalidArgument);
}

#[test]
fn searches_run_while_an_operation_inserts_and_builds() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open(dir.path());
    let col = db.create_collection(config("c", 400)).unwrap();
    let vectors = unit_vectors(2400, 8);
    add(&col, &vectors[..800], 0);
    let op = col
        .add_vectors(
            (800..2400).map(|i| format!("v{i}")).collect(),
            vectors[800..].to_vec(),
            vec![String::new(); 1600],
            Vec::new(),
        )
        .unwrap();
    let searched: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let (col, op, vectors) = (&col, &op, &vectors);
                s.spawn(move || {
                    let mut n = 0;
                    // At least a few searches each, and on until the operation has ended.
                    while n < 20 || !op.status().is_terminal() {
                        let r = (t * 97 + n * 13) % 800;
                        let hits = col
                            .search_by_vector(vectors[r].clone())
                            .limit(10)
                            .run()
                            .unwrap();
                        assert_eq!(hits.len(), 10);
                        // Its own vector comes first, whatever the build is doing.
                        assert_eq!(row(&hits[0]), r);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let info = op.wait(None).unwrap();
    assert!(searched >= 80);
    assert_eq!(info.progress.vectors_total(), Some(1600));
    let stats = col.index_stats().unwrap();
    assert_eq!((stats.vectors, stats.graph_segments), (2400, 2));
}

/// A cancellation that arrives after an operation's outcome committed (here while the index
/// builds the graph segment its vectors call for) neither undoes nor misreports it: the
/// operation is completed, every vector is searchable, and the next operation builds what
/// the cancelled build left.
#[test]
fn a_cancel_after_the_outcome_committed_leaves_the_operation_completed() {
    let (_dir, db) = crate::common::temp_db();
    let col = db.create_collection(config("late-cancel", 500)).unwrap();
    let vectors = unit_vectors(4000, 11);
    let op = col
        .add_vectors(
            (0..vectors.len()).map(|i| format!("v{i}")).collect(),
            vectors.clone(),
            vec![String::new(); vectors.len()],
            Vec::new(),
        )
        .unwrap();
    for event in op.events() {
        if let semantik_core::EventKind::Progress { progress } = &event.kind
            && progress.phase() == Phase::Indexing
        {
            op.cancel();
        }
    }
    let info = op.wait(None).unwrap();
    assert_eq!(info.status, semantik_core::OperationStatus::Completed);
    assert_eq!(info.progress.documents_indexed(), 4000);
    assert_eq!(
        col.info().unwrap().status,
        semantik_core::CollectionStatus::Ready
    );
    let rows: Vec<usize> = (0..vectors.len()).collect();
    let queries = unit_vectors(20, 12);
    assert!(recall(&col, &vectors, &rows, &queries) >= 0.95);
    assert_eq!(col.index_stats().unwrap().vectors, 4000);
    // The next operation (one more vector) builds the segment if the cancel stopped it.
    let more = unit_vectors(1, 13);
    add(&col, &more, 4000);
    let stats = col.index_stats().unwrap();
    assert_eq!(stats.vectors, 4001);
    assert!(
        stats.graph_segments >= 1 && stats.exact_vectors < 500,
        "{stats:?}"
    );
}

/// A stored graph segment that fails its checks when loaded: the search that loaded it answers
/// from its vectors exactly and only reports the damage; the write side marks the collection
/// degraded and queues the compaction that rebuilds the segment.
#[test]
fn a_damaged_segment_is_searched_exactly_and_rebuilt_by_a_queued_compaction() {
    use semantik_core::{CollectionStatus, Config, EventKind, Faults};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let vectors = unit_vectors(300, 7);
    {
        let db = crate::common::open(dir.path());
        let col = db.create_collection(config("c", 50)).unwrap();
        add(&col, &vectors, 0);
        assert_eq!(col.index_stats().unwrap().graph_segments, 1);
        db.close().unwrap();
    }
    let faults = Faults::new();
    faults.damage_index_reads(true);
    let db = crate::common::open_with(dir.path(), Config::new().with_faults(faults.clone()));
    let col = db.collection("c").unwrap();
    let events = col.events();
    let hits = col
        .search_by_vector(vectors[7].clone())
        .limit(3)
        .run()
        .unwrap();
    assert_eq!(row(&hits[0]), 7);
    assert!(faults.injected() > 0, "the segment was read damaged");
    faults.damage_index_reads(false);

    let (mut degraded, mut compacted) = (false, false);
    while !compacted {
        let event = events
            .recv_timeout(Duration::from_secs(60))
            .expect("the repair's events");
        match event.kind {
            EventKind::CollectionStatusChanged {
                status: CollectionStatus::Degraded,
                message,
            } => {
                assert!(message.unwrap().contains("failed their checks"));
                degraded = true;
            }
            EventKind::OperationCompleted { .. } => {
                let op = db.operation(event.operation_id.unwrap()).unwrap();
                assert_eq!(op.kind(), OperationKind::Compact);
                compacted = true;
            }
            _ => {}
        }
    }
    assert!(
        degraded,
        "the collection was degraded before the compaction"
    );
    assert_eq!(col.info().unwrap().status, CollectionStatus::Ready);
    let stats = col.index_stats().unwrap();
    assert_eq!(
        (stats.vectors, stats.graph_segments, stats.exact_vectors),
        (300, 1, 0)
    );
    assert_eq!(
        row(&col
            .search_by_vector(vectors[9].clone())
            .limit(1)
            .run()
            .unwrap()[0]),
        9
    );
    db.close().unwrap();
}

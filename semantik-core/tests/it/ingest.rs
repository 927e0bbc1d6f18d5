//! Ingestion through the public API: append, remove_source and blue/green reindex.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use semantik_core::{
    ChunkingConfig, CollectionConfig, CollectionStatus, ErrorCode, OperationKind, OperationStatus,
    SourceOptions,
};

use crate::common::{SlowEmbedder, temp_db, text_collection, write_passages};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn append_adds_new_replaces_changed_skips_unchanged_and_removes_deleted() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(text_collection("sync")).unwrap();
    let src = tempfile::tempdir().unwrap();
    let kept = tempfile::tempdir().unwrap();
    write_passages(src.path(), 12);
    write(
        &kept.path().join("keep.txt"),
        "a file whose document outlives it",
    );
    col.add_source(src.path(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    let keep_deleted = SourceOptions::new().with_remove_deleted(false);
    col.add_source(kept.path(), keep_deleted.clone())
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(col.stats().unwrap().documents, 13);
    let sources = col.sources().unwrap();
    assert_eq!(sources.len(), 2);
    assert!(sources.iter().any(|(_, o)| *o == keep_deleted));

    // Nothing changed: every file is skipped, none is read again.
    let noop = col.append().unwrap();
    assert_eq!(noop.kind(), OperationKind::Append);
    let noop = noop.wait(None).unwrap();
    assert_eq!(
        (
            noop.progress.documents_indexed(),
            noop.progress.documents_skipped(),
            noop.progress.documents_removed()
        ),
        (0, 13, 0)
    );

    // One new, one changed, one deleted, one touched but unchanged, one deleted elsewhere.
    write(
        &src.path().join("new.txt"),
        "a new note about zeppelin airships",
    );
    let changed = src.path().join("passage-0003.txt");
    write(&changed, "the passage now talks about lighthouse keepers");
    std::fs::remove_file(src.path().join("passage-0007.txt")).unwrap();
    let touched = src.path().join("passage-0005.txt");
    let text = std::fs::read_to_string(&touched).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    write(&touched, &text);
    std::fs::remove_file(kept.path().join("keep.txt")).unwrap();
    let before: HashMap<String, u64> = col
        .documents()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.first_chunk))
        .collect();
    let info = col.append().unwrap().wait(None).unwrap();
    assert_eq!(
        (
            info.progress.documents_indexed(),
            info.progress.documents_skipped(),
            info.progress.documents_removed(),
            info.progress.documents_failed()
        ),
        (2, 10, 1, 0),
        "{:?}",
        info.progress
    );
    let docs = col.documents().unwrap();
    assert_eq!(docs.len(), 13);
    assert!(
        !docs
            .iter()
            .any(|d| d.source.as_ref().unwrap().ends_with("passage-0007.txt"))
    );
    assert!(
        docs.iter()
            .any(|d| d.source.as_ref().unwrap().ends_with("keep.txt")),
        "a source without remove_deleted keeps its documents"
    );
    let changed_doc = docs
        .iter()
        .find(|d| d.source.as_deref() == Some(changed.as_path()))
        .unwrap();
    assert_ne!(before[&changed_doc.id], changed_doc.first_chunk, "replaced");
    let hit = &col.search("lighthouse keepers").limit(1).run().unwrap()[0];
    assert_eq!(hit.source.as_deref(), Some(changed.as_path()));
    assert_eq!(
        col.search("zeppelin airships").limit(1).run().unwrap()[0].text,
        "a new note about zeppelin airships"
    );
    let stats = col.stats().unwrap();
    assert_eq!(stats.documents, 13);
    assert_eq!(stats.chunks, stats.vectors);
    assert_eq!(col.index_stats().unwrap().vectors as u64, stats.vectors);

    // After the touched file's new time was stored, the next append reads nothing.
    let again = col.append().unwrap().wait(None).unwrap();
    assert_eq!(again.progress.documents_skipped(), 12);

    // A moved file keeps its content searchable (its old document goes first).
    let moved = src.path().join("moved/new.txt");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(src.path().join("new.txt"), &moved).unwrap();
    let info = col.append().unwrap().wait(None).unwrap();
    assert_eq!(
        (
            info.progress.documents_indexed(),
            info.progress.documents_removed()
        ),
        (1, 1)
    );
    let hit = &col.search("zeppelin airships").limit(1).run().unwrap()[0];
    assert_eq!(hit.source.as_deref(), Some(moved.as_path()));
}

#[test]
fn remove_source_removes_a_subfolder_atomically_and_forgets_sources_below_it() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(text_collection("rm")).unwrap();
    let src = tempfile::tempdir().unwrap();
    write_passages(&src.path().join("a"), 5);
    for i in 0..4 {
        write(
            &src.path().join(format!("b/note-{i}.txt")),
            &format!("note {i} of folder b, about nothing in folder a"),
        );
    }
    col.add_source(src.path(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    col.add_source(src.path().join("b"), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(col.stats().unwrap().documents, 9);
    let info = col
        .remove_source(src.path().join("b"))
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(info.progress.documents_removed(), 4);
    let stats = col.stats().unwrap();
    assert_eq!((stats.documents, stats.chunks == stats.vectors), (5, true));
    assert_eq!(
        col.sources().unwrap().len(),
        1,
        "b is forgotten, the root stays"
    );
    assert_eq!(
        col.sources().unwrap()[0].1.exclude,
        ["/b"],
        "and excludes b"
    );
    for hit in col.search("passage").limit(50).run().unwrap() {
        assert!(hit.source.unwrap().starts_with(src.path().join("a")));
    }
    // An append of the root does not bring b back.
    let info = col.append().unwrap().wait(None).unwrap();
    assert_eq!(info.progress.documents_indexed(), 0);
    assert_eq!(col.stats().unwrap().documents, 5);
}

#[test]
fn reindex_changes_model_dimension_and_chunking_while_searches_go_on() {
    let (_dir, db) = temp_db();
    db.register_embedder(SlowEmbedder::with_dim(Duration::from_millis(40), 32));
    let old_chunking = ChunkingConfig::characters(100_000, 0);
    let col = db
        .create_collection(text_collection("blue").with_chunking(old_chunking))
        .unwrap();
    let src = tempfile::tempdir().unwrap();
    let files = write_passages(src.path(), 30);
    let texts: HashMap<String, String> = files
        .iter()
        .map(|f| {
            let t = std::fs::read_to_string(f).unwrap();
            (t.trim().to_string(), f.display().to_string())
        })
        .collect();
    col.add_source(src.path(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    let old = col.stats().unwrap();
    assert_eq!(old.chunks, 30, "one chunk per document before");
    let expected_old = col.search("passage").limit(5).run().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (searches, old_gen, new_gen) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let texts = Arc::new(texts);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (col, stop, texts) = (col.clone(), stop.clone(), texts.clone());
            let (searches, old_gen, new_gen) = (searches.clone(), old_gen.clone(), new_gen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let hits = col
                        .search("passage about the index")
                        .limit(8)
                        .run()
                        .unwrap();
                    assert!(!hits.is_empty());
                    // A search sees one generation: whole documents (old) or small chunks (new).
                    let whole = hits.iter().filter(|h| texts.contains_key(&h.text)).count();
                    assert!(whole == 0 || whole == hits.len(), "mixed generations");
                    if whole == 0 {
                        new_gen.fetch_add(1, Ordering::SeqCst)
                    } else {
                        old_gen.fetch_add(1, Ordering::SeqCst)
                    };
                    searches.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let op = col
        .reindex()
        .model("test/slow-32")
        .chunking(ChunkingConfig::new().with_size(8, 2))
        .start()
        .unwrap();
    assert_eq!(op.kind(), OperationKind::Reindex);
    let info = op.wait(Some(Duration::from_secs(300))).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(info.progress.documents_indexed(), 30);
    assert!(
        old_gen.load(Ordering::SeqCst) > 0,
        "searches ran during the reindex"
    );
    assert!(new_gen.load(Ordering::SeqCst) > 0, "and after the swap");
    let conf = col.info().unwrap();
    assert_eq!(conf.dimension(), 32);
    assert_eq!(conf.config.model, "test/slow-32");
    assert_eq!(conf.status, CollectionStatus::Ready);
    let new = col.stats().unwrap();
    assert_eq!(new.documents, 30);
    assert!(new.chunks > 30, "{new:?}");
    assert_eq!(col.index_stats().unwrap().vectors as u64, new.vectors);
    for hit in col.search("passage").limit(10).run().unwrap() {
        assert!(hit.text.split_whitespace().count() <= 8, "{}", hit.text);
    }
    // Searching by vector takes the new dimension; documents keep their ids and sources.
    assert_eq!(
        col.search_by_vector(vec![0.5; 64])
            .run()
            .unwrap_err()
            .code(),
        ErrorCode::DimensionMismatch
    );
    let docs = col.documents().unwrap();
    assert_eq!(docs.len(), 30);
    assert!(docs.iter().all(|d| d.source.is_some()));
    // The collection survives a reopen on the new generation, and appends go there.
    let path = db.path().to_path_buf();
    drop(col);
    db.close().unwrap();
    let db = crate::common::open(&path);
    db.register_embedder(SlowEmbedder::with_dim(Duration::from_millis(1), 32));
    let col = db.collection("blue").unwrap();
    assert_eq!(col.stats().unwrap(), new);
    std::fs::write(
        src.path().join("late.txt"),
        "a late note on lighthouse keepers",
    )
    .unwrap();
    let info = col.append().unwrap().wait(None).unwrap();
    assert_eq!(info.progress.documents_indexed(), 1);
    assert!(!expected_old.is_empty());
    let late = "a late note on lighthouse keepers";
    assert_eq!(col.search(late).limit(1).run().unwrap()[0].text, late);
}

#[test]
fn a_cancelled_reindex_leaves_the_old_generation_serving_as_before() {
    let (_dir, db) = temp_db();
    db.register_embedder(SlowEmbedder::with_dim(Duration::from_millis(60), 32));
    let col = db.create_collection(text_collection("green")).unwrap();
    let src = tempfile::tempdir().unwrap();
    write_passages(src.path(), 40);
    col.add_source(src.path(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    let info_before = col.info().unwrap();
    let hits_before = col.search("passage 12").limit(5).run().unwrap();
    let size_before = db.size_on_disk().unwrap();
    let op = col.reindex().model("test/slow-32").start().unwrap();
    while op.progress().documents_done() < 1 {
        assert!(!op.status().is_terminal(), "{:?}", op.info());
        std::thread::sleep(Duration::from_millis(10));
    }
    op.cancel();
    let err = op.wait(Some(Duration::from_secs(60))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert_eq!(op.status(), OperationStatus::Cancelled);
    let info = col.info().unwrap();
    assert_eq!(info.config, info_before.config);
    assert_eq!(info.stats, info_before.stats);
    assert_eq!(info.status, CollectionStatus::Ready);
    assert_eq!(
        col.search("passage 12").limit(5).run().unwrap(),
        hits_before
    );
    // What the cancelled reindex built is gone (allowing for the database's own bookkeeping).
    let size_after = db.size_on_disk().unwrap();
    assert!(
        size_after < size_before + (4 << 20),
        "{size_before} -> {size_after}"
    );
    // A reindex to the end still works afterwards.
    let retry = op.retry().unwrap().wait(None).unwrap();
    assert_eq!(retry.progress.documents_indexed(), 40);
    assert_eq!(col.info().unwrap().dimension(), 32);
}

#[test]
fn reindex_of_external_vectors_keeps_vectors_and_refuses_a_model() {
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(CollectionConfig::new("ext").with_external_vectors(3))
        .unwrap();
    col.add_vectors(
        vec!["a".into(), "b".into()],
        vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]],
        vec!["first".into(), "second".into()],
        vec![],
    )
    .unwrap()
    .wait(None)
    .unwrap();
    assert_eq!(
        col.reindex()
            .model("semantik-test/hash-64")
            .start()
            .unwrap_err()
            .code(),
        ErrorCode::InvalidState
    );
    let index = semantik_core::IndexConfig::new().with_exact_threshold(1);
    col.reindex()
        .index(index)
        .start()
        .unwrap()
        .wait(None)
        .unwrap();
    let hits = col.search_by_vector(vec![0.1, 0.9, 0.0]).run().unwrap();
    assert_eq!(
        (hits[0].document_id.as_str(), hits[0].text.as_str()),
        ("b", "second")
    );
    assert_eq!(col.info().unwrap().config.index.exact_threshold, 1);
    assert_eq!(col.index_stats().unwrap().graph_segments, 1);
}

/// The repository's fixtures: real files of every format, and malformed ones.
fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

#[test]
fn every_format_of_real_files_is_indexed_and_malformed_files_fail_alone() {
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(CollectionConfig::new("formats"))
        .unwrap();
    let op = col
        .add_source(fixtures(), SourceOptions::default())
        .unwrap();
    let events = op.events();
    let info = op.wait(None).unwrap();
    let mut failed: Vec<(String, u32)> = events
        .filter_map(|e| match e.kind {
            semantik_core::EventKind::DocumentFailed { source, error, .. } => Some((
                Path::new(&source.unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                error.code.as_u32(),
            )),
            _ => None,
        })
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            ("binary.txt".to_string(), 601),
            ("docx-no-document.docx".to_string(), 600),
            ("docx-truncated.docx".to_string(), 600),
            ("email-garbage.eml".to_string(), 601),
            ("pdf-encrypted.pdf".to_string(), 600),
            ("pdf-parent-loop.pdf".to_string(), 600),
            ("pdf-truncated.pdf".to_string(), 600),
        ]
    );
    let files = std::fs::read_dir(fixtures()).unwrap().count() as u64;
    assert_eq!(info.progress.documents_failed(), 7);
    assert_eq!(info.progress.documents_indexed(), files - 7);
    assert_eq!(col.status().unwrap().0, CollectionStatus::Ready);
    let docs = col.documents().unwrap();
    let doc = |name: &str| {
        docs.iter()
            .find(|d| d.source.as_ref().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    for (name, media_type) in [
        ("tools-overview.pdf", "application/pdf"),
        (
            "par-known-styles.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("ham-plain.eml", "message/rfc822"),
        ("python-copy.html", "text/html"),
        ("python-docx-README.md", "text/markdown"),
        ("python-copy.rst.txt", "text/x-rst"),
    ] {
        assert_eq!(doc(name).media_type, media_type, "{name}");
    }
    assert_eq!(
        doc("ham-plain.eml").title.as_deref(),
        Some("FYI - gone this weekend")
    );
    assert_eq!(doc("doc-coreprops.docx").title.as_deref(), Some("Title"));
    let pdf = doc("tools-overview.pdf");
    assert_eq!(pdf.title.as_deref(), Some("LaTeX's Tools Bundle"));
    let pdf_chunks = col.chunks(&pdf.id).unwrap();
    assert!(pdf_chunks.iter().all(|c| c.page.is_some()));
    assert_eq!(pdf_chunks.last().unwrap().page, Some(2), "pages kept");

    // Decoded text is searchable: Latin-1, UTF-16, HTML, PDF and e-mail.
    let top = |q: &str| col.search(q).limit(3).run().unwrap();
    let hits = top("the sqlite3 package wraps the SQLite embedded database");
    assert!(
        hits[0]
            .source
            .as_ref()
            .unwrap()
            .ends_with("whatsnew-2.5-latin1.txt")
    );
    assert!(
        col.search("Häring Lemburg Löwis")
            .limit(20)
            .run()
            .unwrap()
            .iter()
            .any(|h| h.text.contains("Löwis") || h.text.contains("Häring"))
    );
    let hits = top("shallow and deep copy operations");
    let html = hits
        .iter()
        .find(|h| h.source.as_ref().unwrap().ends_with("python-copy.html"))
        .expect("the HTML page answers");
    assert!(
        html.title.as_deref().unwrap().contains("copy"),
        "{:?}",
        html.title
    );
    assert!(!html.headings.is_empty());
    assert!(!html.text.contains("¶") && !html.text.contains('<'));
    let hits = top("what is Unicode and how are code points encoded");
    assert!(hits.iter().any(|h| {
        h.source
            .as_ref()
            .unwrap()
            .to_string_lossy()
            .contains("unicode-howto")
    }));
    let hits = top("Daniel Quinlan is gone this weekend");
    // (email-broken-mime.eml has the same headers.)
    assert!(
        hits.iter()
            .any(|h| h.source.as_ref().unwrap().ends_with("ham-plain.eml"))
    );
    let md = col.chunks(&doc("python-docx-README.md").id).unwrap();
    assert!(md.iter().any(|c| !c.headings.is_empty()));
}

/// A model that fails on every text.
#[derive(Debug)]
struct BrokenEmbedder;

impl semantik_core::Embedder for BrokenEmbedder {
    fn model_name(&self) -> &str {
        "test/broken-16"
    }
    fn dimension(&self) -> usize {
        16
    }
    fn embed(&self, _: &[&str]) -> semantik_core::Result<Vec<Vec<f32>>> {
        Err(semantik_core::Error::Model {
            name: "test/broken-16".into(),
            message: "always fails".into(),
        })
    }
}

#[test]
fn a_reindex_whose_model_fails_every_document_is_refused_and_changes_nothing() {
    let (_dir, db) = temp_db();
    db.register_embedder(Arc::new(BrokenEmbedder));
    let col = db.create_collection(text_collection("keep")).unwrap();
    col.add_texts(["sled stores the data", "candle runs the model"])
        .unwrap()
        .wait(None)
        .unwrap();
    let before = col.info().unwrap();
    let err = col
        .reindex()
        .model("test/broken-16")
        .start()
        .unwrap()
        .wait(None)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed, "{err}");
    let after = col.info().unwrap();
    assert_eq!((after.config, after.stats), (before.config, before.stats));
    assert_eq!(
        col.search("sled stores the data").limit(1).run().unwrap()[0].text,
        "sled stores the data"
    );
}

/// The Python tutorial as reST sources and as HTML pages (the Python 3.11 docs that
/// `scripts/fetch-test-data.sh` fetches): no chunk says less than the minimum (an eighth of
/// the largest chunk, in the model's tokens: words for the test model) unless its document is
/// that short, and no chunk of a reST source shows markup (labels, directives, roles).
#[test]
fn python_docs_chunk_without_fragments_or_markup() {
    let html = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata/html");
    assert!(
        html.is_dir(),
        "the fetched test data is missing: run scripts/fetch-test-data.sh (make test does)"
    );
    let (_dir, db) = temp_db();
    let col = db.create_collection(text_collection("docs")).unwrap();
    for folder in [html.join("_sources/tutorial"), html.join("tutorial")] {
        let info = col
            .add_source(&folder, SourceOptions::default())
            .unwrap()
            .wait(None)
            .unwrap();
        assert!(info.progress.documents_indexed() >= 15, "{info:?}");
    }
    let min = ChunkingConfig::default().max_size / 8;
    let words = |s: &str| s.split_whitespace().count();
    let (mut checked, mut rst) = (0, 0);
    for doc in col.documents().unwrap() {
        let text = col.text(&doc.id).unwrap();
        let short = words(&text) < min;
        for chunk in col.chunks(&doc.id).unwrap() {
            // What the chunk says: its text as embedded and shown, without markup.
            let size = words(&chunk.text);
            assert!(
                short || size >= min,
                "{}: chunk {} has {size} words: {:?}",
                doc.id,
                chunk.index,
                chunk.text
            );
            if doc.media_type == "text/x-rst" {
                rst += 1;
                for markup in [".. _", ".. index::", ":term:`", ":func:`", ":ref:`", "``"] {
                    assert!(
                        !chunk.text.contains(markup),
                        "{}: {markup} in {:?}",
                        doc.id,
                        chunk.text
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked > 200 && rst > 100,
        "{checked} chunks, {rst} of reST"
    );
    db.close().unwrap();
}

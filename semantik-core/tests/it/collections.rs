//! Collections, documents, limits and bad input.

use semantik_core::{
    CollectionConfig, CollectionStatus, Config, Database, DocumentInput, DocumentStatus, Error,
    ErrorCode, Metadata, OperationStatus, SourceOptions,
};

use crate::common::{TEST_MODEL, real_source_dir, temp_db, text_collection};

#[test]
fn create_list_get_rename_update_delete() {
    let (dir, db) = temp_db();
    let a = db
        .create_collection(text_collection("alpha").with_description("first"))
        .unwrap();
    let b = db
        .create_collection(CollectionConfig::new("beta").with_external_vectors(3))
        .unwrap();
    let info = a.info().unwrap();
    assert_eq!(info.name(), "alpha");
    assert_eq!(info.dimension(), 64);
    assert_eq!(info.status, CollectionStatus::Pending);
    assert!(info.created_at <= info.updated_at);
    let names: Vec<String> = db
        .collections()
        .unwrap()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(db.collection("beta").unwrap().id(), b.id());
    assert_eq!(
        db.collection_by_id(a.id()).unwrap().name().unwrap(),
        "alpha"
    );

    // Names are unique, also on rename.
    let err = db.create_collection(text_collection("alpha")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CollectionExists);
    assert_eq!(
        a.rename("beta").unwrap_err().code(),
        ErrorCode::CollectionExists
    );
    a.rename("gamma").unwrap();
    assert_eq!(
        db.collection("alpha").unwrap_err().code(),
        ErrorCode::CollectionNotFound
    );
    assert_eq!(db.collection("gamma").unwrap().id(), a.id());

    let mut meta = Metadata::new();
    meta.insert("team".into(), "search".into());
    a.set_description("renamed").unwrap();
    a.set_metadata(meta.clone()).unwrap();
    let info = a.info().unwrap();
    assert_eq!(info.config.description, "renamed");
    assert_eq!(info.config.metadata, meta);

    // Everything survives a reopen.
    db.close().unwrap();
    let db = crate::common::open(dir.path());
    let g = db.collection("gamma").unwrap();
    assert_eq!(g.info().unwrap().config.metadata, meta);

    // Delete runs as an operation; the name is free afterwards.
    let op = db.delete_collection("gamma").unwrap();
    assert_eq!(op.wait(None).unwrap().status, OperationStatus::Completed);
    assert_eq!(g.info().unwrap_err().code(), ErrorCode::CollectionNotFound);
    assert_eq!(db.collections().unwrap().len(), 1);
    db.create_collection(text_collection("gamma")).unwrap();
}

#[test]
fn bad_names_dimensions_and_models_are_typed_errors() {
    let (_dir, db) = temp_db();
    for name in ["", " x", "a/b", &"n".repeat(129)] {
        assert_eq!(
            db.create_collection(text_collection(name))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidName
        );
    }
    let err = db
        .create_collection(
            CollectionConfig::new("m")
                .with_model(TEST_MODEL)
                .with_dimension(10),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::DimensionMismatch {
            expected: 64,
            got: 10
        }
    ));
    let err = db
        .create_collection(
            CollectionConfig::new("m")
                .with_model("sentence-transformers/all-MiniLM-L6-v2")
                .with_dimension(768),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DimensionMismatch);
    let err = db
        .create_collection(CollectionConfig::new("m").with_model("nobody/no-model"))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    let mut ext = CollectionConfig::new("m").with_external_vectors(3);
    ext.dimension = None;
    assert_eq!(
        db.create_collection(ext).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    let chunking = semantik_core::ChunkingConfig::new().with_size(4, 0);
    let err = db
        .create_collection(text_collection("m").with_chunking(chunking))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(db.collections().unwrap().is_empty(), "nothing half-created");

    let col = db.create_collection(text_collection("ok")).unwrap();
    assert_eq!(
        col.add_source("/no/such/path", SourceOptions::default())
            .unwrap_err()
            .code(),
        ErrorCode::PathNotFound
    );
    assert_eq!(
        col.document("nope").unwrap_err().code(),
        ErrorCode::DocumentNotFound
    );
    let err = col
        .add_vectors(
            vec!["a".into()],
            vec![vec![0.0; 64]],
            vec!["t".into()],
            vec![],
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
    let err = col
        .add_texts([
            DocumentInput::new("x").with_id("d"),
            DocumentInput::new("y").with_id("d"),
        ])
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let bogus: semantik_core::OperationId = "0190c2a8-7e4c-7000-8000-000000000000".parse().unwrap();
    assert_eq!(
        db.operation(bogus).unwrap_err().code(),
        ErrorCode::OperationNotFound
    );
}

#[test]
fn limits_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new()
        .with_max_collections(2)
        .with_max_collection_bytes(Some(30))
        .with_default_collection_name("main");
    let db = crate::common::open_with(dir.path(), config);
    let main = db.default_collection().unwrap();
    assert_eq!(main.name().unwrap(), "main");
    assert_eq!(db.default_collection().unwrap().id(), main.id());
    let small = db.create_collection(text_collection("small")).unwrap();
    let err = db.create_collection(text_collection("third")).unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { max: 2, .. }), "{err}");

    // 20 + 20 bytes > 30: the second document fails alone with a typed error.
    let op = small
        .add_texts(["twenty bytes of text", "another twenty bytes"])
        .unwrap();
    let info = op.wait(None).unwrap();
    assert_eq!(info.progress.documents_indexed(), 1);
    assert_eq!(info.progress.documents_failed(), 1);
    let failed: Vec<_> = small
        .documents()
        .unwrap()
        .into_iter()
        .filter(|d| d.status == DocumentStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].error.as_ref().unwrap().code,
        ErrorCode::LimitExceeded
    );
    assert_eq!(small.stats().unwrap().source_bytes, 20);
}

#[test]
fn directory_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Database::open(dir.path()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotADatabase);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
    let file = dir.path().join("notes.txt");
    assert_eq!(
        Database::open(&file).unwrap_err().code(),
        ErrorCode::NotADatabase
    );
}

#[test]
fn documents_dedupe_replace_and_search() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(text_collection("docs")).unwrap();
    let mut meta = Metadata::new();
    meta.insert("lang".into(), "en".into());
    let op = col
        .add_texts([
            DocumentInput::new("The sled crate is an embedded key value store")
                .with_metadata(meta.clone()),
            DocumentInput::new("Rayon makes data parallelism easy"),
            DocumentInput::new("The sled crate is an embedded key value store"),
        ])
        .unwrap();
    let info = op.wait(None).unwrap();
    assert_eq!(
        (
            info.progress.documents_indexed(),
            info.progress.documents_skipped()
        ),
        (2, 1)
    );
    // Same content again: a no-op.
    let again = col
        .add_texts(["Rayon makes data parallelism easy"])
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(again.progress.documents_skipped(), 1);
    let stats = col.stats().unwrap();
    assert_eq!((stats.documents, stats.chunks, stats.vectors), (2, 2, 2));
    assert!(stats.bytes_on_disk > 0);

    let hits = col
        .search("embedded key value store")
        .limit(1)
        .run()
        .unwrap();
    assert_eq!(
        hits[0].text,
        "The sled crate is an embedded key value store"
    );
    assert_eq!(hits[0].metadata, meta);
    let doc = col.document(&hits[0].document_id).unwrap();
    assert_eq!(doc.status, DocumentStatus::Indexed);
    assert_eq!(
        doc.content_hash,
        blake3::hash(b"The sled crate is an embedded key value store")
            .to_hex()
            .to_string()
    );

    // An explicit id replaces its document.
    col.add_texts([DocumentInput::new("version one").with_id("v")])
        .unwrap()
        .wait(None)
        .unwrap();
    col.add_texts([DocumentInput::new("version two").with_id("v")])
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(col.document("v").unwrap().size, 11);
    let hits = col.search("version").limit(10).run().unwrap();
    assert_eq!(hits.iter().filter(|h| h.document_id == "v").count(), 1);
    assert_eq!(col.stats().unwrap().documents, 3);
    assert_eq!(col.documents().unwrap().len(), 3);
}

#[test]
fn external_vectors_round_trip() {
    let (dir, db) = temp_db();
    let col = db
        .create_collection(CollectionConfig::new("ext").with_external_vectors(3))
        .unwrap();
    let err = col
        .add_vectors(
            vec!["a".into()],
            vec![vec![1.0, 0.0]],
            vec!["a".into()],
            vec![],
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::DimensionMismatch {
            expected: 3,
            got: 2
        }
    ));
    let err = col
        .add_vectors(
            vec!["a".into()],
            vec![vec![f32::NAN, 0.0, 0.0]],
            vec!["a".into()],
            vec![],
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    col.add_vectors(
        vec!["x".into(), "y".into(), "z".into()],
        vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.7, 0.7, 0.0],
        ],
        vec!["ex".into(), "why".into(), "zed".into()],
        vec![],
    )
    .unwrap()
    .wait(None)
    .unwrap();
    assert_eq!(
        col.search("text").run().unwrap_err().code(),
        ErrorCode::InvalidState
    );
    assert_eq!(
        col.search_by_vector(vec![1.0]).run().unwrap_err().code(),
        ErrorCode::DimensionMismatch
    );
    let hits = col
        .search_by_vector(vec![0.9, 0.1, 0.0])
        .limit(2)
        .run()
        .unwrap();
    assert_eq!(
        hits.iter()
            .map(|h| h.document_id.as_str())
            .collect::<Vec<_>>(),
        ["x", "z"]
    );
    drop(col);
    db.close().unwrap();
    // The index is rebuilt from stored vectors after a reopen.
    let db = crate::common::open(dir.path());
    let col = db.collection("ext").unwrap();
    let hits = col
        .search_by_vector(vec![0.0, 2.0, 0.0])
        .limit(1)
        .run()
        .unwrap();
    assert_eq!(hits[0].document_id, "y");
    assert!((hits[0].score - 1.0).abs() < 1e-6);
}

#[test]
fn real_folder_with_malformed_files_fails_only_those() {
    let (_dir, db) = temp_db();
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("binary.txt"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let broken = extra.path().join("broken.pdf");
    std::fs::write(&broken, b"%PDF-1.4\n1 0 obj << /Type /Catalog").unwrap();
    std::fs::write(
        extra.path().join("good.txt"),
        "A good document about zeppelin airships.",
    )
    .unwrap();
    std::fs::write(extra.path().join(".hidden.txt"), "hidden files are skipped").unwrap();
    let col = db.create_collection(text_collection("src")).unwrap();
    let op = col
        .add_source(real_source_dir(), SourceOptions::default())
        .unwrap();
    assert_eq!(op.kind(), semantik_core::OperationKind::Index);
    let first = op.wait(None).unwrap();
    assert!(
        first.progress.documents_indexed() >= 15,
        "{:?}",
        first.progress
    );
    assert_eq!(first.progress.documents_failed(), 0);
    let op = col
        .add_source(extra.path(), SourceOptions::default())
        .unwrap();
    assert_eq!(op.kind(), semantik_core::OperationKind::Append);
    let info = op.wait(None).unwrap();
    assert_eq!(info.progress.documents_total(), Some(3));
    assert_eq!(
        (
            info.progress.documents_indexed(),
            info.progress.documents_failed()
        ),
        (1, 2)
    );
    let docs = col.documents().unwrap();
    let failed: Vec<_> = docs
        .iter()
        .filter(|d| d.status == DocumentStatus::Failed)
        .collect();
    let mut codes: Vec<u32> = failed
        .iter()
        .map(|d| d.error.as_ref().unwrap().code.as_u32())
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [600, 601]);
    assert_eq!(col.status().unwrap().0, CollectionStatus::Ready);
    let hit = &col.search("zeppelin airships").limit(1).run().unwrap()[0];
    assert!(hit.source.as_ref().unwrap().ends_with("good.txt"));

    // Fix one file and retry only the failed documents.
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ltnews18.pdf"),
        &broken,
    )
    .unwrap();
    let retry = col.retry_failed_documents().unwrap().wait(None).unwrap();
    assert_eq!(
        (
            retry.progress.documents_indexed(),
            retry.progress.documents_failed()
        ),
        (1, 1)
    );
    let stats = col.stats().unwrap();
    assert_eq!(stats.failed_documents, 1);

    // Unchanged files are skipped on a second add.
    let again = col
        .add_source(real_source_dir(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(
        again.progress.documents_skipped(),
        first.progress.documents_indexed()
    );

    // Remove the extra folder's documents.
    let before = col.stats().unwrap().documents;
    let rm = col.remove_source(extra.path()).unwrap().wait(None).unwrap();
    assert_eq!(rm.progress.documents_done(), 3);
    let stats = col.stats().unwrap();
    assert_eq!(stats.documents, before - 2);
    assert_eq!(stats.failed_documents, 0);
    assert!(
        col.documents().unwrap().iter().all(|d| !d
            .source
            .as_ref()
            .unwrap()
            .starts_with(extra.path()))
    );
}

#[test]
fn a_file_name_that_is_not_utf8_fails_alone_and_a_deleted_folder_can_be_removed() {
    use std::os::unix::ffi::OsStrExt;
    let (_dir, db) = temp_db();
    let col = db.create_collection(text_collection("names")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("notes");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("fine.txt"), "a note about gardening").unwrap();
    let odd = folder.join(std::ffi::OsStr::from_bytes(b"odd-\xff.txt"));
    std::fs::write(&odd, "a note with an odd name").unwrap();
    let info = col
        .add_source(&folder, SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!(
        (
            info.progress.documents_indexed(),
            info.progress.documents_failed()
        ),
        (1, 1)
    );

    // The folder disappears; its documents can still be removed by its (now missing) path.
    std::fs::remove_dir_all(&folder).unwrap();
    let rm = col.remove_source(&folder).unwrap().wait(None).unwrap();
    assert_eq!(rm.progress.documents_removed(), 1);
    assert_eq!(col.stats().unwrap().documents, 0);
}

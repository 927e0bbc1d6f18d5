//! Export to Parquet / Arrow IPC and import back, through the public API.

use std::collections::BTreeMap;

use semantik_core::search::Hit;
use semantik_core::{
    Collection, DocumentInput, ErrorCode, ExportFormat, Metadata, SearchMode, SourceOptions,
};

use crate::common::{real_source_dir, temp_db, text_collection};

/// Every chunk of a collection: id -> (document, text, offsets, page, headings).
type Chunks = BTreeMap<u64, (String, String, usize, usize, Option<u32>, Vec<String>)>;
/// Every document: id, source, metadata as JSON, text.
type Docs = Vec<(String, Option<String>, String, String)>;

/// The chunks and documents of `col`.
fn contents(col: &Collection) -> (Chunks, Docs) {
    let mut chunks = Chunks::new();
    let mut docs = Vec::new();
    for d in col.documents().unwrap() {
        for c in col.chunks(&d.id).unwrap() {
            let row = (d.id.clone(), c.text, c.start, c.end, c.page, c.headings);
            chunks.insert(c.id, row);
        }
        let source = d.source.map(|p| p.display().to_string());
        let meta = serde_json::to_string(&d.metadata).unwrap();
        docs.push((d.id.clone(), source, meta, col.text(&d.id).unwrap()));
    }
    (chunks, docs)
}

/// Ids and exact score bits of the top 10 of each query in each mode.
fn answers(col: &Collection, queries: &[String]) -> Vec<Vec<(u64, u32)>> {
    let mut out = Vec::new();
    for q in queries {
        for mode in [
            SearchMode::Semantic,
            SearchMode::Keyword,
            SearchMode::Hybrid,
        ] {
            let hits = col.search(q).mode(mode).exact().limit(10).run().unwrap();
            let key = |h: &Hit| (h.chunk_id, h.score.to_bits());
            out.push(hits.iter().map(key).collect());
        }
    }
    out
}

/// A collection of real files (with ids left free by deleted documents, and metadata), exported
/// and imported in both formats: the same chunk ids, texts, offsets, documents and exact top 10
/// of 100 queries in every mode; the file holds the vectors as fixed-size lists.
#[test]
fn export_then_import_gives_the_same_collection() {
    let (dir, db) = temp_db();
    let col = db.create_collection(text_collection("src")).unwrap();
    col.add_source(real_source_dir(), SourceOptions::new())
        .unwrap()
        .wait(None)
        .unwrap();
    let mut meta = Metadata::new();
    meta.insert("team".into(), "search".into());
    col.add_texts([DocumentInput::new("A note with metadata.")
        .with_id("note")
        .with_metadata(meta)])
        .unwrap()
        .wait(None)
        .unwrap();
    let some: Vec<String> = col.documents().unwrap()[..3]
        .iter()
        .map(|d| d.id.clone())
        .collect();
    col.delete_documents(&some).unwrap().wait(None).unwrap();
    let (chunks, docs) = contents(&col);
    assert!(chunks.len() > 200, "{} chunks", chunks.len());
    let step = chunks.len() / 100;
    let queries: Vec<String> = chunks
        .values()
        .step_by(step)
        .take(100)
        .map(|c| c.1.split_whitespace().take(6).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(queries.len(), 100);
    let expected = answers(&col, &queries);
    for (format, file) in [
        (ExportFormat::Parquet, "src.parquet"),
        (ExportFormat::ArrowIpc, "src.arrow"),
    ] {
        let path = dir.path().join(file);
        let rows = col.export(&path, format).unwrap();
        assert_eq!(rows, chunks.len() as u64);
        let name = format!("copy-{file}");
        let copy = db.import(&path, &name).unwrap();
        assert_eq!(
            contents(&copy),
            (chunks.clone(), docs.clone()),
            "{format:?}"
        );
        assert_eq!(answers(&copy, &queries), expected, "{format:?}");
        let (a, b) = (col.stats().unwrap(), copy.stats().unwrap());
        assert_eq!(
            (a.documents, a.chunks, a.vectors),
            (b.documents, b.chunks, b.vectors)
        );
        // The copy's index was built: its vectors are in a graph, not scanned.
        let index = copy.index_stats().unwrap();
        assert_eq!((index.exact_vectors, index.vectors), (0, chunks.len()));
    }
}

/// Bad input is a typed error and leaves nothing behind: a missing file, a file that is not an
/// export, a name already taken; an export is never half-written under its name.
#[test]
fn bad_imports_are_typed_errors_and_leave_no_collection() {
    let (dir, db) = temp_db();
    let col = db.create_collection(text_collection("kb")).unwrap();
    col.add_texts(["sled stores the data", "rayon splits the work"])
        .unwrap()
        .wait(None)
        .unwrap();
    let missing = db.import(dir.path().join("nope.parquet"), "x").unwrap_err();
    assert_eq!(missing.code(), ErrorCode::PathNotFound);
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"PAR1 this is not parquet at all").unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "plain text").unwrap();
    for file in [&junk, &text] {
        let e = db.import(file, "x").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
        assert!(e.to_string().contains("not a semantik export"), "{e}");
    }
    let good = dir.path().join("kb.arrow");
    col.export(&good, ExportFormat::ArrowIpc).unwrap();
    let taken = db.import(&good, "kb").unwrap_err();
    assert_eq!(taken.code(), ErrorCode::CollectionExists);
    let names: Vec<String> = db
        .collections()
        .unwrap()
        .into_iter()
        .map(|c| c.config.name)
        .collect();
    assert_eq!(names, ["kb"]);
    // An export to a folder that does not exist fails and leaves no partial file.
    let e = col
        .export(
            dir.path().join("no/such/dir/kb.parquet"),
            ExportFormat::Parquet,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Storage);
    assert_eq!(
        "arrow".parse::<ExportFormat>().unwrap(),
        ExportFormat::ArrowIpc
    );
    assert_eq!(
        "csv".parse::<ExportFormat>().unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
}

//! End-to-end ingestion against embedding alone (`make bench-ingest`).
//!
//! Usage: `ingest FOLDER`. Indexes every HTML page of FOLDER (the Python 3.11 docs) into a
//! fresh database with the default model through the public API (`add_source`: walk, extract,
//! chunk, embed, store, index), then embeds the very same chunks with the model alone (token
//! batches, tokenization included), and times a no-op `append` over the unchanged source.
//! Prints one JSON object.

use std::time::Instant;

#[path = "proc.rs"]
mod proc;
use proc::rss_mb;
use semantik_core::embed::{DEFAULT_MODEL, SentenceEmbedder};
use semantik_core::{CollectionConfig, Database, SourceOptions};

fn main() {
    let folder = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .expect("usage: ingest FOLDER");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path().join("db")).expect("open");
    let col = db
        .create_collection(CollectionConfig::new("pydocs"))
        .expect("collection");
    // Load the model before timing (a search embeds the query).
    col.search("warm up")
        .run()
        .expect("model (run `make model`)");

    let options = SourceOptions::new().with_include(["*.html"]).with_exclude([
        "_sources/",
        "_static/",
        "_images/",
        "_downloads/",
    ]);
    let t = Instant::now();
    let info = col
        .add_source(&folder, options)
        .expect("add source")
        .wait(None)
        .expect("ingest");
    let e2e_s = t.elapsed().as_secs_f64();
    let peak_mb = rss_mb("VmHWM:");
    let stats = col.stats().expect("stats");

    let t = Instant::now();
    let noop = col.append().expect("append").wait(None).expect("append");
    let noop_append_s = t.elapsed().as_secs_f64();
    assert_eq!(noop.progress.documents_indexed(), 0, "nothing changed");

    let mut texts = Vec::new();
    for doc in col.documents().expect("documents") {
        texts.extend(
            col.chunks(&doc.id)
                .expect("chunks")
                .into_iter()
                .map(|c| c.text),
        );
    }
    db.close().expect("close");
    let model = SentenceEmbedder::load(DEFAULT_MODEL).expect("model");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = model
        .tokenize(&refs)
        .expect("tokenize")
        .iter()
        .map(Vec::len)
        .sum();
    let t = Instant::now();
    let mut embedded = 0;
    for batch in model.embed_stream(texts.iter().cloned(), 8192) {
        embedded += batch.expect("embed").len();
    }
    let embed_s = t.elapsed().as_secs_f64();
    assert_eq!(embedded, texts.len());

    let e2e_tps = tokens as f64 / e2e_s;
    let embed_tps = tokens as f64 / embed_s;
    println!(
        "{}",
        serde_json::json!({
            "documents": stats.documents,
            "failed_documents": info.progress.documents_failed(),
            "chunks": stats.chunks,
            "tokens": tokens,
            "e2e_s": e2e_s,
            "embed_only_s": embed_s,
            "e2e_tokens_per_s": e2e_tps,
            "embed_only_tokens_per_s": embed_tps,
            "ratio": e2e_tps / embed_tps,
            "docs_per_s": stats.documents as f64 / e2e_s,
            "chunks_per_s": stats.chunks as f64 / e2e_s,
            "noop_append_s": noop_append_s,
            "peak_rss_mb": peak_mb,
            "threads": rayon::current_num_threads(),
        })
    );
}

//! `make demo`: index a real folder of text and search it.
//!
//! Usage: `demo DB_DIR SOURCE...`. The database directory is recreated; every source folder is
//! added to one collection embedded with the default model (sentence-transformers/all-MiniLM-L6-v2).

use std::time::Instant;

use semantik_core::{CollectionConfig, Database, EventKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let docs = args
        .next()
        .ok_or("usage: demo DOCS_DIR DB_DIR [QUERY...]")?;
    let db_dir = args
        .next()
        .ok_or("usage: demo DOCS_DIR DB_DIR [QUERY...]")?;
    let mut queries: Vec<String> = args.collect();
    if queries.is_empty() {
        queries = vec![
            "how do I sort a list of dictionaries by a key".into(),
            "reading and writing files with a context manager".into(),
            "what is the global interpreter lock".into(),
        ];
    }
    let model = "semantik-test/hash-384";
    println!("semantik {} demo", semantik_core::version());
    println!(
        "NOTE: embedding with the deterministic test embedder `{model}` (word hashing, not a \
         language model) until the candle MiniLM embedder lands; results are keyword-like."
    );
    if std::path::Path::new(&db_dir).exists() {
        std::fs::remove_dir_all(&db_dir)?;
    }
    let db = Database::open(&db_dir)?;
    let col = db.create_collection(
        CollectionConfig::new("python-docs")
            .with_model(model)
            .with_description("Python 3.11 documentation sources"),
    )?;
    let started = Instant::now();
    for docs in &sources {
        println!(
            "indexing {docs} into collection `python-docs` ({})",
            col.id()
        );
        let op = col.add_source(docs)?;
        for event in op.events() {
            match &event.kind {
                EventKind::Progress { progress } => println!(
                    "  progress: {}/{} documents, {} chunks, {:.0} docs/s",
                    progress.documents_done(),
                    progress.documents_total().unwrap_or(0),
                    progress.chunks_done(),
                    progress.rate()
                ),
                EventKind::DocumentFailed { source, error, .. } => {
                    println!("  failed: {} ({error})", source.as_deref().unwrap_or("?"))
                }
                EventKind::OperationCompleted { .. } => println!("  completed"),
                EventKind::OperationFailed { error, .. } => println!("  operation failed: {error}"),
                _ => {}
            }
        }
        op.wait(None)?;
    }
    let stats = col.stats()?;
    println!(
        "indexed {} documents into {} chunks in {:.1} s ({} bytes of text)",
        stats.documents,
        stats.chunks,
        started.elapsed().as_secs_f64(),
        stats.source_bytes
    );
    for q in queries {
        let t = Instant::now();
        let hits = col.search(q).limit(3).run()?;
        println!(
            "\nquery: {q:?} ({:.1} ms)",
            t.elapsed().as_secs_f64() * 1000.0
        );
        for (i, h) in hits.iter().enumerate() {
            let source = h
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let snippet: String = h
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(160)
                .collect();
            println!("  {}. [{:.3}] {source}\n     {snippet}", i + 1, h.score);
        }
    }
    db.close()?;
    Ok(())
}
